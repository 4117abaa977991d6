'use strict';
// The published package as a user gets it: npm pack, then npm install of the tarball in a fresh folder with
// recording stand-ins for every compiler first on PATH. The prebuild must load there with no compiler run,
// from CommonJS, ESM and TypeScript; a hidden LibTorch, a mismatched prebuild and a missing one must each
// give the loader's one clear error; and `invdiff rebuild` must then build an addon that works.
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-package-'));
const app = path.join(dir, 'app');
const installed = path.join(app, 'node_modules', 'invdiff');
const fakebin = path.join(dir, 'fakebin');
const compilerLog = path.join(dir, 'compilers.log');
const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'cmake', 'make', 'ninja', 'node-gyp'];

// PATH with the recording compilers first: each notes its call and fails.
fs.mkdirSync(fakebin);
for (const c of COMPILERS) fs.writeFileSync(path.join(fakebin, c), `#!/bin/sh\necho "${c} $*" >> ${JSON.stringify(compilerLog)}\nexit 1\n`, { mode: 0o755 });
const recordingEnv = { ...process.env, PATH: `${fakebin}:${process.env.PATH}` };
const compilersRun = () => (fs.existsSync(compilerLog) ? fs.readFileSync(compilerLog, 'utf8').trim() : '');

const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: app, encoding: 'utf8', env: recordingEnv, ...opts });
const node = (args, opts) => sh(process.execPath, args, opts);

// A user's script: reconstructs a dead-leaves image with the shipped 30% IDM, and says which addon file it loaded.
const RECONSTRUCT = `
  const x = inv.deadLeaves({ count: 1, size: 64, seed: 2, minRadius: 4 });
  const A = inv.operators.create('blockCS', { imageShape: [1, 64, 64], ratio: 0.3, seed: 5 });
  const y = A.forward(x);
  const xHat = inv.models.IDM.pretrained(30).reconstruct(A, y);
  const addon = (require('fs').readFileSync('/proc/self/maps', 'utf8').match(/\\s(\\/\\S*invdiff\\.node)\\n/) || [])[1];
  console.log(JSON.stringify({ idm: inv.metrics.psnr(xHat, x), pinv: inv.metrics.psnr(A.pinv(y), x), addon, cuda: inv.backend().cuda }));`;

let tarball;

test('npm pack: the package holds the prebuild, the sources a rebuild needs, and nothing else', (t) => {
  const prebuild = spawnSync(process.execPath, [path.join(root, 'scripts', 'prebuild')], { cwd: root, encoding: 'utf8' });
  t.equal(prebuild.status, 0, `scripts/prebuild: ${(prebuild.stdout + prebuild.stderr).trim().split('\n').pop()}`);
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
  t.equal(pack.status, 0, 'npm pack succeeds');
  const [info] = JSON.parse(pack.stdout);
  tarball = path.join(dir, info.filename);
  const files = info.files.map((f) => f.path);
  console.log(`# tarball ${info.filename}: ${(info.size / 1e6).toFixed(2)} MB packed, ${(info.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${files.length} files`);
  t.ok(files.includes('prebuilds/linux-x64-gnu-libtorch1.13/invdiff.node') && files.includes('prebuilds/linux-x64-gnu-libtorch1.13/invdiff.json'), 'the prebuild and its invdiff.json are in it');
  for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/cli/bin.js', 'CMakeLists.txt', 'native/binding.gyp', 'native/sources.json', 'scripts/build-addon.js', 'models/idm-cs30.safetensors'])
    t.ok(files.includes(f), `${f} is in it`);
  const stray = files.filter((f) => /^(test|bench|build|build-prebuild|native\/test|node_modules|demo-output|docs|lib)\/|\.(o|a|map|tmp-\w+)$|checkpoint|\.\.|shared/.test(f));
  t.deepEqual(stray, [], 'no tests, test data, build intermediates, TypeScript sources, source maps or ../shared content');
  t.notOk(files.includes('binding.gyp'), 'no binding.gyp at the root, for which npm would run node-gyp by itself');
  t.ok(info.size < 10e6, `it stays small: ${(info.size / 1e6).toFixed(2)} MB`);
  const meta = JSON.parse(fs.readFileSync(path.join(root, 'prebuilds', 'linux-x64-gnu-libtorch1.13', 'invdiff.json'), 'utf8'));
  t.ok(meta.libtorch.version.startsWith('1.13') && meta.libtorch.cxx11Abi === true && meta.napi === 8, `invdiff.json records LibTorch ${meta.libtorch.version}, its ABI and Node-API ${meta.napi}`);
  const readelf = spawnSync('readelf', ['-d', path.join(root, 'prebuilds', meta.name, 'invdiff.node')], { encoding: 'utf8' });
  if (readelf.status === 0) {
    const runpath = (readelf.stdout.match(/R(?:UN)?PATH.*\[(.*)\]/) || [])[1];
    t.equal(runpath, '$ORIGIN', 'its only rpath is $ORIGIN: nothing of the machine that built it');
  }
  t.end();
});

test('npm install of the tarball in a fresh project runs no compiler, and npm rebuild does not either', (t) => {
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', private: true }));
  const install = sh('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball]);
  t.equal(install.status, 0, `npm install succeeds${install.status ? `: ${install.stderr.slice(-1500)}` : ''}`);
  // npm rebuild runs the package's install scripts, and node-gyp by itself for a binding.gyp without "gypfile": false.
  const rebuild = sh('npm', ['rebuild', 'invdiff', '--foreground-scripts']);
  t.equal(rebuild.status, 0, 'npm rebuild invdiff succeeds');
  t.equal(compilersRun(), '', 'no compiler, cmake, make or node-gyp was called');
  t.notOk(fs.existsSync(path.join(installed, 'build')), 'and nothing was built in the package');
  t.end();
});

test('CommonJS and ESM scripts reconstruct an image with a shipped checkpoint, on the prebuild', (t) => {
  fs.writeFileSync(path.join(app, 'cjs.js'), `const inv = require('invdiff');${RECONSTRUCT}`);
  fs.writeFileSync(path.join(app, 'esm.mjs'), `import * as inv from 'invdiff';\nimport { createRequire } from 'module';\nconst require = createRequire(import.meta.url);${RECONSTRUCT}\n` +
    `if (require('invdiff').Tensor !== inv.Tensor) throw new Error('ESM and CommonJS see two copies');`);
  for (const file of ['cjs.js', 'esm.mjs']) {
    const r = node([file]);
    t.equal(r.status, 0, `${file} runs${r.status ? `: ${r.stderr.slice(-800)}` : ''}`);
    if (r.status !== 0) continue;
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    t.ok(out.idm > out.pinv + 3, `${file}: IDM ${out.idm.toFixed(2)} dB beats A⁺y ${out.pinv.toFixed(2)} dB`);
    t.equal(path.relative(installed, out.addon), 'prebuilds/linux-x64-gnu-libtorch1.13/invdiff.node', `${file} loaded the prebuild`);
    if (!require(path.join(root, 'scripts', 'torch-config.js')).findLibTorch().cuda) t.equal(out.cuda, false, `${file}: backend().cuda is false on a CPU LibTorch`);
  }
  t.equal(compilersRun(), '', 'still no compiler');
  t.end();
});

test('npx invdiff doctor reports the prebuild it loaded, the BLAS, threads and CUDA', (t) => {
  const r = sh('npx', ['--no-install', 'invdiff', 'doctor']);
  t.equal(r.status, 0, 'doctor exits 0');
  t.match(r.stdout, /prebuilds\/linux-x64-gnu-libtorch1\.13\/invdiff\.node \(prebuild, linux-x64-gnu-libtorch1\.13\): loaded/, 'the prebuild loaded');
  t.match(r.stdout, /LibTorch 1\.13\.\d+ from libtorch-dev/, 'on Debian\'s LibTorch');
  t.match(r.stdout, /BLAS: OpenBLAS, \S+/, 'with OpenBLAS (the bootstrap installs libopenblas0-pthread)');
  t.match(r.stdout, /threads: \d+/, 'the thread count');
  const libtorch = require(path.join(root, 'scripts', 'torch-config.js')).findLibTorch();
  if (!libtorch.cuda) t.match(r.stdout, /CUDA: not available \(a CPU-only LibTorch\)/, 'and no CUDA with a CPU LibTorch');
  const json = JSON.parse(sh('npx', ['--no-install', 'invdiff', 'doctor', '--json']).stdout);
  t.equal(json.loaded, true, 'doctor --json says it loaded');
  t.equal(json.backend.cuda, libtorch.cuda, `backend().cuda is ${libtorch.cuda}, as the LibTorch found`);
  t.end();
});

test('tsc compiles TypeScript against the installed types, as CommonJS and as ESM, and the README\'s examples', (t) => {
  const use = `const x: inv.Tensor = inv.randn([1, 1, 32, 32], { seed: 1 });
const A = inv.operators.create('blockCS', { imageShape: [1, 32, 32], ratio: 0.3 });
const psnr: number = inv.metrics.psnr(A.pinv(A.forward(x)), x);
export const facts: { psnr: number; cuda: boolean } = { psnr, cuda: inv.backend().cuda };
`;
  fs.writeFileSync(path.join(app, 'use.ts'), `import * as inv from 'invdiff';\n${use}`);
  fs.writeFileSync(path.join(app, 'use.mts'), `import * as inv from 'invdiff';\n${use}`);
  // The README's examples, as a user's ES modules (top-level await).
  const readme = [...fs.readFileSync(path.join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  readme.forEach((text, i) => fs.writeFileSync(path.join(app, `readme-${i}.mts`), text));
  fs.writeFileSync(path.join(app, 'wrong.ts'), "import * as inv from 'invdiff';\nexport const n: number = inv.zeros([2]);\n");
  const tsc = (file) => node([require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
    '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), file]);
  t.ok(readme.length >= 2, `the README has ${readme.length} TypeScript examples`);
  for (const file of ['use.ts', 'use.mts', ...readme.map((_, i) => `readme-${i}.mts`)]) {
    const r = tsc(file);
    t.equal(r.status, 0, `${file} compiles${r.status ? `: ${r.stdout.slice(0, 1500)}` : ''}`);
  }
  const wrong = tsc('wrong.ts');
  t.notEqual(wrong.status, 0, 'and a type error against them is reported');
  t.match(wrong.stdout, /Type 'Tensor' is not assignable to type 'number'/, wrong.stdout.trim().split('\n')[0]);
  t.end();
});

test('publint and arethetypeswrong find no problem in the package', (t) => {
  const bin = (name) => path.join(root, 'node_modules', '.bin', name);
  const publint = sh(bin('publint'), ['--strict', '--pack', 'false', installed]);
  t.equal(publint.status, 0, `publint --strict: ${(publint.stdout + publint.stderr).trim().split('\n').pop()}`);
  t.doesNotMatch(publint.stdout, /Suggestions|Warnings|Errors/, 'not even a suggestion');
  const attw = sh(bin('attw'), ['--format', 'ascii', tarball], { env: { ...recordingEnv, NO_COLOR: '1' } });
  t.equal(attw.status, 0, `attw: ${attw.stdout.includes('No problems found') ? 'no problems found' : attw.stdout.slice(-1500)}`);
  // "invdiff" resolves for every resolution mode, to CommonJS types from require and ESM types from import.
  const main = attw.stdout.split('"invdiff"')[1]?.split('***')[0] ?? '';
  for (const line of ['node10: 🟢', 'node16 (from CJS): 🟢 (CJS)', 'node16 (from ESM): 🟢 (ESM)', 'bundler: 🟢']) t.ok(main.includes(line), line);
  t.end();
});

// The loader's error: one message naming what was tried, with the fix; an exit, not a crash.
function requireFails(t, env, what) {
  const r = node(['-e', "require('invdiff')"], { env: { ...recordingEnv, ...env } });
  t.equal(r.signal, null, `${what}: no crash`);
  t.equal(r.status, 1, `${what}: require throws`);
  t.match(r.stderr, /invdiff: the native addon could not be loaded\.\n/, `${what}: the loader's message`);
  t.doesNotMatch(r.stderr, /diagnosis:/, `${what}: the message, not the diagnosis object`);
  return r.stderr;
}

test('with LibTorch hidden, require and import throw the clear error, and doctor says what to do', (t) => {
  const env = { INVDIFF_HIDE_LIBTORCH: '1' };
  const err = requireFails(t, env, 'hidden LibTorch');
  t.match(err, /LibTorch: not found/, 'it says LibTorch was not found');
  t.match(err, /prebuilds\/linux-x64-gnu-libtorch1\.13\/invdiff\.node \(prebuild, linux-x64-gnu-libtorch1\.13\): needs LibTorch 1\.13 \(libc10\.so\.1\.13, libtorch_cpu\.so\.1\.13\), and none was found/, 'and why the prebuild was not loaded');
  t.match(err, /apt-get install libtorch1\.13 libopenblas0-pthread/, 'the Debian package the prebuild is for');
  t.match(err, /LIBTORCH=\/path\/to\/libtorch npx invdiff rebuild/, 'and the command for your own LibTorch');
  const esm = node(['--input-type=module', '-e', "import('invdiff').catch((e) => { console.error(e.message); process.exit(3); })"], { env: { ...recordingEnv, ...env } });
  t.equal(esm.status, 3, 'import() rejects');
  t.match(esm.stderr, /the native addon could not be loaded/, 'with the same message');
  const doctor = sh('npx', ['--no-install', 'invdiff', 'doctor'], { env: { ...recordingEnv, ...env } });
  t.equal(doctor.status, 1, 'npx invdiff doctor exits 1');
  t.match(doctor.stdout, /LibTorch: not found[\s\S]*To fix it:/, 'and prints the diagnosis with the fix');
  t.end();
});

test('a prebuild that does not fit this system is not loaded, and the error says why', (t) => {
  const metaFile = path.join(installed, 'prebuilds', 'linux-x64-gnu-libtorch1.13', 'invdiff.json');
  const original = fs.readFileSync(metaFile, 'utf8');
  const cases = [
    [(m) => (m.needs.glibc = '2.99'), /needs glibc 2\.99 or newer; this system has glibc 2\.\d+/, 'glibc too old'],
    [(m) => (m.needs.glibcxx = '3.4.99'), /needs a libstdc\+\+ with GLIBCXX_3\.4\.99; \S+ has up to GLIBCXX_3\.4\.\d+ \(too old\)/, 'libstdc++ too old'],
    [(m) => (m.libtorch.version = '2.6.0'), /built for LibTorch 2\.6; the LibTorch found \(libtorch-dev, \S+\) is 1\.13/, 'LibTorch version'],
    [(m) => (m.libtorch.cxx11Abi = false), /built for LibTorch's pre-C\+\+11 ABI; the LibTorch found \(libtorch-dev, \S+\) has the C\+\+11 ABI/, 'LibTorch ABI'],
    [(m) => (m.needs.libraries = ['libtorch_cpu.so.9.9']), /needs libtorch_cpu\.so\.9\.9, which \S+ does not have/, 'a missing libtorch*.so'],
  ];
  try {
    for (const [edit, reason, what] of cases) {
      const meta = JSON.parse(original);
      edit(meta);
      fs.writeFileSync(metaFile, JSON.stringify(meta));
      const err = requireFails(t, {}, what);
      t.match(err, reason, `${what}: ${(err.match(reason) || ['(not said)'])[0]}`);
      t.match(err, /npx invdiff rebuild/, `${what}: the fix is a rebuild against the LibTorch found`);
    }
  } finally {
    fs.writeFileSync(metaFile, original);
  }
  t.end();
});

test('with the prebuild removed, the error says to rebuild; invdiff rebuild builds the same addon, which works', (t) => {
  fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
  const err = requireFails(t, {}, 'no prebuild');
  t.match(err, /build\/Release\/invdiff\.node \(local build\): not built/, 'it tried the local build');
  t.match(err, /To fix it:\n {2}npx invdiff rebuild/, 'and says to run npx invdiff rebuild');
  const started = Date.now();
  const rebuild = sh('npx', ['--no-install', 'invdiff', 'rebuild'], { env: process.env });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  t.equal(rebuild.status, 0, `npx invdiff rebuild succeeds (${seconds} s)${rebuild.status ? `: ${(rebuild.stdout + rebuild.stderr).slice(-2000)}` : ''}`);
  t.match(rebuild.stdout, /the rebuilt addon loads, LibTorch 1\.13/, 'and checks that the addon loads');
  const meta = JSON.parse(fs.readFileSync(path.join(installed, 'build', 'Release', 'invdiff.json'), 'utf8'));
  const shipped = JSON.parse(fs.readFileSync(path.join(root, 'prebuilds', 'linux-x64-gnu-libtorch1.13', 'invdiff.json'), 'utf8'));
  t.equal(meta.sha256, shipped.sha256, 'the addon built from the installed package is the prebuild, byte for byte (a reproducible build)');
  const r = node(['cjs.js']);
  t.equal(r.status, 0, 'the CommonJS script runs on it');
  if (r.status === 0) t.equal(path.relative(installed, JSON.parse(r.stdout.trim().split('\n').pop()).addon), 'build/Release/invdiff.node', 'from build/Release');
  t.end();
});

test.onFinish(() => fs.rmSync(dir, { recursive: true, force: true }));
