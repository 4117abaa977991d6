'use strict';
// Bad input in one process: every call must throw a JS error that names what was wrong, and the process
// must keep running (a C++ exception escaping N-API would abort it).
const test = require('tape');
const inv = require('..');

test('bad calls throw clear errors and the process survives', (t) => {
  const x = inv.keep(inv.ones([2, 3]));
  const dead = inv.ones([1]);
  dead.dispose();
  const mlp = inv.nn.mlp({ sizes: [3, 2] });
  const cases = [
    // [what, call, message pattern]
    ['matmul shape mismatch', () => x.matmul(inv.ones([4, 5])), /matmul\(self: float32\[2, 3\], other: float32\[4, 5\]\).*cannot be multiplied/],
    ['add non-broadcastable', () => x.add(inv.ones([4])), /add\(self: float32\[2, 3\], other: float32\[4\]\): argument 'other' float32\[4\] does not fit 'self' float32\[2, 3\]: The size of tensor a/],
    ['matmul of two dtypes', () => x.matmul(inv.ones([3, 2], { dtype: 'float64' })), /argument 'other' is float64 where 'self' is float32 \(convert one with \.to\(\{ dtype \}\)\)/],
    ['cat of two shapes', () => inv.cat([x, inv.ones([2, 5])]), /argument 'tensors': entry 1 float32\[2, 5\] does not fit entry 0 float32\[2, 3\]/],
    ['softmax dimension out of range', () => x.softmax(3), /argument 'dim' 3 is out of range for 'self' float32\[2, 3\]/],
    ['reshape to another size', () => x.reshape([4]), /argument 'shape' \[4\] does not fit 'self' float32\[2, 3\]/],
    ['a model given another dtype', () => mlp.forward(inv.ones([2, 3], { dtype: 'float64' })), /argument 'inputs' expected the model's dtype float32, got float64 in entry 0 \(convert it with \.to\(\{ dtype: 'float32' \}\), or the model with/],
    ['string where tensor', () => x.add('x'), /argument 'other' expected a Tensor or a number, got the string 'x'/],
    ['null where tensor', () => x.matmul(null), /argument 'other' expected a Tensor, got null/],
    ['object where tensor', () => x.matmul({ h: 3 }), /argument 'other' expected a Tensor, got an object/],
    ['number where tensor', () => x.matmul(3), /argument 'other' expected a Tensor, got number 3/],
    ['boolean where tensor or number', () => x.mul(true), /argument 'other' expected a Tensor or a number, got boolean true/],
    ['disposed self', () => dead.add(1), /argument 'self' expected a live Tensor, got a disposed one/],
    ['disposed other', () => x.mul(dead), /argument 'other' expected a live Tensor, got a disposed one/],
    ['disposed in a list', () => inv.cat([x, dead]), /argument 'tensors' expected a live Tensor/],
    ['NaN in shape', () => inv.zeros([NaN]), /argument 'shape' expected a list of integers, element 0, got the number nan/i],
    ['Infinity in shape', () => inv.zeros([2, Infinity]), /argument 'shape' expected a list of integers, element 1/],
    ['fraction in shape', () => inv.ones([1.5]), /argument 'shape' expected a list of integers/],
    ['negative size', () => inv.zeros([3, -1]), /non-negative sizes, got -1 at dimension 1/],
    ['absurd allocation', () => inv.zeros([1e6, 1e6]), /more than this machine's memory/],
    ['absurd randn', () => inv.randn([1e7, 1e7]), /more than this machine's memory/],
    ['absurd eye', () => inv.eye(1e7), /more than this machine's memory/],
    ['shape not a list', () => inv.zeros('big'), /argument 'shape' expected an integer or a list of integers, got 'big'/],
    ['missing required', () => inv.zeros(), /argument 'shape' expected a value \(it is required\)/],
    ['data/shape mismatch', () => inv.tensor([1, 2, 3], [2, 2]), /'shape' \[2, 2\] holds 4 elements but 'data' has 3/],
    ['data of strings', () => inv.tensor(['a'], [1]), /element 0 is 'a'/],
    ['data not an array', () => inv.tensor(5, [1]), /argument 'data' expected a typed array or an array of numbers/],
    ['unsupported typed array', () => inv.tensor(new Uint16Array(2), [2]), /argument 'data' expected a Float32Array/],
    ['bad dtype', () => inv.zeros([2], { dtype: 'float8' }), /argument 'dtype' expected a dtype \(float32.*got 'float8'/],
    ['bad device', () => inv.zeros([2], { device: 'tpu' }), /argument 'device' expected 'cpu', 'cuda' or 'cuda:N', got 'tpu'/],
    ['cuda absent', () => (inv.backend().cuda ? (() => { throw new Error('no CUDA device'); })() : inv.zeros([2], { device: 'cuda' })), /CUDA device/],
    ['reshape wrong size', () => x.reshape([4, 4]), /reshape\(self: float32\[2, 3\], shape: \[4, 4\]\).*invalid for input of size 6/],
    ['permute wrong rank', () => x.permute([0]), /permute/],
    ['transpose out of range', () => x.transpose(0, 5), /transpose.*out of range/i],
    ['sum over a bad dim', () => x.sum({ dim: 7 }), /sum.*out of range/i],
    ['options not an object', () => x.sum(1), /sum: argument 'opts' expected an options object \{ dim, keepdim, dtype \}, got number 1/],
    ['unknown option', () => x.sum({ keepDim: true }), /sum: unknown option 'keepDim' \(did you mean 'keepdim'\?\); it takes dim, keepdim, dtype/],
    ['item of many', () => x.item(), /item.*6 elements/],
    ['backward of non-scalar', () => inv.ones([2], { requiresGrad: true }).mul(2).backward(), /backward of a tensor with 2 elements needs 'gradient'/],
    ['backward without graph', () => inv.ones([1]).backward(), /does not require grad/],
    ['conv2d channel mismatch', () => inv.conv2d(inv.ones([1, 3, 8, 8]), inv.ones([4, 2, 3, 3])), /conv2d\(input: float32\[1, 3, 8, 8\], weight: float32\[4, 2, 3, 3\]/],
    ['interpolate both size and scale', () => inv.interpolate(inv.ones([1, 1, 4, 4]), { size: [2, 2], scaleFactor: 2 }), /exactly one of 'size' and 'scaleFactor'/],
    ['interpolate bad mode', () => inv.interpolate(inv.ones([1, 1, 4, 4]), { scaleFactor: 2, mode: 'lanczos' }), /argument 'mode' expected 'nearest'/],
    ['pad bad mode', () => x.pad([1, 1], { mode: 'mirror' }), /argument 'mode' expected 'constant', 'reflect'/],
    ['fft bad norm', () => x.fft2({ norm: 'unitary' }), /argument 'norm' expected 'backward', 'ortho' or 'forward'/],
    ['loss bad reduction', () => inv.mseLoss(x, x, { reduction: 'avg' }), /argument 'reduction' expected 'mean', 'sum' or 'none'/],
    ['dropout bad p', () => inv.dropout(x, 2), /argument 'p' expected a probability/],
    ['arange zero step', () => inv.arange(0, 1, 0), /'step' must be non-zero/],
    ['clamp without bounds', () => x.clamp(), /clamp needs 'min', 'max' or both/],
    ['svd of a vector', () => inv.ones([3]).svd(), /svd/],
    ['solve singular', () => inv.zeros([2, 2]).solve(inv.ones([2, 1])), /solve.*singular/i],
    ['gather bad index dtype', () => x.gather(1, inv.zeros([2, 1])), /gather.*(int64|Long)/i],
    ['cat empty list', () => inv.cat([]), /cat/],
    ['module wrong input', () => mlp.call(inv.ones([2, 5])), /moduleForward.*cannot be multiplied/],
    ['module disposed', () => { const m = inv.nn.linear({ inFeatures: 1, outFeatures: 1 }); m.dispose(); m.call(x); }, /argument 'module' expected a live Module, got a disposed one/],
    ['optimizer bad lr', () => new inv.optim.SGD([inv.ones([1], { requiresGrad: true })], { lr: -1 }), /option 'lr' must be positive/],
    ['optimizer bad betas', () => new inv.optim.Adam([inv.ones([1], { requiresGrad: true })], { beta1: 1.5 }), /'beta1' and 'beta2' must lie in \[0, 1\)/],
    ['module option of wrong type', () => new inv.Module('linear', { inFeatures: { a: 1 }, outFeatures: 1 }), /options whose 'inFeatures' is a number/],
    ['safetensors reserved name', () => inv.saveSafetensors('/tmp/x.safetensors', { __metadata__: x }), /'__metadata__' is reserved/],
    ['setNumThreads fraction', () => inv.setNumThreads(1.5), /argument 'n' expected an integer/],
    ['NaN values are data, not errors', () => { if (!inv.full([2], NaN).isnan().all()) throw new Error('NaN lost'); throw new Error('ok: NaN kept'); }, /ok: NaN kept/],
  ];
  t.ok(cases.length >= 40, `${cases.length} bad calls`);
  for (const [what, call, pattern] of cases) {
    try {
      inv.scope(call);
      t.fail(`${what}: no error`);
    } catch (err) {
      t.ok(err instanceof Error, `${what}: a JS Error`);
      t.match(err.message, pattern, `${what}: "${err.message.split('\n')[0].slice(0, 140)}"`);
    }
  }
  t.equal(x.sum().item(), 6, 'the process and its tensors are fine afterwards');
  t.end();
});

async function rejects(t, promise, pattern, msg) {
  try {
    await promise;
    t.fail(`${msg}: resolved`);
  } catch (err) {
    t.match(err.message, pattern, msg);
  }
}

test('async errors reject instead of crashing', async (t) => {
  const x = inv.keep(inv.ones([2, 3]));
  await rejects(t, x.matmulAsync(inv.ones([4, 4])), /matmul.*cannot be multiplied/, 'a shape error rejects the Promise');
  t.throws(() => x.matmulAsync('x'), /argument 'other' expected a Tensor/, 'bad arguments throw synchronously');
  await rejects(t, inv.loadSafetensorsAsync('/no/such/file'), /cannot open/, 'a missing file rejects');
  const ok = await x.matmulAsync(inv.ones([3, 1]));
  t.deepEqual(ok.toArray(), [[3], [3]], 'and the next async op works');
});
