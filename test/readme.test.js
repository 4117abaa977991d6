'use strict';
// The README's TypeScript example must compile and run as written.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');

test('the README example runs', async (t) => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = readme.match(/```ts\n([\s\S]*?)```/);
  t.ok(block, 'README has a ts example');
  const source = block[1];
  const diagnostics = [];
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 }, reportDiagnostics: true, fileName: 'readme.ts' });
  diagnostics.push(...(js.diagnostics || []));
  t.equal(diagnostics.length, 0, 'it transpiles');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-readme-'));
  const cwd = process.cwd();
  process.chdir(dir); // the example writes net.safetensors
  const log = console.log;
  const printed = [];
  console.log = (...args) => printed.push(args);
  try {
    const requireShim = (name) => (name === 'invdiff' ? require(root) : require(name));
    // CommonJS output wrapped in an async function, so the example's top-level await works.
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    await new AsyncFunction('require', 'exports', js.outputText)(requireShim, {});
  } finally {
    console.log = log;
    process.chdir(cwd);
  }
  t.deepEqual(printed[0].slice(0, 2), [[4, 1, 32, 32], 'float32'], 'it prints the blurred shape and dtype');
  t.ok(fs.existsSync(path.join(dir, 'net.safetensors')), 'it saves the checkpoint');
  fs.rmSync(dir, { recursive: true });
});
