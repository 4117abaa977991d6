'use strict';
// The benchmark report in its quick mode writes its three files with the fields a reader needs: no timing
// is asserted, only that every time it reports is a finite positive number of milliseconds. The native
// column is checked where build/native-bench is already built (npm run bench builds it; this test does not).
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

test('npm run bench --quick writes report.md, report.json and ratios.png', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-bench-test-'));
  const r = spawnSync(process.execPath, [path.join(root, 'bench', 'run.js'), '--quick', '--no-build', '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, INVDIFF_NUM_THREADS: '1' },
    timeout: 240_000,
  });
  t.equal(r.status, 0, 'the report runs to the end');
  if (r.status !== 0) console.log(r.stdout.slice(-2000), r.stderr.slice(-2000));
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  for (const key of ['date', 'commit', 'libtorch', 'threads', 'rounds', 'machine']) t.ok(report[key] !== undefined && report[key] !== null, `report.json has ${key}`);
  t.ok(report.machine.cores > 0 && report.machine.loadAverage.start.length === 3, 'the machine and its load are recorded');
  t.ok(report.rows.length >= 8, `${report.rows.length} workloads`);
  const kinds = new Set(report.rows.map((row) => row.workload.split(' ')[0]));
  for (const kind of ['add', 'operator', 'idm', 'prior', 'heun', 'ddnm', 'invfussion']) t.ok(kinds.has(kind), `a ${kind} workload`);
  const positive = (s) => Number.isFinite(s.medianMs) && s.minMs > 0 && s.minMs <= s.medianMs && s.medianMs <= s.maxMs;
  t.ok(report.rows.every((row) => positive(row.ts) && row.ts.rounds === report.rounds), 'every TS time is finite and positive, min ≤ median ≤ max');
  const timed = (side) => report.rows.filter((row) => !row[side].skipped);
  for (const side of ['native', 'python']) {
    t.ok(timed(side).every((row) => positive(row[side])), `every ${side} time is finite and positive (${timed(side).length} timed)`);
    t.ok(report.rows.every((row) => row[side].skipped || row[side].medianMs), `${side}: each workload is timed or says why not`);
  }
  const native = path.join(root, 'build', 'native-bench', 'invdiff_bench');
  if (fs.existsSync(native)) t.equal(timed('native').length, report.rows.length, 'the native program times every workload');
  // bench/reference has every workload's model (InvFussion's since hdit.py), so the Python side skips none.
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
    t.equal(timed('python').length, report.rows.length, 'the Python side times every workload');
    // The work of the GEMM-heavy calls, counted by PyTorch's profiler: a matmul's is 2n³.
    const heavy = report.rows.filter((row) => ['matmul', 'mlp', 'idm', 'prior', 'heun', 'ddnm', 'invfussion'].includes(row.workload.split(' ')[0]));
    t.ok(heavy.length >= 6 && heavy.every((row) => row.python.gflop > 0), `GFLOP counted for the ${heavy.length} GEMM-heavy workloads`);
    t.ok(report.rows.filter((row) => row.workload.startsWith('operator')).every((row) => row.python.gflop === null), 'and for no operator row');
    const mm = report.rows.find((row) => row.workload.startsWith('matmul'));
    const n = Number(mm.workload.match(/\bn=(\d+)/)[1]);
    t.ok(Math.abs(mm.python.gflop - (2 * n ** 3) / 1e9) < 1e-9, `matmul ${n}²: ${mm.python.gflop} GFLOP = 2n³`);
    t.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /GFLOP\/s of the GEMM-heavy workloads/, 'report.md gives their throughput');
  }
  t.ok(report.rows.filter((row) => row.tsOverPython !== null).every((row) => row.tsOverPython > 0), 'TS/Python ratios are positive');
  const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  t.match(md, /\| workload \| TS ms \| native ms \| Python ms \| TS\/native \| TS\/Python \|/, 'report.md has the table');
  t.ok(report.rows.every((row) => md.includes(row.name)), 'with a row per workload');
  if (timed('native').length + timed('python').length) {
    const png = fs.readFileSync(path.join(out, 'ratios.png'));
    t.equal(png.subarray(1, 4).toString(), 'PNG', 'ratios.png is a PNG');
  }
  fs.rmSync(out, { recursive: true, force: true });
  t.end();
});
