'use strict';
// What the compile checks (check-libtorch2, check-cuda) share: compilers run a few at a time, each
// translation unit's stderr kept, and one report ending in "N passed, N failed" (exit code 1 on a failure).
const { spawn } = require('child_process');

/** Runs each { tool, args, file, label, env } in batches of `parallel`; resolves to { ...job, ok, err } per job. */
async function compileAll(jobs, parallel, cwd) {
  const one = (job) => new Promise((resolve) => {
    const child = spawn(job.tool, [...job.args, job.file], { cwd, env: job.env ?? process.env });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => resolve({ ...job, ok: code === 0, err }));
  });
  const results = [];
  for (let i = 0; i < jobs.length; i += parallel) results.push(...(await Promise.all(jobs.slice(i, i + parallel).map(one))));
  return results;
}

/** Prints a line per result (note(r) adds to a passing one) with a failure's error lines, then the totals. */
function report(results, note = () => '') {
  for (const r of results) {
    const errors = r.ok ? '' : `\n${r.err.split('\n').filter((l) => /error|fatal/.test(l)).slice(0, 10).join('\n') || r.err.slice(-2000)}`;
    console.log(`${r.ok ? 'ok' : 'FAILED'}  ${r.file}${r.label ? `  [${r.label}]` : ''}${r.ok ? note(r) : errors}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

module.exports = { compileAll, report };
