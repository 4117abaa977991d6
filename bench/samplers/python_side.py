# The PyTorch side of bench/samplers: the samplers written in PyTorch (Python) around the same small conv
# network shape, timed as the TS side is: ms per NFE and the sampler's own time outside the network.
import json, math, os, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from threads import set_threads  # noqa: E402

set_threads(int(sys.argv[1]))
torch.manual_seed(0)
B, C, H = 8, 3, 32
net = torch.nn.Sequential(torch.nn.Conv2d(C, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(64, C, 3, padding=1))
mask = (torch.rand(1, 1, H, H) < 0.5).float()
y = torch.randn(B, C, H, H) * mask
spent = [0.0]

def denoise(x, s):
    t0 = time.perf_counter()
    sd = 0.5
    out = (sd * sd / (s * s + sd * sd)) * x + (s * sd / math.sqrt(s * s + sd * sd)) * net(x / math.sqrt(s * s + sd * sd))
    spent[0] += time.perf_counter() - t0
    return out

def sigmas(n, smin=0.002, smax=80, rho=7):
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    return [(a + i / (n - 1) * (b - a)) ** rho for i in range(n)] + [0.0]

def noise(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, H, H, generator=g)

def heun(n):
    s = sigmas(n); x = noise(0) * s[0]; nfe = 0
    for i in range(n):
        x0 = denoise(x, s[i]); nfe += 1
        d = (x - x0) / s[i]; xn = x + (s[i + 1] - s[i]) * d
        if s[i + 1] > 0:
            d2 = (xn - denoise(xn, s[i + 1])) / s[i + 1]; nfe += 1
            x = x + (s[i + 1] - s[i]) * (d + d2) / 2
        else:
            x = xn
    return nfe

def euler(n):
    s = sigmas(n); x = noise(0) * s[0]
    for i in range(n):
        x = x + (x - denoise(x, s[i])) * ((s[i + 1] - s[i]) / s[i])
    return n

def ddim(n, eta=0.5):
    s = sigmas(n); x = noise(0) * s[0]
    for i in range(n):
        x0 = denoise(x, s[i]); eps = (x - x0) / s[i]
        c = eta * s[i + 1] * math.sqrt(max(0, 1 - s[i + 1] ** 2 / s[i] ** 2))
        x = x0 + eps * math.sqrt(max(0, s[i + 1] ** 2 - c * c)) + noise(i + 1) * c
    return n

def ddnm(n, eta=0.85):
    s = sigmas(n); x = noise(0) * s[0]
    for i in range(n):
        x0 = denoise(x, s[i]); eps = (x - x0) / s[i]
        x0 = x0 + mask * (y - mask * x0)
        x = x0 + eps * (math.sqrt(1 - eta * eta) * s[i + 1]) + noise(i + 1) * (eta * s[i + 1])
    return n

def ddrm(n, eta=0.85):
    s = sigmas(n); ybar = mask * y; x = ybar + noise(0) * s[0]
    for i in range(n):
        x0 = denoise(x, s[i]); eps = (x - x0) / s[i]; z = noise(i + 1)
        null = x0 + eps * (math.sqrt(1 - eta * eta) * s[i + 1]) + z * (eta * s[i + 1])
        # one draw serves both parts (P z and (I − P) z are independent), as on the TS side
        x = null - mask * null + ybar + mask * z * s[i + 1]
    return n

def pigdm(n):
    s = sigmas(n); x = noise(0) * s[0]
    for i in range(n):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, s[i])
            r = (mask * (y - mask * x0)).detach()
            g, = torch.autograd.grad((x0 * r).sum(), xg)
        x0 = x0.detach()
        x = x + (x - x0) / s[i] * (s[i + 1] - s[i]) + g
    return n

def dps(n, zeta=0.5):
    s = sigmas(n); x = noise(0) * s[0]
    for i in range(n):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoise(xg, s[i])
            g, = torch.autograd.grad((y - mask * x0).flatten(1).norm(dim=1).sum(), xg)
        x0 = x0.detach(); eps = (x - x0) / s[i]
        c = s[i + 1] * math.sqrt(s[i] ** 2 - s[i + 1] ** 2) / s[i]
        x = x0 + eps * math.sqrt(max(0, s[i + 1] ** 2 - c * c)) + noise(i + 1) * c - zeta * g
    return n

def daps(n, ode=5, langevin=20, lr0=1e-4):
    s = sigmas(n); x = noise(0) * s[0]; nfe = 0; tau = 0.01
    for i in range(n):
        sub = sigmas(ode, 0.01, s[i])[:-1] if s[i] > 0.01 else [s[i]]
        z = x
        for k in range(len(sub)):
            d = denoise(z, sub[k]); nfe += 1
            z = d if k == len(sub) - 1 else z + (z - d) * ((sub[k + 1] - sub[k]) / sub[k])
        x0hat = z; xs = x0hat
        lr = min(lr0 * (1 + (i / n) * (0.01 - 1)), 1 / (1 / tau ** 2 + 1 / s[i] ** 2))
        for k in range(langevin):
            grad = mask * (mask * xs - y) / tau ** 2 + (xs - x0hat) / s[i] ** 2
            xs = xs - lr * grad + noise(1000 * (i + 1) + k) * math.sqrt(2 * lr)
        x = xs + noise(1000 * (i + 1) + 999) * s[i + 1]
    return nfe

# Serves the TS side turn by turn: each line read names a sampler, each line written is its timing, so the
# two sides run side by side and the machine's drift hits both alike.
runs = {'heun': (heun, 18), 'euler': (euler, 35), 'ddim': (ddim, 35), 'ddnm': (ddnm, 35), 'ddrm': (ddrm, 35),
        'pigdm': (pigdm, 35), 'dps': (dps, 35), 'daps': (daps, 7)}
warm = set()
with torch.no_grad():
    for line in sys.stdin:
        name = line.strip()
        fn, steps = runs[name]
        if name not in warm:
            fn(4)
            warm.add(name)
        spent[0] = 0.0
        t0 = time.perf_counter(); nfe = fn(steps); total = time.perf_counter() - t0
        print(json.dumps({'msPerNfe': total / nfe * 1e3, 'overheadMsPerNfe': (total - spent[0]) / nfe * 1e3}), flush=True)
