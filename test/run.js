#!/usr/bin/env node
'use strict';
// Runs each test file in its own process (a crash is then a reported failure, not the end of the run)
// and closes with the line CI reads: `N passed, N failed`.
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const only = process.argv.slice(2);
const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js') && (!only.length || only.some((o) => f.includes(o)))).sort();

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, file)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('close', (code, signal) => {
      const pass = Number((out.match(/^# pass\s+(\d+)/m) || [])[1] || 0);
      let fail = Number((out.match(/^# fail\s+(\d+)/m) || [])[1] || 0);
      if ((code !== 0 || signal) && fail === 0) {
        console.log(`not ok - ${file} exited with ${signal || code} before reporting a failure`);
        fail = 1;
      }
      console.log(`# ${file}: ${pass} passed, ${fail} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      resolve({ pass, fail });
    });
  });
}

(async () => {
  let pass = 0;
  let fail = 0;
  for (const f of files) {
    const r = await runFile(f);
    pass += r.pass;
    fail += r.fail;
  }
  console.log(`${pass} passed, ${fail} failed`);
  process.exitCode = fail > 0 || pass === 0 ? 1 : 0;
})();
