# The PyTorch side of bench/operators: inpainting, stridedBlur, blockCS and mri written directly in PyTorch
# (Python) on the same LibTorch, timed like the TS side: forward, adjoint, pinv in ms at batch 8.
import json, math, sys, time
import torch

torch.set_num_threads(int(sys.argv[1]))
B = 8

def best_ms(fn, repeats=5, inner=5):
    fn()
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner * 1e3)
    return best

def inpainting(c, h, w):
    mask = (torch.rand(B, 1, h, w) < 0.5).float()
    x = torch.randn(B, c, h, w)
    f = lambda: x * mask
    return f, f, f

def strided_blur(c, h, w, s=4):
    k = torch.rand(B, 1, 2 * h, 2 * w, dtype=torch.complex64)
    x = torch.randn(B, c, h, w)
    inv_power = torch.rand(B, 1, 2 * h // s, 2 * w // s)
    def alias_mean(z):
        return z.reshape(B, c, s, 2 * h // s, s, 2 * w // s).mean(dim=(2, 4))
    def forward():
        z = torch.fft.fft2(torch.nn.functional.pad(x, (0, w, 0, h))) * k
        return torch.view_as_real(alias_mean(z)).permute(0, 1, 4, 2, 3).flatten(1, 2)
    y = forward()
    def to_complex(y):
        return torch.view_as_complex(y.unflatten(1, (c, 2)).permute(0, 1, 3, 4, 2).contiguous())
    def adjoint():
        u = to_complex(y).repeat(1, 1, s, s) / (s * s)
        return torch.fft.ifft2(u * k.conj()).real[..., :h, :w] * (4 * h * w)
    def pinv():
        u = (to_complex(y) * inv_power).repeat(1, 1, s, s)
        return torch.fft.ifft2(u * k.conj()).real[..., :h, :w]
    return forward, adjoint, pinv

def block_cs(c, h, w, ratio=0.1, n=1024):
    q = math.ceil(ratio * n)
    phi = torch.linalg.qr(torch.randn(n, n))[0][:, :q].contiguous()
    d = c * h * w
    rows = (d + n - 1) // n
    perm = torch.stack([torch.randperm(d) for _ in range(B)])
    inverse = torch.argsort(perm, dim=1)
    x = torch.randn(B, c, h, w)
    def forward():
        v = x.flatten(1).gather(1, perm)
        return torch.nn.functional.pad(v, (0, rows * n - d)).reshape(B, rows, n) @ phi
    y = forward()
    def adjoint():
        v = (y @ phi.t()).reshape(B, rows * n)[:, :d]
        return v.gather(1, inverse).reshape(B, c, h, w)
    return forward, adjoint, adjoint

def mri(c, h, w):
    mask = (torch.rand(B, 1, h, 1) < 0.25).float().expand(B, 1, h, w)
    x = torch.randn(B, c, h, w)
    def forward():
        return torch.view_as_real(torch.fft.fft2(x, norm='ortho') * mask).permute(0, 1, 4, 2, 3).flatten(1, 2)
    y = forward()
    def adjoint():
        k = torch.view_as_complex(y.unflatten(1, (c, 2)).permute(0, 1, 3, 4, 2).contiguous()) * mask
        return torch.fft.ifft2(k, norm='ortho').real
    return forward, adjoint, adjoint

out = {}
only = sys.argv[2:]
for name, make in [('inpainting', inpainting), ('stridedBlur', strided_blur), ('blockCS', block_cs), ('mri', mri)]:
    if only and name not in only:
        continue
    for shape in [(1, 256, 256), (3, 64, 64)]:
        f, a, p = make(*shape)
        out[f"{name} {'x'.join(map(str, shape))}"] = [best_ms(f), best_ms(a), best_ms(p)]
print(json.dumps(out))
