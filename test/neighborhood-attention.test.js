'use strict';
// Neighbourhood attention (NATTEN's windows; InvFusion §2.4, papers.md §2.11) against a dense attention whose
// mask is built here from the window rule, its joint form over two key sets, its gradients, and its errors.
const test = require('tape');
const inv = require('..');
const { close } = require('./helpers');

// NATTEN's rule per axis: query i's window starts at clamp(i − κ//2, 0, L − κ).
const starts = (L, kernel) => Array.from({ length: L }, (_, i) => Math.min(Math.max(i - (kernel >> 1), 0), L - kernel));

// The additive (H·W) × (sets·H·W) mask of the windows: 0 inside a query's window, −∞ elsewhere, repeated
// for every key set so one softmax spans them all.
function windowMask(H, W, kernel, sets, dtype) {
  const rows = starts(H, kernel);
  const cols = starts(W, kernel);
  const N = H * W;
  const mask = new Float64Array(N * sets * N).fill(-Infinity);
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      for (let s = 0; s < sets; s++) {
        for (let r = rows[i]; r < rows[i] + kernel; r++) {
          for (let c = cols[j]; c < cols[j] + kernel; c++) mask[(i * W + j) * sets * N + s * N + r * W + c] = 0;
        }
      }
    }
  }
  return inv.tensor(mask, [N, sets * N], { dtype });
}

// Dense attention over the windowed keys of every set, on (B, heads, H, W, d) tensors.
function reference(q, keys, values, kernel, scale) {
  const [B, heads, H, W, d] = q.shape;
  const flat = (t) => t.reshape([B, heads, H * W, d]);
  const mask = windowMask(H, W, kernel, keys.length, q.dtype);
  const out = inv.attention(flat(q), inv.cat(keys.map(flat), { dim: 2 }), inv.cat(values.map(flat), { dim: 2 }), { mask, scale });
  return out.reshape([B, heads, H, W, d]);
}

const draw = (shape, seed, dtype = 'float32') => inv.randn(shape, { seed, dtype });

test('neighbourhood attention equals dense attention masked to the windows', (t) => {
  inv.scope(() => {
    const cases = [
      { shape: [2, 3, 6, 5, 4], kernel: 3, dtype: 'float32', tol: 1e-5 },
      { shape: [2, 3, 6, 5, 4], kernel: 5, dtype: 'float32', tol: 1e-5 },
      { shape: [1, 2, 9, 7, 11], kernel: 5, dtype: 'float32', tol: 1e-5 },
      { shape: [1, 2, 8, 10, 16], kernel: 7, dtype: 'float32', tol: 1e-5, scale: 0.3 },
      { shape: [2, 2, 7, 6, 5], kernel: 3, dtype: 'float64', tol: 1e-10 },
      { shape: [1, 1, 9, 9, 8], kernel: 7, dtype: 'float64', tol: 1e-10, scale: 2 },
    ];
    for (const { shape, kernel, dtype, tol, scale } of cases) {
      const [q, k, v] = [1, 2, 3].map((s) => draw(shape, s, dtype));
      const out = inv.neighborhoodAttention(q, k, v, { kernelSize: kernel, scale });
      t.deepEqual(out.shape, shape, 'the output has the query shape');
      t.equal(out.dtype, dtype, `${dtype} in, ${dtype} out`);
      close(t, out.toFloat64Array(), reference(q, [k], [v], kernel, scale).toFloat64Array(), tol, `${shape} κ=${kernel} ${dtype}${scale ? ` scale ${scale}` : ''}`);
    }
  });
  t.end();
});

// With q = 0 every window weighs its keys equally, so with values (row, column) a query's output is its
// window's centre: start + κ//2 on each axis.
function windowStartsThroughTheOp(H, W, kernel) {
  return inv.scope(() => {
    const v = new Float64Array(H * W * 2);
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) v.set([r, c], (r * W + c) * 2);
    }
    const values = inv.tensor(v, [1, 1, H, W, 2], { dtype: 'float64' });
    const zero = inv.zeros([1, 1, H, W, 2], { dtype: 'float64' });
    const out = inv.neighborhoodAttention(zero, zero, values, { kernelSize: kernel }).toFloat64Array();
    const centre = (i, j, axis) => out[(i * W + j) * 2 + axis] - (kernel >> 1);
    return {
      rows: Array.from({ length: H }, (_, i) => Math.round(centre(i, 0, 0)) || 0), // || 0: no −0 from rounding
      cols: Array.from({ length: W }, (_, j) => Math.round(centre(0, j, 1)) || 0),
      // every query of a row shares that row's start, whatever its column
      consistent: Array.from({ length: H * W }, (_, n) => Math.abs(centre(Math.floor(n / W), n % W, 0) - centre(Math.floor(n / W), 0, 0)) < 1e-12).every(Boolean),
    };
  });
}

test('window starts follow NATTEN: borders shift inward, nothing is padded', (t) => {
  const a = windowStartsThroughTheOp(8, 8, 7);
  t.deepEqual(a.rows, [0, 0, 0, 0, 1, 1, 1, 1], 'L = 8, κ = 7 (rows)');
  t.deepEqual(a.cols, [0, 0, 0, 0, 1, 1, 1, 1], 'L = 8, κ = 7 (columns)');
  const b = windowStartsThroughTheOp(5, 5, 3);
  t.deepEqual(b.rows, [0, 0, 1, 2, 2], 'L = 5, κ = 3 (rows)');
  t.deepEqual(b.cols, [0, 0, 1, 2, 2], 'L = 5, κ = 3 (columns)');
  const c = windowStartsThroughTheOp(5, 8, 3);
  t.deepEqual([c.rows, c.cols], [[0, 0, 1, 2, 2], [0, 0, 1, 2, 3, 4, 5, 5]], 'H = 5, W = 8, κ = 3: each axis by its own length');
  t.ok(a.consistent && b.consistent && c.consistent, 'a row start does not depend on the column');
  t.deepEqual([starts(8, 7), starts(5, 3)], [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 2, 2]], 'the reference rule agrees');
  t.end();
});

test('κ = L is global attention', (t) => {
  inv.scope(() => {
    for (const [shape, dtype, tol] of [[[2, 2, 5, 5, 4], 'float32', 1e-5], [[1, 3, 7, 7, 6], 'float64', 1e-10]]) {
      const [B, heads, H, W, d] = shape;
      const [q, k, v] = [4, 5, 6].map((s) => draw(shape, s, dtype));
      const flat = (x) => x.reshape([B, heads, H * W, d]);
      const global = inv.attention(flat(q), flat(k), flat(v)).reshape(shape);
      close(t, inv.neighborhoodAttention(q, k, v, { kernelSize: H }).toFloat64Array(), global.toFloat64Array(), tol, `${shape} κ = ${H} ${dtype}`);
    }
  });
  t.end();
});

test('the joint form: one softmax over both key sets in the same windows', (t) => {
  inv.scope(() => {
    for (const [shape, kernel, dtype, tol] of [[[2, 2, 6, 7, 4], 3, 'float32', 1e-5], [[1, 2, 8, 8, 8], 7, 'float32', 1e-5], [[1, 2, 5, 6, 3], 5, 'float64', 1e-10]]) {
      const [q, k, v, k2, v2] = [1, 2, 3, 4, 5].map((s) => draw(shape, s, dtype));
      const out = inv.jointNeighborhoodAttention(q, k, v, k2, v2, { kernelSize: kernel });
      close(t, out.toFloat64Array(), reference(q, [k, k2], [v, v2], kernel).toFloat64Array(), tol, `${shape} κ=${kernel} ${dtype}`);
    }
    // The second set takes softmax mass even with zero values (InvFusion without a measurement, §2.11):
    // the result is not the plain neighbourhood attention.
    const shape = [1, 1, 5, 5, 4];
    const [q, k, v, k2] = [1, 2, 3, 4].map((s) => draw(shape, s, 'float64'));
    const zero = inv.zeros(shape, { dtype: 'float64' });
    const joint = inv.jointNeighborhoodAttention(q, k, v, k2, zero, { kernelSize: 3 });
    const plain = inv.neighborhoodAttention(q, k, v, { kernelSize: 3 });
    t.ok(joint.sub(plain).abs().max().item() > 1e-3, 'zero extra values still take weight');
    close(t, joint.toFloat64Array(), reference(q, [k, k2], [v, zero], 3).toFloat64Array(), 1e-10, 'and match the reference');
    // A second copy of the same keys and values halves every weight and adds the halves back.
    close(t, inv.jointNeighborhoodAttention(q, k, v, k, v, { kernelSize: 3 }).toFloat64Array(), plain.toFloat64Array(), 1e-12, 'a duplicated set changes nothing');
  });
  t.end();
});

test('inputs that are not contiguous give the same result', (t) => {
  inv.scope(() => {
    const [q, k, v] = [1, 2, 3].map((s) => draw([1, 5, 2, 6, 4], s));
    const swap = (x) => x.transpose(1, 2); // (1, 2, 5, 6, 4), strided
    const expected = inv.neighborhoodAttention(swap(q).contiguous(), swap(k).contiguous(), swap(v).contiguous(), { kernelSize: 3 });
    t.ok(inv.neighborhoodAttention(swap(q), swap(k), swap(v), { kernelSize: 3 }).equal(expected), 'transposed views');
  });
  t.end();
});

// ∂/∂x of Σ out·R by central differences, one element at a time, in float64.
function finiteDifference(f, inputs, index, eps = 1e-5) {
  const base = inputs[index].toFloat64Array();
  const shape = inputs[index].shape;
  const grad = new Float64Array(base.length);
  for (let n = 0; n < base.length; n++) {
    const at = (delta) => inv.scope(() => {
      const x = Float64Array.from(base);
      x[n] += delta;
      const args = inputs.slice();
      args[index] = inv.tensor(x, shape, { dtype: 'float64' });
      return f(args).item();
    });
    grad[n] = (at(eps) - at(-eps)) / (2 * eps);
  }
  return grad;
}

test('float64 gradients w.r.t. every input equal finite differences and the dense reference', (t) => {
  inv.scope(() => {
    const shape = [1, 2, 5, 4, 3];
    const kernel = 3;
    const R = draw(shape, 9, 'float64');
    const forms = [
      { name: 'plain', names: ['query', 'key', 'value'], op: ([q, k, v]) => inv.neighborhoodAttention(q, k, v, { kernelSize: kernel }), ref: ([q, k, v]) => reference(q, [k], [v], kernel) },
      {
        name: 'joint',
        names: ['query', 'key', 'value', 'key2', 'value2'],
        op: ([q, k, v, k2, v2]) => inv.jointNeighborhoodAttention(q, k, v, k2, v2, { kernelSize: kernel, scale: 0.7 }),
        ref: ([q, k, v, k2, v2]) => reference(q, [k, k2], [v, v2], kernel, 0.7),
      },
    ];
    for (const form of forms) {
      const inputs = form.names.map((_, i) => inv.randn(shape, { seed: 20 + i, dtype: 'float64', requiresGrad: true }));
      const loss = (f) => (args) => f(args).mul(R).sum();
      const grads = inv.grad(loss(form.op)(inputs), inputs);
      const refGrads = inv.grad(loss(form.ref)(inputs), inputs);
      const plainInputs = inputs.map((x) => x.detach());
      form.names.forEach((name, i) => {
        close(t, grads[i].toFloat64Array(), finiteDifference(loss(form.op), plainInputs, i), 1e-8, `${form.name}: ∂/∂${name} by finite differences`);
        close(t, grads[i].toFloat64Array(), refGrads[i].toFloat64Array(), 1e-12, `${form.name}: ∂/∂${name} equals the dense reference's`);
      });
    }
  });
  t.end();
});

test('float32 gradients match the dense reference on a larger shape', (t) => {
  inv.scope(() => {
    const shape = [2, 2, 9, 8, 8];
    const inputs = [1, 2, 3, 4, 5].map((s) => inv.randn(shape, { seed: s, requiresGrad: true }));
    const R = draw(shape, 6);
    const [q, k, v, k2, v2] = inputs;
    const grads = inv.grad(inv.jointNeighborhoodAttention(q, k, v, k2, v2, { kernelSize: 5 }).mul(R).sum(), inputs);
    const refGrads = inv.grad(reference(q, [k, k2], [v, v2], 5).mul(R).sum(), inputs);
    ['query', 'key', 'value', 'key2', 'value2'].forEach((name, i) => close(t, grads[i].toFloat64Array(), refGrads[i].toFloat64Array(), 1e-5, `∂/∂${name}`));
  });
  t.end();
});

test('errors name the argument and say why', (t) => {
  inv.scope(() => {
    const x = draw([1, 2, 8, 6, 4], 1);
    const nat = (q, k, v, opts) => () => inv.neighborhoodAttention(q, k, v, opts);
    t.throws(nat(x, x, x, { kernelSize: 4 }), /argument 'kernelSize' must be a positive odd integer.*got 4/, 'even κ');
    t.throws(nat(x, x, x, { kernelSize: -3 }), /argument 'kernelSize' must be a positive odd integer/, 'negative κ');
    t.throws(nat(x, x, x, { kernelSize: 7 }), /argument 'kernelSize' 7 exceeds the width 6 of 'query'.*nothing is padded/, 'W < κ');
    t.throws(nat(x, x, x, { kernelSize: 9 }), /argument 'kernelSize' 9 exceeds the height 8 of 'query'/, 'H < κ');
    t.throws(() => inv.neighborhoodAttention(x, x, x, {}), /'kernelSize'.*required/, 'κ is required');
    t.throws(nat(x, x, x, { kernelSize: 3, scale: NaN }), /argument 'scale' must be a finite number/, 'NaN scale');
    t.throws(nat(x.reshape([2, 8, 6, 4]), x, x, { kernelSize: 3 }), /argument 'query' must be a \(batch, heads, height, width, headDim\) tensor, got shape \[2, 8, 6, 4\]/, '4-D query');
    t.throws(nat(x, x.reshape([2, 1, 8, 6, 4]), x, { kernelSize: 3 }), /argument 'key' has shape \[2, 1, 8, 6, 4\] but 'query' has \[1, 2, 8, 6, 4\]/, 'key shape');
    t.throws(nat(x, x, draw([1, 2, 8, 6, 5], 2), { kernelSize: 3 }), /argument 'value' has shape \[1, 2, 8, 6, 5\]/, 'value head dim');
    t.throws(() => inv.jointNeighborhoodAttention(x, x, x, x, x.reshape([1, 2, 6, 8, 4]), { kernelSize: 3 }), /argument 'value2' has shape \[1, 2, 6, 8, 4\]/, 'joint value2 shape');
    t.throws(() => inv.jointNeighborhoodAttention(x, x, x, x.transpose(2, 3), x, { kernelSize: 3 }), /argument 'key2' has shape/, 'joint key2 shape');
    t.throws(nat(x, x.to({ dtype: 'float64' }), x, { kernelSize: 3 }), /argument 'key' must have the dtype of 'query'/, 'mixed dtypes');
    t.throws(nat(x.to({ dtype: 'float16' }), x, x, { kernelSize: 3 }), /argument 'query' must be float32 or float64/, 'float16');
  });
  t.end();
});

test('the async twins equal the sync calls', async (t) => {
  await inv.scopeAsync(async () => {
    const shape = [2, 2, 7, 9, 8];
    const [q, k, v, k2, v2] = [1, 2, 3, 4, 5].map((s) => draw(shape, s));
    t.ok((await inv.neighborhoodAttentionAsync(q, k, v, { kernelSize: 5 })).equal(inv.neighborhoodAttention(q, k, v, { kernelSize: 5 })), 'neighborhoodAttentionAsync');
    t.ok((await inv.jointNeighborhoodAttentionAsync(q, k, v, k2, v2, { kernelSize: 3, scale: 0.5 })).equal(inv.jointNeighborhoodAttention(q, k, v, k2, v2, { kernelSize: 3, scale: 0.5 })), 'jointNeighborhoodAttentionAsync');
    const error = await inv.neighborhoodAttentionAsync(q, k, v, { kernelSize: 2 }).then(() => null, (e) => e);
    t.match(String(error), /argument 'kernelSize' must be a positive odd integer/, 'an async call rejects with the same error');
  });
  t.end();
});
