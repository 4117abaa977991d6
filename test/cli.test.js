'use strict';
// The command line, and every compiled module loaded on its own (an import cycle once broke the CLI while
// everything loaded through the index worked).
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const cli = (...args) => spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8' });

test('invdiff info, help and errors', (t) => {
  const info = cli('info');
  t.equal(info.status, 0, 'info exits 0');
  t.match(info.stdout, /invdiff on LibTorch \d+\.\d+/, info.stdout.split('\n')[0]);
  const json = JSON.parse(cli('info', '--json').stdout);
  t.ok(json.torch && typeof json.cuda === 'boolean' && json.modules.includes('mlp'), 'info --json has backend facts');
  t.equal(cli('--help').status, 0, '--help exits 0');
  const direct = spawnSync(path.join(root, 'dist', 'cli.js'), ['info'], { encoding: 'utf8' });
  t.equal(direct.status, 0, 'dist/cli.js runs as an executable (npx invdiff)');
  const bad = cli('nonsense');
  t.equal(bad.status, 2, 'an unknown command exits 2');
  t.match(bad.stderr, /unknown command 'nonsense'/);
  t.end();
});

test('every compiled module loads first, on its own', (t) => {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && e.name !== 'cli.js' && e.name !== 'demo.js') files.push(p);
    }
  };
  walk(path.join(root, 'dist'));
  const failures = files.filter((f) => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(f)})`], { encoding: 'utf8' }).status !== 0);
  t.deepEqual(failures.map((f) => path.relative(root, f)), [], `${files.length} modules load as the first require`);
  t.end();
});
