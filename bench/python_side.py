"""The PyTorch (Python) side of the benchmark report (bench/run.js), on Debian's python3-torch: the
workloads bench/reference implements, written as a PyTorch user would (float32 parameters, no_grad where
nothing is trained). Serves bench/run.js round by round, as bench/native/bench.cpp does: each line read is a
workload, `KIND key=value ...` (op.* operator options, model.* model options), each line written is one
round, {"ms", "peakBytes", "gflop"} (peak memory is not tracked here: null; gflop, the work of one call for the
GEMM-heavy workloads, counted by PyTorch's profiler), or {"error": why}.
  python3 bench/python_side.py THREADS TARGET_MS"""
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'reference'))
import edm_unet  # noqa: E402
import hdit  # noqa: E402
import idm  # noqa: E402
import operators  # noqa: E402
import safetensors_io  # noqa: E402
import samplers  # noqa: E402
from threads import set_threads  # noqa: E402


def value(text):
    if ',' in text:
        return [int(v) for v in text.split(',') if v]
    if text in ('true', 'false'):
        return text == 'true'
    try:
        return float(text) if any(c in text for c in '.e') else int(text)
    except ValueError:
        return text


def parse(line):
    kind, *items = line.split()
    keys, op, model = {}, {}, {}
    for item in items:
        key, text = item.split('=', 1)
        target, key = (op, key[3:]) if key.startswith('op.') else (model, key[6:]) if key.startswith('model.') else (keys, key)
        target[key] = value(text)
    return kind, keys, op, model


def single_precision(op):
    """The reference keeps parameters in float64 for parity; a timing user stores them in float32 once."""
    for name, t in vars(op).items():
        if isinstance(t, torch.Tensor) and t.dtype in (torch.float64, torch.complex128):
            setattr(op, name, t.to(torch.float32 if t.dtype == torch.float64 else torch.complex64))
    return op


def make_operator(keys, op_options):
    c, h, w = keys['shape']
    op = operators.create(keys['family'], {'imageShape': [c, h, w], 'batch': keys['batch'], 'seed': 1, **op_options})
    # The reference's A⁺ for these is a dense pseudo-inverse per call (fine for parity on tiny images);
    # invdiff's is Aᵀ on full rows (blockCS) and otherwise a closed form set up once: do the same, the
    # pseudo-inverse computed once where the rows are not whole (--quick's 16² images under 32² blocks).
    if keys['family'] == 'blockCS' and op.d % op.n == 0:
        op.pinv = op.At
    elif keys['family'] == 'blockCS':
        P = torch.linalg.pinv(op.dense()).float()
        op.pinv = lambda y: (P @ y.flatten(1)[..., None]).reshape(y.shape[0], *op.shape)
    elif keys['family'] == 'matrix':
        P = torch.linalg.pinv(op.M).float()
        op.pinv = lambda y: torch.einsum('bdm,bm->bd', P, y).reshape(y.shape[0], *op.shape)
    return single_precision(op)


def prepare(line):
    kind, keys, op_options, model = parse(line)
    if kind == 'add':
        a, b = torch.ones(4), torch.ones(4)

        def call():
            for _ in range(100):
                a + b
        return call
    if kind == 'matmul':
        n = keys['n']
        a, b = torch.randn(n, n), torch.randn(n, n)
        return lambda: a @ b
    if kind == 'mlp':
        sizes = model['sizes']
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (torch.nn.Linear(a, b), torch.nn.ReLU())][:-1]
        net = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, y = torch.randn(keys['batch'], sizes[0]), torch.randn(keys['batch'], sizes[-1])

        def step():
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        step.forward = lambda: torch.nn.functional.mse_loss(net(x), y)
        return step
    if kind == 'operator':
        A = make_operator(keys, op_options)
        x = torch.randn(keys['batch'], *keys['shape'])
        y = A.A(x)
        return {'A': lambda: A.A(x), 'At': lambda: A.At(y), 'pinv': lambda: A.pinv(y)}[keys['apply']]
    if kind == 'idm':
        weights = {k: v.requires_grad_(True) for k, v in safetensors_io.load(keys['file']).items()}
        net = idm.IDM(weights, model, model.get('reversible', True))
        A = make_operator(keys, op_options)
        x = torch.rand(keys['batch'], *keys['shape'])
        y = A.A(x)
        opt = torch.optim.Adam(list(weights.values()), lr=1e-4)

        def step():
            opt.zero_grad()
            (net.reconstruct(A, y) - x).abs().mean().backward()
            opt.step()
        step.forward = lambda: (net.reconstruct(A, y) - x).abs().mean()
        return step
    if kind in ('prior', 'heun', 'ddnm'):
        net = edm_unet.EdmUNet.load(keys['file'])
        shape = (keys['batch'], *keys['shape'])
        if kind == 'prior':
            x = torch.randn(shape)
            return torch.no_grad()(lambda: net.denoise(x, keys['sigma']))
        sigmas = samplers.edm_sigmas(keys['steps'])
        if kind == 'heun':  # without churn Heun reads only the starting draw
            return torch.no_grad()(lambda: samplers.heun(net.denoise, [torch.randn(shape)], sigmas))
        A = make_operator(keys, op_options)
        y = A.A(torch.rand(shape))
        # lib/samplers/ddnm.ts's defaults: noiseless y, η = 0.85, mixing 'ddnm'; a fresh draw per step
        return torch.no_grad()(lambda: samplers.ddnm(net.denoise, [torch.randn(shape) for _ in sigmas], sigmas, A, y))
    if kind == 'invfussion':
        net = hdit.HDiT.load(keys['file'])
        A = make_operator(keys, op_options)
        shape = (keys['batch'], *keys['shape'])
        x, y = torch.randn(shape), A.A(torch.rand(shape))
        return torch.no_grad()(lambda: net.denoise(x, keys['sigma'], A, y))
    raise ValueError(f'no workload kind {kind!r}')


GEMM_KINDS = ('matmul', 'mlp', 'idm', 'prior', 'heun', 'ddnm', 'invfussion')


def gflop(kind, call):
    """The floating-point operations of one call, as PyTorch's profiler counts them (convolutions and matrix
    products, from their shapes). A training step counts as three times its forward (forward, and the two
    products of each layer's backward): the useful work, so a reversible step's recomputation shows as lost
    throughput rather than as work done."""
    if kind not in GEMM_KINDS:
        return None
    forward = getattr(call, 'forward', None)
    with torch.no_grad(), torch.profiler.profile(with_flops=True) as prof:
        (forward or call)()
    return (3 if forward else 1) * sum(e.flops for e in prof.key_averages() if e.flops) / 1e9


def main(threads, target_ms):
    set_threads(threads)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)
    current, call, repeats = None, None, 1
    for line in sys.stdin:
        line = line.strip()
        try:
            if line != current:
                current, call = line, prepare(line)
                flops = gflop(line.split()[0], call)
                t0 = time.perf_counter()
                call()
                repeats = max(1, math.ceil(target_ms / max((time.perf_counter() - t0) * 1e3, 1e-6)))
            t0 = time.perf_counter()
            for _ in range(repeats):
                call()
            print(json.dumps({'ms': (time.perf_counter() - t0) * 1e3 / repeats, 'peakBytes': None, 'gflop': flops}), flush=True)
        except Exception as e:  # reported in the row; the next workload still runs
            current = None
            print(json.dumps({'error': f'{type(e).__name__}: {e}'}), flush=True)


if __name__ == '__main__':
    main(int(sys.argv[1]), float(sys.argv[2]))
