'use strict';
// The layering of lib/ (shared/design/architecture.md): imports run one way, so there is no import cycle,
// and the lower rooms never import the upper ones.
const test = require('tape');
const fs = require('fs');
const path = require('path');

const lib = path.resolve(__dirname, '..', 'lib');

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// A relative import's target file (x.ts or x/index.ts), type-only imports included: they run one way too.
function imports(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(/^(?:import|export)\b[^'";]*?from '(\.[^']+)'/gm)) {
    const base = path.resolve(path.dirname(file), m[1]);
    const target = [base + '.ts', path.join(base, 'index.ts')].find((p) => fs.existsSync(p));
    if (target) out.push(target);
  }
  return out;
}

const files = sources(lib);
const graph = new Map(files.map((f) => [f, imports(f)]));
const rel = (f) => path.relative(lib, f);

test('lib/ has no import cycle', (t) => {
  const state = new Map();
  const cycles = [];
  const visit = (f, stack) => {
    state.set(f, 'open');
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g].map(rel).join(' → '));
      else if (!state.has(g)) visit(g, [...stack, g]);
    }
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f, [f]);
  t.deepEqual(cycles, [], 'no cycles');
  t.ok(files.length > 40, `${files.length} files checked`);
  t.end();
});

// room → the rooms it must not import
const forbidden = {
  // the loader runs before the addon exists, so it stands on nothing of the library
  addon: ['tensor', 'generated', 'models', 'samplers', 'operators', 'training', 'restoration', 'cli', 'demo.ts', 'data', 'io', 'metrics', 'index.ts', 'backend.ts', 'module.ts'],
  tensor: ['models', 'samplers', 'operators', 'training', 'restoration', 'cli', 'demo.ts', 'data', 'io', 'metrics'],
  generated: ['models', 'samplers', 'operators', 'training', 'restoration', 'cli', 'demo.ts'],
  operators: ['models', 'samplers', 'training', 'restoration', 'cli', 'demo.ts'],
  samplers: ['models', 'training', 'restoration', 'cli', 'demo.ts'],
  models: ['training', 'restoration', 'cli', 'demo.ts'],
  // training and restoration sit side by side: trainIDM validates through restoreImages, never the reverse
  training: ['cli', 'demo.ts'],
  restoration: ['training', 'cli', 'demo.ts'],
};

test('lower rooms import nothing from the rooms above them', (t) => {
  const room = (f) => rel(f).split(path.sep)[0];
  const bad = [];
  for (const [f, targets] of graph) {
    const banned = forbidden[room(f)] ?? [];
    for (const g of targets) if (banned.includes(room(g))) bad.push(`${rel(f)} imports ${rel(g)}`);
  }
  t.deepEqual(bad, [], 'one-way imports');
  t.end();
});

test('the package root exports no binding internals', (t) => {
  const inv = require('../dist/index.js');
  for (const name of ['th', 'fromHandle', 'native', 'nativeAddon', 'TensorMethods', 'TensorBase', 'checkOptions', 'setTensorClass', 'addonError', 'addonDiagnosis']) {
    t.notOk(name in inv, `${name} is not exported`);
  }
  const { read } = require('../scripts/gen-ops.js');
  const functions = read().rows.filter((r) => r.surface === 'function').flatMap((r) => (r.async ? [r.tsName, `${r.tsName}Async`] : [r.tsName]));
  t.deepEqual(functions.filter((name) => typeof inv[name] !== 'function'), [], `every function row of the schema is exported by the root (${functions.length})`);
  t.equal(typeof inv.Tensor, 'function', 'Tensor is');
  t.ok(inv.zeros([2]) instanceof inv.Tensor, 'a generated function returns a Tensor');
  t.end();
});
