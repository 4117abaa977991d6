'use strict';
// The README's TypeScript examples must compile and run as written.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const blocks = [...fs.readFileSync(path.join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

// Runs one example in a fresh directory; returns what it printed and the directory.
async function run(t, source) {
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 }, reportDiagnostics: true, fileName: 'readme.ts' });
  t.equal((js.diagnostics || []).length, 0, 'it transpiles');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-readme-'));
  const cwd = process.cwd();
  process.chdir(dir); // examples write files
  const log = console.log;
  const printed = [];
  console.log = (...args) => printed.push(args);
  try {
    const requireShim = (name) => (name === 'invdiff' ? require(root) : require(name));
    // CommonJS output wrapped in an async function, so top-level await works.
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    await new AsyncFunction('require', 'exports', js.outputText)(requireShim, {});
  } finally {
    console.log = log;
    process.chdir(cwd);
  }
  return { printed, dir };
}

test('the README tensor example runs', async (t) => {
  t.ok(blocks.length >= 2, 'README has its ts examples');
  const { printed, dir } = await run(t, blocks[0]);
  t.deepEqual(printed[0].slice(0, 2), [[4, 1, 32, 32], 'float32'], 'it prints the blurred shape and dtype');
  t.ok(fs.existsSync(path.join(dir, 'net.safetensors')), 'it saves the checkpoint');
  fs.rmSync(dir, { recursive: true });
});

test('the README restoration example runs with the shipped checkpoint', async (t) => {
  const { printed, dir } = await run(t, blocks[1]);
  const [label, idm, , pinv] = printed[0];
  t.equal(label, 'PSNR', 'it prints PSNRs');
  t.ok(idm > pinv + 3, `IDM (${idm.toFixed(2)} dB) beats A⁺y (${pinv.toFixed(2)} dB) by more than 3 dB`);
  t.ok(fs.existsSync(path.join(dir, 'restored.png')), 'it writes the restored image');
  const [name, ddnm, , nfe, , residual] = printed[1];
  t.equal(name, 'DDNM', 'it runs DDNM on the shipped prior');
  t.ok(ddnm > pinv + 3, `DDNM (${ddnm.toFixed(2)} dB) beats A⁺y by more than 3 dB`);
  t.equal(nfe, 100, 'with one network call per step');
  t.ok(residual < 1e-3, `and a result consistent with y (${residual.toExponential(1)})`);
  fs.rmSync(dir, { recursive: true });
});

test("the README's TypeScript examples type-check under strict tsc", (t) => {
  // Each block as a module of its own (top-level await), 'invdiff' resolved to this build's declarations.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-readme-tsc-'));
  const files = blocks.map((b, i) => {
    const file = path.join(dir, `block${i}.ts`);
    fs.writeFileSync(file, `${b}\nexport {};\n`);
    return file;
  });
  const program = ts.createProgram(files, {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], skipLibCheck: true,
    baseUrl: dir, paths: { invdiff: [path.join(root, 'dist', 'index.d.ts')] },
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? path.basename(d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  t.deepEqual(problems, [], `${files.length} blocks, no type errors`);
  fs.rmSync(dir, { recursive: true });
  t.end();
});
