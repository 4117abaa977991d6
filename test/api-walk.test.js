'use strict';
// A walk of the public API generated from the op schema (every method and function row, sync and async),
// then the hand-written functions above it: each argument in turn gets values of the wrong type, NaN,
// ±Infinity, fractions, negative and huge sizes, disposed tensors, objects and missing values; options get an
// unknown key. Every call must throw a JS Error that names the argument, in this one process, and leave no
// tensor behind; a correct computation follows.
const test = require('tape');
const path = require('path');
const inv = require('..');

const schema = require(path.join(__dirname, '..', 'native', 'binding', 'ops.json'));

// name:Kind, name:Kind? or name:Kind=default, with '|' before the options object's arguments.
function parseArgs(text) {
  const positional = [];
  const options = [];
  let target = positional;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (word === '|') {
      target = options;
      continue;
    }
    const [, name, kind, mark] = word.match(/^(\w+):(\w+)([?=].*)?$/);
    target.push({ name, kind, required: !mark });
  }
  return { positional, options };
}

// Fixtures whose type is right for each kind (the values need not make the call succeed: argument checks
// come before any work, in order, so a wrong argument after right-typed ones is the one reported).
function fixtures() {
  const t = inv.keep(inv.randn([2, 3, 4, 4], { seed: 1 }));
  const dead = inv.zeros([1]);
  dead.dispose();
  const net = inv.nn.mlp({ sizes: [4, 4] });
  const opt = inv.scope(() => new inv.optim.Adam(net.parameters())); // the parameters' handles go with the scope
  const A = inv.operators.create('inpainting', { imageShape: [3, 4, 4] });
  const deadA = inv.operators.create('denoising', { imageShape: [1, 4, 4] });
  deadA.dispose();
  const good = { T: t, TS: 1, N: 0.5, I: 1, B: false, Is: [1], Ns: [1], Ts: [t], S: 'x', Dtype: 'float32', Device: 'cpu', D: [1], M: net, O: opt, Op: A, Opt: {}, NT: [], Meta: {} };
  // Values a kind must refuse, each a different fault.
  const bad = {
    T: ['a string', 5, {}, [t], dead, null],
    TS: ['a string', {}, [1], dead, true],
    N: ['0.5', {}, true, [1], null],
    I: [NaN, Infinity, -Infinity, 1.5, 2 ** 60, '1', {}],
    B: ['true', 1, {}],
    Is: ['1', [NaN], [1.5], [Infinity], ['a'], [2 ** 60], {}, [[1]]],
    Ns: ['1', ['a'], {}, [[1]]],
    Ts: ['a string', [5], [dead], {}, 5],
    S: [5, {}, [], true],
    Dtype: [5, {}, []],
    Device: [5, {}, []],
    D: ['a string', {}, [1, 'a'], 5, [[1]]],
    M: [5, {}, 'net', null],
    O: [5, {}, 'opt'],
    Op: [5, {}, 'A', deadA],
    Opt: [5, 'a string', [1]],
    NT: [5, 'a string', [[1, t]], [['a', 5]], [5]],
    Meta: [5, 'a string', { a: 1 }],
  };
  const release = () => {
    t.dispose();
    opt.dispose();
    net.dispose();
    A.dispose();
  };
  return { good, bad, receivers: { T: t, Op: A, O: opt, M: net }, deadReceivers: { T: dead, Op: deadA }, release };
}

function describeValue(v) {
  if (v instanceof inv.Tensor) return v.isDisposed ? 'a disposed Tensor' : 'a Tensor';
  if (typeof v === 'number' || v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return typeof v;
  }
}

// Calls fn (sync or returning a promise) and reports how it failed.
async function outcome(fn) {
  try {
    const r = fn();
    const v = r instanceof Promise ? await r : r;
    return { threw: false, value: v };
  } catch (e) {
    return { threw: true, error: e };
  }
}

test('a generated walk of the op schema and the public functions: every bad call is a JS Error naming its argument', async (t) => {
  const before = inv.memory().tensors;
  const f = fixtures();
  let calls = 0;
  let named = 0;
  const failures = [];
  const expectError = async (label, argument, fn) => {
    calls++;
    const r = await outcome(fn);
    if (!r.threw) {
      failures.push(`${label}: did not throw`);
      if (r.value instanceof inv.Tensor) r.value.dispose();
    } else if (!(r.error instanceof Error)) failures.push(`${label}: threw a non-Error ${String(r.error)}`);
    else if (!r.error.message.includes(`'${argument}'`)) failures.push(`${label}: the message does not name '${argument}': ${r.error.message}`);
    else named++;
  };

  const rows = schema.sections.flatMap((s) => s.ops).filter((o) => o.surface === 'method' || o.surface === 'function');
  let rowsWalked = 0;
  const skipped = [];
  for (const row of rows) {
    const { positional, options } = parseArgs(row.args);
    const method = row.surface === 'method';
    const receiverKind = method ? positional[0].kind : undefined;
    const receiver = method ? f.receivers[receiverKind] : undefined;
    const tsName = row.as ?? row.name;
    const variants = row.async ? [tsName, `${tsName}Async`] : [tsName];
    const args = method ? positional.slice(1) : positional;
    const resolve = (name) => (method ? receiver?.[name]?.bind(receiver) : inv[name]);
    if (!resolve(tsName)) {
      skipped.push(row.name);
      continue;
    }
    rowsWalked++;
    for (const name of variants) {
      const call = resolve(name);
      if (!call) continue;
      const goodOpts = () => Object.fromEntries(options.filter((o) => o.required).map((o) => [o.name, f.good[o.kind]]));
      const build = (i, value) => {
        const list = args.map((a, k) => (k === i ? value : f.good[a.kind]));
        return options.length ? [...list, goodOpts()] : list;
      };
      for (let i = 0; i < args.length; i++) {
        for (const value of f.bad[args[i].kind]) {
          if (value === null && !args[i].required) continue; // null reads as absent for an optional argument
          await expectError(`${name}(${args[i].name} = ${describeValue(value)})`, args[i].name, () => call(...build(i, value)));
        }
        if (args[i].required) await expectError(`${name}() without '${args[i].name}'`, args[i].name, () => call(...args.slice(0, i).map((a) => f.good[a.kind])));
      }
      for (const o of options) {
        for (const value of f.bad[o.kind]) {
          if (value === null) continue; // an option given as null reads as absent
          await expectError(`${name}({ ${o.name}: ${describeValue(value)} })`, o.name, () => call(...args.map((a) => f.good[a.kind]), { ...goodOpts(), [o.name]: value }));
        }
      }
      if (options.length) await expectError(`${name}({ bogus })`, 'bogus', () => call(...args.map((a) => f.good[a.kind]), { ...goodOpts(), bogus: 1 }));
      if (method && f.deadReceivers[receiverKind]) {
        const dead = f.deadReceivers[receiverKind];
        const bound = dead[name]?.bind(dead);
        if (bound) await expectError(`${name} on a disposed receiver`, positional[0].name, () => bound(...build(-1)));
      }
    }
  }

  // The hand-written functions over the schema: their options and arguments.
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8] });
  const hand = [
    ['setNumThreads(1e6)', 'n', () => inv.setNumThreads(1e6)],
    ['setNumThreads(0)', 'n', () => inv.setNumThreads(0)],
    ['setNumThreads(NaN)', 'n', () => inv.setNumThreads(NaN)],
    ['setNumThreads("4")', 'n', () => inv.setNumThreads('4')],
    ['operators.create with a huge imageShape', 'imageShape', () => inv.operators.create('mri', { imageShape: [1, 100000, 100000] })],
    ['operators.create with NaN in imageShape', 'imageShape', () => inv.operators.create('blur', { imageShape: [1, NaN, 8] })],
    ['operators.create with a negative size', 'imageShape', () => inv.operators.create('blur', { imageShape: [1, -8, 8] })],
    ['operators.create without imageShape', 'imageShape', () => inv.operators.create('blur', {})],
    ['ct views 1e9', 'views', () => inv.operators.create('ct', { imageShape: [1, 8, 8], views: 1e9 })],
    ['ct detectors 1e6', 'detectors', () => inv.operators.create('ct', { imageShape: [1, 8, 8], detectors: 1e6 })],
    ['ct views as a string', 'views', () => inv.operators.create('ct', { imageShape: [1, 8, 8], views: '60' })],
    ['blockCS batch 1e7', 'batch', () => inv.operators.create('blockCS', { imageShape: [1, 64, 64], batch: 1e7 })],
    ['blockCS blockSize 1e4', 'blockSize', () => inv.operators.create('blockCS', { imageShape: [1, 64, 64], blockSize: 1e4 })],
    ['matrix maxRows × batch', 'maxRows', () => inv.operators.create('matrix', { imageShape: [1, 64, 64], batch: 1000, maxRows: 4096 })],
    ['mri spokes 1e9', 'spokes', () => inv.operators.create('mri', { imageShape: [1, 8, 8], sampling: 'radial', spokes: 1e9 })],
    ['mri acceleration NaN', 'acceleration', () => inv.operators.create('mri', { imageShape: [1, 8, 8], acceleration: NaN })],
    ['blur unknown option', 'sigmaa', () => inv.operators.create('blur', { imageShape: [1, 8, 8], sigmaa: 2 })],
    ['operator noiseStd Infinity', 'noiseStd', () => inv.operators.create('denoising', { imageShape: [1, 8, 8], noiseStd: Infinity })],
    ['pad 1e9', 'pad', () => inv.scope(() => inv.zeros([1, 1, 4, 4]).pad([1e9, 1e9, 0, 0]))],
    ['pad odd count', 'pad', () => inv.scope(() => inv.zeros([1, 1, 4, 4]).pad([1, 1, 1]))],
    ['repeat 1e6²', 'repeats', () => inv.scope(() => inv.zeros([1, 1, 4, 4]).repeat([1e6, 1e6, 1, 1]))],
    ['repeat negative', 'repeats', () => inv.scope(() => inv.zeros([2]).repeat([-3]))],
    ['repeat too few', 'repeats', () => inv.scope(() => inv.zeros([2, 2]).repeat([3]))],
    ['interpolate size 1e6²', 'size', () => inv.scope(() => inv.interpolate(inv.zeros([1, 1, 4, 4]), { size: [1e6, 1e6] }))],
    ['interpolate scaleFactor 1e9', 'scaleFactor', () => inv.scope(() => inv.interpolate(inv.zeros([1, 1, 4, 4]), { scaleFactor: 1e9 }))],
    ['interpolate scaleFactor -1', 'scaleFactor', () => inv.scope(() => inv.interpolate(inv.zeros([1, 1, 4, 4]), { scaleFactor: -1 }))],
    ['zeros 1e6²', 'shape', () => inv.zeros([1e6, 1e6])],
    ['randn negative', 'shape', () => inv.randn([-1, 2])],
    ['full with a huge shape', 'shape', () => inv.full([1e7, 1e7], 1)],
    ['tensor data vs shape', 'shape', () => inv.tensor([1, 2, 3], [2, 2])],
    ['heun steps NaN', 'steps', () => inv.samplers.heun({ denoise: (x) => x }, { shape: [1, 1, 4, 4], steps: NaN })],
    ['heun steps -3', 'steps', () => inv.samplers.heun({ denoise: (x) => x }, { shape: [1, 1, 4, 4], steps: -3 })],
    ['ddnm unknown option', 'etaa', () => inv.samplers.ddnm({ denoise: (x) => x }, { operator: A, y: inv.zeros([1, 1, 8, 8]), etaa: 1 })],
    ['psnr of a string', 'x', () => inv.metrics.psnr('x', inv.zeros([1]))],
    ['IDM steps 1.5', 'steps', () => new inv.models.IDM({ steps: 1.5 })],
    ['IDM channels -8', 'channels', () => new inv.models.IDM({ channels: -8 })],
    ['IDM unknown option', 'chanels', () => new inv.models.IDM({ chanels: 8 })],
    ['Adam lr NaN', 'lr', () => new inv.optim.Adam([inv.zeros([1], { requiresGrad: true })], { lr: NaN })],
    ['saveSafetensors of numbers', 'tensors', () => inv.saveSafetensors('/tmp/x.safetensors', [['a', 5]])],
    ['readImage limitInputPixels -1', 'limitInputPixels', () => inv.io.readImage(path.join(__dirname, 'fixtures', 'none.png'), { limitInputPixels: -1 })],
  ];
  // Sync cases in a scope, so what they make before failing is freed.
  for (const [label, argument, fn] of hand) await expectError(label, argument, label.startsWith('readImage') ? fn : () => inv.scope(fn));
  A.dispose();

  f.release();
  inv.setNumThreads(inv.backend().threads);
  t.deepEqual(failures.slice(0, 20), [], `every call threw an Error naming its argument (${failures.length} did not)`);
  t.ok(calls >= 1000, `${calls} calls (at least 1,000), over ${rowsWalked} schema rows and ${hand.length} hand-written cases`);
  t.deepEqual(skipped, [], 'every method and function row of the schema is reachable from the public API');
  // The process is still sound: a computation gives the right answer and nothing was left behind.
  inv.scope(() => {
    const m = inv.tensor([1, 2, 3, 4], [2, 2]).matmul(inv.tensor([5, 6, 7, 8], [2, 2]));
    t.deepEqual(Array.from(m.toFloat32Array()), [19, 22, 43, 50], 'a matmul afterwards is right');
    const B = inv.operators.create('inpainting', { imageShape: [1, 8, 8], seed: 3 });
    const x = inv.rand([1, 1, 8, 8], { seed: 4 });
    t.ok(B.project(x, B.forward(x)).sub(x).abs().max().item() < 1e-6, 'an operator afterwards is exact');
    B.dispose();
  });
  global.gc?.();
  t.equal(inv.memory().tensors, before, 'no tensor left behind by the failed calls');
  console.log(`# summary api-walk: ${calls} bad calls tried, ${named} threw a JS Error naming the argument, ${calls - named} did not; ${rowsWalked} schema rows + ${hand.length} hand-written cases`);
});

test('a generated walk of wrong values: a tensor of another shape or dtype, an empty one, a dimension out of range: each error names the argument', async (t) => {
  const before = inv.memory().tensors;
  const f = fixtures();
  const wrong = {
    shape: inv.keep(inv.randn([5, 7], { seed: 2 })),
    dtype: inv.keep(inv.randn([2, 3, 4, 4], { seed: 1, dtype: 'float64' })),
    empty: inv.keep(inv.zeros([2, 0, 4, 4])),
  };
  const k = (x) => inv.keep(x);
  const int64 = (shape) => k(inv.zeros(shape, { dtype: 'int64' }));
  // Values that make a row's call work where the kind's fixture does not.
  const working = {
    clamp: { min: 0 },
    where: { condition: k(f.good.T.gt(0)) },
    maskedFill: { mask: k(f.good.T.gt(0)) },
    reshape: { shape: [96] },
    permute: { dims: [3, 2, 1, 0] },
    expand: { shape: [2, 3, 4, 4] },
    repeat: { repeats: [1, 2, 1, 1] },
    indexSelect: { index: int64([2]) },
    gather: { index: int64([2, 3, 4, 4]) },
    scatter: { index: int64([2, 3, 4, 4]) },
    pad: { pad: [1, 1] },
    bmm: { self: k(inv.randn([2, 3, 4])), other: k(inv.randn([2, 4, 5])) },
    dot: { self: k(inv.randn([3])), other: k(inv.randn([3])) },
    einsum: { equation: 'abcd->dcba' },
    linear: { input: k(inv.randn([2, 3])), weight: k(inv.randn([4, 3])) },
    convTranspose2d: { weight: k(inv.randn([3, 2, 3, 3])) },
    interpolate: { scaleFactor: 2 },
    adaptiveAvgPool2d: { size: [2, 2] },
    layerNorm: { shape: [4] },
    neighborhoodAttention: { query: k(inv.randn([1, 2, 4, 4, 8])), key: k(inv.randn([1, 2, 4, 4, 8])), value: k(inv.randn([1, 2, 4, 4, 8])), kernelSize: 3 },
    sheppLogan: { size: 8 },
  };
  let tried = 0;
  let failed = 0;
  let skippedRows = 0;
  const unnamed = [];
  const rows = schema.sections.flatMap((s) => s.ops).filter((o) => o.surface === 'method' || o.surface === 'function');
  for (const row of rows) {
    const { positional, options } = parseArgs(row.args);
    const method = row.surface === 'method';
    const receiver = method ? f.receivers[positional[0].kind] : undefined;
    const call = method ? receiver?.[row.as ?? row.name]?.bind(receiver) : inv[row.as ?? row.name];
    if (!call || row.name === 'manualSeed') continue;
    const all = [...positional, ...options];
    // Every argument at its good value but one; the receiver itself is one of them for tensor methods.
    const invoke = (name, value) => {
      const valueOf = (a) => (a.name === name ? value : working[row.name]?.[a.name] ?? f.good[a.kind]);
      const self = method && positional[0].kind === 'T' ? valueOf(positional[0]) : receiver;
      const fn = method ? self[row.as ?? row.name].bind(self) : call;
      const list = (method ? positional.slice(1) : positional).map(valueOf);
      const opts = Object.fromEntries(options.filter((o) => o.required || o.name === name || o.name in (working[row.name] ?? {})).map((o) => [o.name, valueOf(o)]));
      return options.length ? fn(...list, opts) : fn(...list);
    };
    // Only rows whose good values make a call that works: then a refusal is the wrong value's doing.
    if ((await outcome(() => inv.scope(() => void invoke(undefined)))).threw) {
      skippedRows++;
      continue;
    }
    const tensorNames = all.filter((a) => a.kind === 'T').map((a) => a.name);
    const cases = [];
    for (const a of all) {
      if (a.kind === 'T') cases.push([a.name, 'shape', wrong.shape], [a.name, 'dtype', wrong.dtype], [a.name, 'empty', wrong.empty]);
      if ((a.kind === 'I' || a.kind === 'Is') && /^dim|Dim/.test(a.name)) cases.push([a.name, 'dimension', a.kind === 'I' ? 9 : [9]]);
    }
    for (const [name, fault, value] of cases) {
      tried++;
      const r = await outcome(() => inv.scope(() => void invoke(name, value)));
      if (!r.threw) continue;
      failed++;
      // Two tensors that do not fit each other: naming either is right.
      const blamed = fault === 'dimension' ? [name] : tensorNames;
      if (!(r.error instanceof Error) || !blamed.some((n) => r.error.message.includes(`'${n}'`))) unnamed.push(`${row.name} (${fault} of '${name}'): ${r.error?.message ?? r.error}`);
    }
  }
  for (const w of Object.values(wrong)) w.dispose();
  for (const values of Object.values(working)) for (const v of Object.values(values)) if (v instanceof inv.Tensor) v.dispose();
  f.release();
  t.ok(failed >= 100, `${tried} wrong values tried, ${failed} refused (${skippedRows} rows whose fixtures do not make a working call are left to the walk above)`);
  t.deepEqual(unnamed.slice(0, 20), [], `every refusal names the argument that was wrong (${unnamed.length} did not)`);
  global.gc?.();
  t.equal(inv.memory().tensors, before, 'no tensor left behind');
  console.log(`# summary api-walk values: ${tried} wrong shapes, dtypes, empty tensors and dimensions tried, ${failed} refused, ${failed - unnamed.length} naming the argument`);
});
