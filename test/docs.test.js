'use strict';
// The API reference in docs/ is what TypeDoc makes of the package root's types today (`npm run docs`),
// with no warning: every type the API names is exported, so a user can name it too.
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)).map((f) => path.join(e.name, f)) : [e.name])).sort();
}

test('docs/ is the TypeDoc reference of the current types', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-docs-'));
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: root, encoding: 'utf8' });
  t.equal(r.status, 0, `typedoc succeeds with warnings as errors${r.status ? `: ${r.stdout.slice(-1500)}` : ''}`);
  const made = files(out);
  t.deepEqual(files(path.join(root, 'docs')), made, `the same ${made.length} files (else run npm run docs)`);
  const stale = made.filter((f) => fs.existsSync(path.join(root, 'docs', f)) && !fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(root, 'docs', f))));
  t.deepEqual(stale, [], 'with the same contents');
  t.ok(fs.readFileSync(path.join(out, 'classes', 'Tensor.html'), 'utf8').includes('matmul'), 'Tensor\'s page documents its methods');
  t.ok(fs.readFileSync(path.join(root, 'README.md'), 'utf8').includes('](docs/index.html)'), 'the README links the reference');
  fs.rmSync(out, { recursive: true, force: true });
  t.end();
});
