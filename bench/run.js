#!/usr/bin/env node
'use strict';
// The benchmark report (npm run bench): every workload of bench/workloads.js timed on three sides, TS here,
// the core alone (bench/native, built on first use with CMake into build/native-bench) and PyTorch's Python
// API on the same LibTorch (bench/python_side.py), taking turns round by round (TS, native, Python, TS, …)
// so that the machine's drift hits all three alike; medians with their range, and the ratios TS/native and
// TS/Python. Writes report.md, report.json and ratios.png into the results folder.
//   node bench/run.js [--quick] [--rounds N] [--out DIR] [--only TEXT] [--no-build] [--workloads]
//   --quick       tiny workloads, 3 rounds of ~20 ms: a smoke test of the whole report
//   --only TEXT   the workloads whose name contains TEXT
//   --no-build    use build/native-bench/invdiff_bench only if it is already built (else no native column)
//   --workloads   print the workloads as the native program reads them, and stop
//                 (node bench/run.js --workloads | build/native-bench/invdiff_bench --rounds 5)
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const inv = require('..');
const { workloads, lineOf } = require('./workloads');
const { tsSide } = require('./ts_side');

const root = path.resolve(__dirname, '..');
const PYTHON = '/usr/bin/python3'; // Debian's python3-torch belongs to this interpreter, not to one earlier on PATH
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const quick = flag('--quick');
const rounds = Number(option('--rounds', quick ? 3 : 5));
const targetMs = quick ? 20 : 100;
const outDir = path.resolve(option('--out', path.join(root, 'bench', 'results')));
const threads = Number(process.env.INVDIFF_NUM_THREADS ?? 1);
if (!(Number.isInteger(rounds) && rounds > 0)) throw new Error(`bench: --rounds must be a positive integer, got '${option('--rounds')}'`);

// The native program, configured and built on first use (ccache makes rebuilds of the core cheap).
function nativeProgram() {
  const dir = path.join(root, 'build', 'native-bench');
  const exe = path.join(dir, 'invdiff_bench');
  if (flag('--no-build')) return fs.existsSync(exe) ? { exe } : { why: 'not built (--no-build)' };
  const env = { ...process.env, CCACHE_BASEDIR: root, CCACHE_NOHASHDIR: '1' };
  const steps = [
    ['cmake', ['-S', root, '-B', dir, '-DINVDIFF_NATIVE_BENCH=ON', '-DCMAKE_BUILD_TYPE=Release']],
    ['cmake', ['--build', dir, '--target', 'invdiff_bench', '--parallel', String(os.availableParallelism?.() ?? 2)]],
  ];
  for (const [cmd, args] of steps) {
    console.log(`bench: $ ${cmd} ${args.join(' ')}`);
    const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) return { why: `'${cmd} ${args.join(' ')}' failed (exit ${r.status ?? r.error?.message})` };
  }
  return { exe };
}

// A side in another process: its first line says what it runs on; then one line in (a workload), one out (a round).
function startSide(cmd, args, env) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.resolve(JSON.parse(line)));
  child.on('exit', (code) => waiting.splice(0).forEach((w) => w.reject(new Error(`${path.basename(cmd)} exited with ${code}`))));
  child.on('error', (err) => waiting.splice(0).forEach((w) => w.reject(err)));
  const next = () => new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  const hello = next();
  return {
    hello,
    round(line) {
      const answer = next();
      child.stdin.write(`${line}\n`);
      return answer;
    },
    close: () => child.stdin.end(),
  };
}

function summary(values) {
  const ms = values.map((v) => v.ms).sort((a, b) => a - b);
  const peaks = values.map((v) => v.peakBytes).filter(Number.isFinite);
  const gflop = values.find((v) => Number.isFinite(v.gflop))?.gflop ?? null;
  return { medianMs: ms[ms.length >> 1], minMs: ms[0], maxMs: ms[ms.length - 1], rounds: ms.length, peakBytes: peaks.length ? Math.max(...peaks) : null, gflop };
}

// Why a side has no column at all (not built, no PyTorch).
const sideMissing = {};

// Round by round: a side that answers {skipped} or {error} once is left out of the workload's later rounds.
async function measure(w, sides, tmp) {
  const ts = tsSide(w, tmp, targetMs);
  const line = lineOf(w, ts.file ?? w.file);
  const times = { ts: [], native: [], python: [] };
  const notes = {};
  try {
    for (let r = 0; r < rounds; r++) {
      times.ts.push(ts.round());
      for (const [name, side] of Object.entries(sides)) {
        if (!side || notes[name]) continue;
        const answer = await side.round(line);
        if (answer.ms === undefined) notes[name] = answer.skipped ?? `error: ${answer.error}`;
        else times[name].push(answer);
      }
    }
  } finally {
    ts.dispose();
  }
  const row = { name: w.name, workload: line, note: w.note };
  for (const name of ['ts', 'native', 'python']) row[name] = times[name].length ? summary(times[name]) : { skipped: notes[name] ?? sideMissing[name] };
  row.tsOverNative = row.native.medianMs ? row.ts.medianMs / row.native.medianMs : null;
  row.tsOverPython = row.python.medianMs ? row.ts.medianMs / row.python.medianMs : null;
  return row;
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toPrecision(3));
const cell = (s) => (s.medianMs === undefined ? '–' : `${fmt(s.medianMs)} (${fmt(s.minMs)}–${fmt(s.maxMs)})`);
const ratio = (r) => (r === null ? '–' : r.toFixed(2));
const mib = (s) => (Number.isFinite(s.peakBytes) ? (s.peakBytes / 2 ** 20).toFixed(1) : '–');

function markdown(report) {
  const m = report.machine;
  const load = `load average ${m.loadAverage.start.map((v) => v.toFixed(2)).join(' ')} at the start, ${m.loadAverage.end.map((v) => v.toFixed(2)).join(' ')} at the end`;
  const out = [
    `# invdiff benchmark report${report.quick ? ' (--quick)' : ''}`,
    '',
    `${report.date}, commit ${report.commit ?? 'unknown'}. ${m.cpu} × ${m.cores}, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${load}. ` +
      `${report.threads} thread(s) per side; LibTorch ${report.libtorch} (TS, native), PyTorch ${report.python?.torch ?? '–'} (Python); Node ${report.node}. ` +
      `${report.rounds} rounds per workload, the sides interleaved; milliseconds per call, median (min–max); peak memory is the CPU bytes allocated above those live before the round.`,
    '',
    '| workload | TS ms | native ms | Python ms | TS/native | TS/Python | peak MiB TS | peak MiB native |',
    '|---|---|---|---|---|---|---|---|',
    ...report.rows.map((r) => `| ${r.name}${r.note ? ` (${r.note})` : ''} | ${cell(r.ts)} | ${cell(r.native)} | ${cell(r.python)} | ${ratio(r.tsOverNative)} | ${ratio(r.tsOverPython)} | ${mib(r.ts)} | ${mib(r.native)} |`),
    '',
  ];
  const skipped = [...new Set(report.rows.flatMap((r) => ['native', 'python'].map((s) => r[s].skipped && `${s}: ${r[s].skipped}`)).filter(Boolean))];
  if (skipped.length) out.push('Columns left empty:', '', ...skipped.map((s) => `- ${s}`), '');
  const gemm = report.rows.find((r) => r.workload.startsWith('matmul'));
  if (gemm) {
    const n = Number(gemm.workload.match(/\bn=(\d+)/)[1]);
    const peak = (2 * n ** 3) / (gemm.native.medianMs ?? gemm.ts.medianMs) / 1e6;
    out.push(`Matrix-product throughput (matmul ${n}², ${gemm.native.medianMs ? 'native' : 'TS'}): ${peak.toFixed(1)} GFLOP/s${report.blas ? ` (${report.blas})` : ''}.`, '');
    // The work of each GEMM-heavy call, counted by PyTorch's profiler on the Python side (a training step as
    // three forwards), over each side's median time, beside that throughput.
    const heavy = report.rows.filter((r) => Number.isFinite(r.python.gflop));
    if (heavy.length) {
      const rate = (s, g) => (s.medianMs ? g / (s.medianMs / 1e3) : NaN);
      const show = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} (${((100 * v) / peak).toFixed(0)}%)` : '–');
      out.push('GFLOP/s of the GEMM-heavy workloads (share of the matmul throughput):', '', '| workload | GFLOP per call | TS | native | Python |', '|---|---|---|---|---|');
      for (const r of heavy) out.push(`| ${r.name} | ${r.python.gflop.toPrecision(3)} | ${show(rate(r.ts, r.python.gflop))} | ${show(rate(r.native, r.python.gflop))} | ${show(rate(r.python, r.python.gflop))} |`);
      out.push('');
    }
  }
  return out.join('\n');
}

async function main() {
  const list = workloads({ quick }).filter((w) => !option('--only') || w.name.includes(option('--only')));
  if (flag('--workloads')) return list.forEach((w) => console.log(lineOf(w)));
  inv.setNumThreads(threads);
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-bench-'));
  const loadStart = os.loadavg();
  const sides = {};
  const native = nativeProgram();
  if (native.exe) sides.native = startSide(native.exe, ['--serve', '--target-ms', String(targetMs)], { INVDIFF_NUM_THREADS: String(threads) });
  else sideMissing.native = native.why;
  if (fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
    // The allocator policy the addon sets (native/core/memory.cpp), so both sides reuse freed blocks alike.
    const env = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };
    sides.python = startSide(PYTHON, [path.join(__dirname, 'python_side.py'), String(threads), String(targetMs)], env);
  } else {
    sideMissing.python = 'PyTorch for /usr/bin/python3 is missing (Debian: apt-get install python3-torch)';
  }
  const hello = {};
  for (const [name, side] of Object.entries(sides)) hello[name] = await side.hello;
  const rows = [];
  for (const w of list) {
    const row = await measure(w, sides, tmp);
    console.log(`bench: ${row.name}: TS ${cell(row.ts)} ms, native ${cell(row.native)}, Python ${cell(row.python)}; TS/native ${ratio(row.tsOverNative)}, TS/Python ${ratio(row.tsOverPython)}`);
    rows.push(row);
  }
  Object.values(sides).forEach((s) => s.close());
  fs.rmSync(tmp, { recursive: true, force: true });
  const cpus = os.cpus();
  const backend = inv.backend();
  const report = {
    date: new Date().toISOString(),
    commit: git(['rev-parse', 'HEAD']),
    dirty: Boolean(git(['status', '--porcelain', '--untracked-files=no'])),
    quick,
    rounds,
    threads,
    libtorch: backend.torch,
    blas: backend.blasCore ? `OpenBLAS, ${backend.blasCore} kernels, ${backend.blasThreads} thread(s)` : null,
    native: hello.native ?? null,
    python: hello.python ?? null,
    node: process.version,
    machine: { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryBytes: os.totalmem(), platform: `${os.platform()} ${os.release()}`, loadAverage: { start: loadStart, end: os.loadavg() } },
    rows,
  };
  fs.writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'report.md'), markdown(report));
  const ratios = [['TS/native', 'tsOverNative'], ['TS/Python', 'tsOverPython']].map(([name, k]) => ({ name, values: rows.map((r) => r[k] ?? NaN) }));
  if (ratios.some((b) => b.values.some(Number.isFinite))) {
    await inv.io.writeBarChart(path.join(outDir, 'ratios.png'), rows.map((r) => r.name), ratios, { title: `invdiff: time ratios (${threads} thread(s), lower is faster for TS)`, xLabel: 'ratio of medians', reference: 1 });
  }
  console.log(`bench: wrote ${path.relative(process.cwd(), outDir) || '.'}/report.md, report.json, ratios.png`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
