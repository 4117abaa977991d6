# The PyTorch side of bench/overhead: the same measurements through PyTorch's Python API on the same LibTorch.
import json, sys, time
import torch

threads = int(sys.argv[1])
torch.set_num_threads(threads)

def best_of(fn, repeats=5):
    best = float('inf')
    for _ in range(repeats):
        best = min(best, fn())
    return best

def small_add():
    a, b = torch.ones(4), torch.ones(4)
    n = 200_000
    t0 = time.perf_counter()
    for _ in range(n):
        a + b
    return (time.perf_counter() - t0) / n * 1e6  # µs per op

def matmul():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    t0 = time.perf_counter()
    for _ in range(3):
        a @ b
    return 2 * 2048 ** 3 * 3 / (time.perf_counter() - t0) / 1e9  # GFLOP/s

def mlp_step():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.randn(128, 64), torch.randn(128, 10)
    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    for _ in range(100):
        step()
    n = 300
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1e3  # ms per step

print(json.dumps({
    'torch': torch.__version__,
    'addUs': best_of(small_add),
    'matmulGflops': max(matmul() for _ in range(3)),
    'mlpStepMs': best_of(mlp_step, 3),
}))
