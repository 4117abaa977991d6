'use strict';
// The build paths: node-gyp builds the same sources into a loadable addon; the bootstrap does nothing on a
// second run; the generated files match the op schema.
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

test('a second bootstrap with nothing changed rebuilds nothing', (t) => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'bootstrap')], { cwd: root, encoding: 'utf8' });
  t.equal(r.status, 0, 'bootstrap succeeds');
  t.match(r.stdout, /npm packages up to date/);
  t.match(r.stdout, /native addon up to date/);
  t.match(r.stdout, /TypeScript build up to date/);
  t.doesNotMatch(r.stdout, /cmake-js|npm ci|tsc/, 'no build step ran');
  t.end();
});

test('the generated files are what the op schema generates, and the addon exports exactly its rows', (t) => {
  const { generate, read, targets } = require('../scripts/gen-ops.js');
  for (const [key, text] of Object.entries(generate())) t.equal(fs.readFileSync(targets[key], 'utf8'), text, `${path.relative(root, targets[key])} in sync`);
  const { rows } = read();
  const addon = require('../build/Release/invdiff.node');
  const expected = rows.flatMap((r) => (r.async ? [r.name, `${r.name}$async`] : [r.name])).sort();
  t.deepEqual(Object.keys(addon).sort(), expected, `${rows.length} rows, each a function of the addon`);
  t.end();
});

test('the generator names the row and the problem in a bad schema', (t) => {
  const { generate } = require('../scripts/gen-ops.js');
  const schema = JSON.parse(fs.readFileSync(path.join(root, 'native', 'binding', 'ops.json'), 'utf8'));
  const broken = (edit) => {
    const s = JSON.parse(JSON.stringify(schema));
    edit(s.sections[0].ops[0], s);
    return () => generate(s);
  };
  t.throws(broken((row) => (row.args = 'data:Q')), /tensor: argument 'data' has unknown kind 'Q'/);
  t.throws(broken((row) => (row.args = 'data')), /tensor: bad argument 'data'/);
  t.throws(broken((row) => (row.result = 'X')), /tensor: unknown result 'X'/);
  t.throws(broken((row) => (row.surface = 'method')), /tensor: a method takes self first \(kind T, Op, M, O\)/);
  t.throws(broken((row, s) => s.sections[0].ops.push({ ...row })), /duplicate op 'tensor'/);
  t.throws(broken((row) => (row.args = 'n:B=maybe')), /default of 'n' is not true or false/);
  t.end();
});

test('node-gyp (invdiff rebuild without cmake) builds the same sources into an addon that loads and computes', (t) => {
  const dir = path.join(root, 'build', 'gyp-check');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  for (const f of ['build-addon.js', 'torch-config.js', 'elf-versions.js']) fs.copyFileSync(path.join(root, 'scripts', f), path.join(dir, 'scripts', f));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const args = [path.join(dir, 'scripts', 'build-addon.js'), '--tool', 'node-gyp'];
  const build = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
  if (build.status !== 0) console.log(build.stdout.slice(-4000), build.stderr.slice(-4000));
  t.equal(build.status, 0, 'node-gyp rebuild succeeds');
  t.notOk(fs.existsSync(path.join(dir, 'binding.gyp')), 'and takes native/binding.gyp away from the root again (npm would run node-gyp for it)');
  t.equal(JSON.parse(fs.readFileSync(path.join(dir, 'build', 'Release', 'invdiff.json'), 'utf8')).built.tool, 'node-gyp', 'invdiff.json is written beside it');
  const probe = spawnSync(process.execPath, ['-e', `
    const n = require(${JSON.stringify(path.join(dir, 'build', 'Release', 'invdiff.node'))});
    const a = n.tensor([1, 2, 3, 4], [2, 2]);
    console.log(JSON.stringify(Array.from(n.data(n.matmul(a, a)))));`], { encoding: 'utf8' });
  t.equal(probe.stdout.trim(), '[7,10,15,22]', 'the node-gyp addon multiplies matrices');
  t.end();
});
