'use strict';
// The TS side of the benchmark report: each workload of bench/workloads.js as an invdiff user writes it, one
// call per round's repetition, its temporaries freed inside the call (as Python frees them by reference
// counting). The native and Python sides (bench/native/bench.cpp, bench/python_side.py) time the same.
const path = require('path');
const inv = require('..');

const { models, operators, samplers } = inv;

function makeOperator(w) {
  return operators.create(w.keys.family, { imageShape: w.keys.shape, batch: w.keys.batch, seed: 1, ...(w.op ?? {}) });
}

const images = (w) => [w.keys.batch, ...w.keys.shape];
// A diffusion model with its file: random weights (no shipped checkpoint, --quick) are saved for the other
// sides to load, as the PyTorch references (edm_unet.py, hdit.py) cannot build their own.
function withFile(w, tmp, Kind) {
  if (w.file) return { net: Kind.load(w.file), file: w.file };
  inv.manualSeed(0);
  const net = new Kind(w.model);
  const file = path.join(tmp, `${w.kind}.safetensors`);
  net.save(file);
  return { net, file };
}
const prior = (w, tmp) => withFile(w, tmp, models.Unconditional);
const inference = (f) => () => inv.noGrad(() => inv.scope(() => { f(); }));

// { call, owned, file }: owned are disposed after the workload; file, where set, holds weights the other
// sides load (IDM, the prior and InvFussion, whose PyTorch references cannot build their own).
function prepare(w, tmp) {
  const keep = (...ts) => ts.map(inv.keep);
  switch (w.kind) {
    case 'add': {
      const [a, b] = keep(inv.ones([4]), inv.ones([4]));
      return { call: () => inv.scope(() => { for (let i = 0; i < 100; i++) a.add(b); }), owned: [a, b] };
    }
    case 'matmul': {
      const [a, b] = keep(inv.randn([w.keys.n, w.keys.n], { seed: 1 }), inv.randn([w.keys.n, w.keys.n], { seed: 2 }));
      return { call: () => inv.scope(() => { a.matmul(b); }), owned: [a, b] };
    }
    case 'mlp': {
      inv.manualSeed(0);
      const net = inv.nn.mlp(w.model);
      const opt = new inv.optim.Adam(net.parameters(), { lr: 1e-3 });
      const sizes = w.model.sizes;
      const [x, y] = keep(inv.randn([w.keys.batch, sizes[0]], { seed: 1 }), inv.randn([w.keys.batch, sizes[sizes.length - 1]], { seed: 2 }));
      const call = () => inv.scope(() => {
        opt.zeroGrad();
        inv.mseLoss(net.call(x), y).backward();
        opt.step();
      });
      return { call, owned: [net, opt, x, y] };
    }
    case 'operator': {
      const A = makeOperator(w);
      const [x] = keep(inv.randn(images(w), { seed: 1 }));
      const [y] = keep(A.forward(x));
      const apply = { A: () => A.forward(x), At: () => A.adjoint(y), pinv: () => A.pinv(y) }[w.keys.apply];
      return { call: () => inv.scope(() => { apply(); }), owned: [A, x, y] };
    }
    case 'idm': {
      inv.manualSeed(0);
      const net = new models.IDM(w.model);
      const file = path.join(tmp, `idm-${w.model.blocks}-${w.model.reversible}.safetensors`);
      net.save(file);
      const A = makeOperator(w);
      const [x] = keep(inv.rand(images(w), { seed: 1 }));
      const [y] = keep(A.forward(x));
      const opt = new inv.optim.Adam(net.parameters(), { lr: 1e-4 });
      const call = () => inv.scope(() => {
        opt.zeroGrad();
        net.reconstruct(A, y).sub(x).abs().mean().backward();
        opt.step();
      });
      return { call, owned: [net, opt, A, x, y], file };
    }
    case 'prior': {
      const { net, file } = prior(w, tmp);
      const [x] = keep(inv.randn(images(w), { seed: 1 }));
      return { call: inference(() => net.denoise(x, w.keys.sigma)), owned: [net, x], file };
    }
    case 'heun': {
      const { net, file } = prior(w, tmp);
      return { call: inference(() => samplers.heun(net, { shape: images(w), steps: w.keys.steps })), owned: [net], file };
    }
    case 'ddnm': {
      const { net, file } = prior(w, tmp);
      const A = makeOperator(w);
      const [y] = keep(A.forward(inv.rand(images(w), { seed: 1 })));
      return { call: inference(() => samplers.ddnm(net, { operator: A, y, steps: w.keys.steps })), owned: [net, A, y], file };
    }
    case 'invfussion': {
      const { net, file } = withFile(w, tmp, models.InvFussion);
      const A = makeOperator(w);
      const [x, y] = keep(inv.randn(images(w), { seed: 1 }), A.forward(inv.rand(images(w), { seed: 2 })));
      return { call: inference(() => net.denoise(x, w.keys.sigma, { operator: A, y })), owned: [net, A, x, y], file };
    }
    default:
      throw new Error(`bench: no workload kind '${w.kind}'`);
  }
}

function msOf(call, repeats) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < repeats; i++) call();
  return Number(process.hrtime.bigint() - t0) / 1e6 / repeats;
}

// The workload set up and warmed up, with as many repeats per round as fill about targetMs.
function tsSide(w, tmp, targetMs) {
  const p = prepare(w, tmp);
  const repeats = Math.max(1, Math.ceil(targetMs / Math.max(msOf(p.call, 1), 1e-6)));
  return {
    file: p.file,
    round() {
      const before = inv.memory().bytes;
      inv.resetPeakMemory();
      const ms = msOf(p.call, repeats);
      return { ms, peakBytes: inv.memory().peakBytes - before };
    },
    dispose: () => p.owned.forEach((o) => o.dispose()),
  };
}

module.exports = { tsSide };
