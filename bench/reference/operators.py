"""The operator families' A, Aᵀ and A⁺ in plain PyTorch, from their definitions (native/core/operators/*.h
states them; papers.md §1.2, §2.2, §3 for the families the papers use).

Images are N×C×H×W. Parameters are per batch element: element b's are drawn from a CPU generator seeded
seed + b, in float64, in the order the family's definition draws them, so the same seed gives the same
mask, kernel, permutation or matrix here as in invdiff (both sides are PyTorch's CPU generator). Where
invdiff's A⁺ is iterative (conjugate gradients) the reference is the exact Moore–Penrose inverse of the
dense matrix, which the small test images allow.
"""
import math

import torch
import torch.nn.functional as F

PI = math.pi
NETWORK_GAIN = 100  # the network A⁺ drops frequencies passed at under 1/100 of the peak (InvFusion's deblurring)


def generator(seed):
    return torch.Generator().manual_seed(seed)


def uniform(g):
    return torch.rand(1, generator=g, dtype=torch.float64).item()


def normal(g):
    return torch.randn(1, generator=g, dtype=torch.float64).item()


def below(n, g):
    return 0 if n <= 1 else torch.randint(n, (1,), generator=g).item()


def cround(x):
    """C's round: halves away from zero (Python's round takes halves to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def per_sample(draw, batch, seed):
    return torch.stack([draw(generator(seed + b)) for b in range(batch)])


class Linear:
    """A linear operator on N×C×H×W images; subclasses give A, Aᵀ and A⁺ (default: the dense pseudo-inverse)."""

    def __init__(self, shape, batch):
        self.shape, self.batch = list(shape), batch

    def dense(self):
        """A as a batch × M × D float64 matrix, column j = A e_j."""
        d = math.prod(self.shape)
        basis = torch.eye(d, dtype=torch.float64).reshape(d, *self.shape)
        cols = [self.A(basis.unsqueeze(0).expand(self.batch, *basis.shape)[:, j]) for j in range(d)]
        return torch.stack([c.flatten(1) for c in cols], -1)

    def pinv(self, y):
        p = torch.linalg.pinv(self.dense())  # B×D×M, B = 1 serving any batch
        return (p.to(y.dtype) @ y.flatten(1)[..., None]).reshape(y.shape[0], *self.shape)

    def network_pinv(self, y):
        return self.pinv(y)


class Mask(Linear):
    def __init__(self, shape, masks):
        super().__init__(shape, masks.shape[0])
        self.masks = masks  # B×H×W, 0/1

    def m(self, x):
        return self.masks.to(x.dtype)[:, None]

    def A(self, x):
        return x * self.m(x)

    At = pinv = A


def inpainting_mask(h, w, opts, g):
    random_patches = opts.get('randomPatches', False)
    size = 1 << below(int(math.log2(min(h, w))) + 1, g) if random_patches else opts.get('patchSize', 1)
    ph, pw = -(-h // size), -(-w // size)
    for _ in range(1000):
        p = 0.1 * uniform(g) if random_patches else opts.get('keep', 0.5)
        coarse = (torch.rand(ph, pw, generator=g, dtype=torch.float64) < p).double()
        if not random_patches or coarse.sum() > 0:
            break
    return coarse.repeat_interleave(size, 0).repeat_interleave(size, 1)[:h, :w]


def rectangle_mask(h, w, size, inside, g):
    m = torch.full((h, w), 1.0 - inside, dtype=torch.float64)
    top, left = below(h - size[0] + 1, g), below(w - size[1] + 1, g)
    m[top:top + size[0], left:left + size[1]] = inside
    return m


def gaussian_kernel(size, sigma):
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-r * r / (2 * sigma * sigma))
    k = torch.outer(g, g)
    return k / k.sum()


def motion_kernel(size, intensity, g):
    """A random camera-shake path: unit steps whose velocity drifts by N(0, (0.7·intensity)²) per step and
    reverses with probability 0.05·intensity, scaled into the window and splatted bilinearly."""
    angle = 2 * PI * uniform(g)
    vx, vy = math.cos(angle), math.sin(angle)
    xs, ys = [0.0], [0.0]
    for _ in range(1, 4 * size):
        vx += intensity * 0.7 * normal(g)
        vy += intensity * 0.7 * normal(g)
        if uniform(g) < 0.05 * intensity:
            vx, vy = -vx, -vy
        speed = math.hypot(vx, vy) + 1e-12
        xs.append(xs[-1] + vx / speed)
        ys.append(ys[-1] + vy / speed)
    span = max(max(xs) - min(xs), max(ys) - min(ys)) + 1e-12
    scale, cx, cy = (size - 1) / span, (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    k = torch.zeros(size, size, dtype=torch.float64)
    for px, py in zip(xs, ys):
        x, y = (px - cx) * scale + (size - 1) / 2, (py - cy) * scale + (size - 1) / 2
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for dy in (0, 1):
            for dx in (0, 1):
                if 0 <= x0 + dx < size and 0 <= y0 + dy < size:
                    k[y0 + dy, x0 + dx] += (fx if dx else 1 - fx) * (fy if dy else 1 - fy)
    return k / k.sum()


def centred_spectrum(kernels, h, w):
    """The DFT of each kernel placed on an h×w grid with its centre at the origin (no shift)."""
    k = kernels.shape[-1]
    grid = torch.zeros(kernels.shape[0], h, w, dtype=torch.float64)
    grid[:, :k, :k] = kernels
    return torch.fft.fft2(grid.roll((-(k // 2), -(k // 2)), (1, 2)))


def complex_of(x):
    return torch.complex128 if x.dtype == torch.float64 else torch.complex64


class Blur(Linear):
    """Circular convolution: A = F⁻¹ K̂ F, Aᵀ = F⁻¹ conj(K̂) F, A⁺ = F⁻¹ K̂⁺ F with K̂⁺ = 1/K̂ where
    |K̂| > threshold·max|K̂|, else 0."""

    def __init__(self, shape, kernels, threshold):
        super().__init__(shape, kernels.shape[0])
        self.K = centred_spectrum(kernels, shape[1], shape[2])
        mag = self.K.abs()
        peak = mag.amax((1, 2), keepdim=True)
        inv = torch.where(mag > threshold * peak, 1 / self.K, torch.zeros_like(self.K))
        self.Kp = inv
        self.Kn = torch.where(mag * NETWORK_GAIN >= peak, inv, torch.zeros_like(inv))

    def filt(self, x, r):
        return torch.fft.ifft2(torch.fft.fft2(x) * r.to(complex_of(x))[:, None]).real

    def A(self, x):
        return self.filt(x, self.K)

    def At(self, y):
        return self.filt(y, self.K.conj())

    def pinv(self, y):
        return self.filt(y, self.Kp)

    def network_pinv(self, y):
        return self.filt(y, self.Kn)


class StridedBlur(Linear):
    """InvFussion's strided blur (papers.md §2.2, 3): linear convolution of the image zero-padded to 2H×2W,
    then every s-th sample; measured as the DFT of the decimated result scaled so that it equals the mean of
    the s×s spectral aliases, real and imaginary parts as channels [re₀, im₀, re₁, …]."""

    def __init__(self, shape, kernels, stride, noise_std):
        super().__init__(shape, kernels.shape[0])
        c, h, w = shape
        self.s = stride
        K = centred_spectrum(kernels, 2 * h, 2 * w)
        mag = K.abs()
        spread = mag.amax((1, 2), keepdim=True) - mag.amin((1, 2), keepdim=True)
        self.K = torch.where(mag < 1e-4 * spread, torch.zeros_like(K), K)
        power = self.alias_mean(self.K.abs() ** 2)
        reg = noise_std ** 2 * stride ** 2 / (4 * h * w)
        peak = power.amax((1, 2), keepdim=True)
        self.inv_power = torch.where(power > 1e-12 * peak, 1 / (power + reg), torch.zeros_like(power))
        self.net_power = torch.where(power * NETWORK_GAIN ** 2 >= peak, 1 / power, torch.zeros_like(power))

    def alias_mean(self, t):
        a, b = t.shape[-2] // self.s, t.shape[-1] // self.s
        return t.reshape(*t.shape[:-2], self.s, a, self.s, b).mean((-4, -2))

    def A(self, x):
        h, w = self.shape[1:]
        z = torch.fft.fft2(F.pad(x, (0, w, 0, h))) * self.K.to(complex_of(x))[:, None]
        return torch.view_as_real(self.alias_mean(z)).permute(0, 1, 4, 2, 3).flatten(1, 2)

    def spectrum_of(self, y):
        n, c = y.shape[0], self.shape[0]
        parts = y.reshape(n, c, 2, *y.shape[-2:]).permute(0, 1, 3, 4, 2).contiguous()
        return torch.view_as_complex(parts)

    def At(self, y):
        h, w = self.shape[1:]
        u = self.spectrum_of(y).repeat(1, 1, self.s, self.s) / self.s ** 2
        full = torch.fft.ifft2(u * self.K.conj().to(u.dtype)[:, None]).real * (4 * h * w)
        return full[..., :h, :w]

    def closed(self, y, inv_power):
        h, w = self.shape[1:]
        u = self.spectrum_of(y) * inv_power.to(y.dtype)[:, None]
        return torch.fft.ifft2(u.repeat(1, 1, self.s, self.s) * self.K.conj().to(u.dtype)[:, None]).real[..., :h, :w]

    def pinv(self, y):
        return self.closed(y, self.inv_power)

    def network_pinv(self, y):
        return self.closed(y, self.net_power)


class AveragePool(Linear):
    """Average pooling by f: A Aᵀ = I/f², so A⁺ = f²Aᵀ, nearest-neighbour upsampling."""

    def __init__(self, shape, f):
        super().__init__(shape, 1)
        self.f = f

    def A(self, x):
        return F.avg_pool2d(x, self.f)

    def pinv(self, y):
        return y.repeat_interleave(self.f, -2).repeat_interleave(self.f, -1)

    def At(self, y):
        return self.pinv(y) / self.f ** 2


class Bicubic(Linear):
    """Bicubic resampling (PyTorch's kernel, align_corners false); Aᵀ by autograd; A⁺ dense."""

    def __init__(self, shape, f):
        super().__init__(shape, 1)
        self.out = (shape[1] // f, shape[2] // f)

    def A(self, x):
        return F.interpolate(x, size=self.out, mode='bicubic', align_corners=False)

    def At(self, y):
        x = torch.zeros(y.shape[0], *self.shape, dtype=y.dtype, requires_grad=True)
        with torch.enable_grad():
            return torch.autograd.grad(self.A(x), x, y, create_graph=torch.is_grad_enabled())[0]


def sensing_matrix(n, q, seed):
    """IDM's Φ (papers.md §1.2): the first q columns of the orthogonal factor U·Vᵀ of an N×N standard normal
    matrix drawn in float32 after torch.manual_seed(seed)."""
    g = torch.randn(n, n, generator=generator(seed), dtype=torch.float32).double()
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    return (u @ vh)[:, :q]


class BlockCS(Linear):
    """y = rows(x)·Φ. Plain: each channel's B×B tiles, row-major, as rows. Scrambled: the D values in the
    order of a random permutation π (scrambled[i] = x[π[i]]), zero-padded to whole rows of N."""

    def __init__(self, shape, batch, seed, opts):
        super().__init__(shape, batch)
        self.b = opts.get('blockSize', 32)
        n = self.b * self.b
        q = math.ceil(opts.get('ratio', 0.1) * n - 1e-9)
        self.phi = sensing_matrix(n, q, opts.get('matrixSeed', 2025))
        self.scrambled = opts.get('scrambled', True)
        d = math.prod(shape)
        self.rows = -(-d // n)
        self.n, self.d = n, d
        if self.scrambled:
            self.perm = per_sample(lambda g: torch.randperm(d, generator=g), batch, seed)

    def to_rows(self, x):
        c, h, w = self.shape
        if not self.scrambled:
            b = self.b
            return x.reshape(-1, c, h // b, b, w // b, b).permute(0, 1, 2, 4, 3, 5).reshape(x.shape[0], -1, self.n)
        v = torch.gather(x.flatten(1), 1, self.perm.expand(x.shape[0], -1) if self.perm.shape[0] == 1 else self.perm)
        return F.pad(v, (0, self.rows * self.n - self.d)).reshape(x.shape[0], self.rows, self.n)

    def from_rows(self, r):
        c, h, w = self.shape
        if not self.scrambled:
            b = self.b
            return r.reshape(-1, c, h // b, w // b, b, b).permute(0, 1, 2, 4, 3, 5).reshape(r.shape[0], c, h, w)
        v = r.reshape(r.shape[0], -1)[:, :self.d]
        out = torch.zeros_like(v).scatter(1, self.perm.expand(r.shape[0], -1) if self.perm.shape[0] == 1 else self.perm, v)
        return out.reshape(r.shape[0], c, h, w)

    def A(self, x):
        return self.to_rows(x) @ self.phi.to(x.dtype)

    def At(self, y):
        return self.from_rows(y @ self.phi.to(y.dtype).T)


class Matrix(Linear):
    """Per sample r ~ U{minRows..maxRows} unit-norm Gaussian rows over the D values, zero rows up to maxRows."""

    def __init__(self, shape, batch, seed, opts):
        super().__init__(shape, batch)
        d = math.prod(shape)
        hi = opts.get('maxRows', min(128, d))
        lo = opts.get('minRows', min(2, hi))

        def draw(g):
            r = lo + torch.randint(hi - lo + 1, (1,), generator=g).item()
            rows = torch.randn(r, d, generator=g, dtype=torch.float64)
            return F.pad(rows / rows.norm(dim=1, keepdim=True), (0, 0, 0, hi - r))

        self.M = per_sample(draw, batch, seed)

    def A(self, x):
        return torch.einsum('bmd,bd->bm', self.M.to(x.dtype), x.flatten(1))

    def At(self, y):
        return torch.einsum('bmd,bm->bd', self.M.to(y.dtype), y).reshape(y.shape[0], *self.shape)


def mirror_mask(m):
    """M(−k) on the FFT grid."""
    return m.flip((-2, -1)).roll((1, 1), (-2, -1))


def cartesian_mask(h, w, acceleration, centre, random, g):
    rows = set()
    c = max(1, int(cround(h * centre)))
    for d in range(-(c // 2), c - c // 2):
        rows |= {d % h, (-d) % h}
    target = cround(h / acceleration)
    if random:
        for k in torch.randperm(h // 2 + 1, generator=g).tolist():
            if len(rows) >= target:
                break
            rows |= {k, (h - k) % h}
    else:
        for k in range(0, h, max(1, int(cround(acceleration)))):
            rows |= {k, (h - k) % h}
    m = torch.zeros(h, w, dtype=torch.float64)
    m[sorted(rows)] = 1
    return m


def radial_mask(h, w, spokes, g):
    rotation = uniform(g) * PI / spokes
    m = torch.zeros(h, w, dtype=torch.float64)
    radius = math.hypot(h, w) / 2
    for j in range(spokes):
        a = rotation + PI * j / spokes
        for i in range(int(radius / 0.25) + 1):
            t = i * 0.25
            dy, dx = cround(t * math.sin(a)), cround(t * math.cos(a))
            for sign in (1, -1):
                y, x = int(h // 2 + sign * dy), int(w // 2 + sign * dx)
                if 0 <= y < h and 0 <= x < w:
                    m[y, x] = 1
    return torch.fft.ifftshift(m)


class Mri(Linear):
    """y = M ⊙ F x (unitary FFT), real and imaginary parts as channels. For a conjugate-symmetric mask and
    real x, A Aᵀ is the identity on the measured coefficients' real span, so A⁺ = Aᵀ."""

    def __init__(self, shape, masks):
        super().__init__(shape, masks.shape[0])
        self.masks = masks

    def A(self, x):
        k = torch.fft.fft2(x, norm='ortho') * self.masks.to(x.dtype)[:, None]
        return torch.view_as_real(k).permute(0, 1, 4, 2, 3).flatten(1, 2)

    def At(self, y):
        c, h, w = self.shape
        k = torch.view_as_complex(y.reshape(y.shape[0], c, 2, h, w).permute(0, 1, 3, 4, 2).contiguous())
        return torch.fft.ifft2(k * self.masks.to(y.dtype)[:, None], norm='ortho').real

    pinv = At


def radon_matrix(h, w, views, detectors):
    """Parallel-beam projections: ray (view v, detector d) sums bilinear samples at unit steps t over
    [−detectors/2, detectors/2] of the point d'·(cos θ, sin θ) + t·(−sin θ, cos θ) about the image centre."""
    t = torch.arange(-detectors / 2, detectors / 2 + 1e-9, 1.0, dtype=torch.float64)
    theta = PI * torch.arange(views, dtype=torch.float64) / views
    offset = torch.arange(detectors, dtype=torch.float64) - (detectors - 1) / 2
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    o, tt = offset[None, :, None], t[None, None, :]
    x = o * c - tt * s + (w - 1) / 2
    y = o * s + tt * c + (h - 1) / 2
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    ray = torch.arange(views * detectors).reshape(views, detectors, 1).expand_as(x)
    M = torch.zeros(views * detectors, h * w, dtype=torch.float64)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = (x0 + dx).long(), (y0 + dy).long()
            wgt = (fx if dx else 1 - fx) * (fy if dy else 1 - fy)
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            M.index_put_((ray[ok], (yi * w + xi)[ok]), wgt[ok], accumulate=True)
    return M


class Ct(Linear):
    """Sparse-view CT; its closed-form A⁺ is filtered back-projection with the spatial Ram-Lak filter
    (h₀ = ¼, h_k = −1/(πk)² for odd k; Kak & Slaney), scaled by π/views."""

    def __init__(self, shape, opts):
        super().__init__(shape, 1)
        c, h, w = shape
        self.views = opts.get('views', 60)
        self.det = opts.get('detectors', math.ceil(math.hypot(h, w)))
        self.M = radon_matrix(h, w, self.views, self.det)

    def A(self, x):
        n, c = x.shape[:2]
        return (x.reshape(n, c, -1) @ self.M.T.to(x.dtype)).reshape(n, c, self.views, self.det)

    def At(self, y):
        n, c = y.shape[:2]
        return (y.reshape(n, c, -1) @ self.M.to(y.dtype)).reshape(n, c, *self.shape[1:])

    def fbp(self, y):
        n = 2 * self.det
        k = torch.arange(n)
        dist = torch.minimum(k, n - k).double()
        filt = torch.where(dist % 2 == 1, -1 / (PI * dist) ** 2, torch.zeros(n, dtype=torch.float64))
        filt[0] = 0.25
        filt[(dist >= self.det)] = 0
        response = torch.fft.rfft(filt).real.to(y.dtype)
        filtered = torch.fft.irfft(torch.fft.rfft(y, n) * response, n)[..., :self.det]
        return self.At(filtered) * (PI / self.views)


def create(family, opts):
    """The operator invdiff.operators.create(family, opts) builds, for images opts['imageShape']."""
    shape = opts['imageShape']
    c, h, w = shape
    batch, seed = opts.get('batch', 1), opts.get('seed', 0)
    cg = opts.get('pinv', 'closed') == 'cg'
    if family in ('none', 'denoising'):
        op = Mask(shape, torch.full((1, h, w), float(family == 'denoising'), dtype=torch.float64))
    elif family == 'inpainting':
        op = Mask(shape, per_sample(lambda g: inpainting_mask(h, w, opts, g), batch, seed))
    elif family in ('boxInpainting', 'outpainting'):
        key, inside = ('boxSize', 0.0) if family == 'boxInpainting' else ('visibleSize', 1.0)
        size = opts.get(key, [h // 2, w // 2])
        op = Mask(shape, per_sample(lambda g: rectangle_mask(h, w, size, inside, g), batch, seed))
    elif family == 'blur':
        if opts.get('kernel', 'gaussian') == 'gaussian':
            sigma = opts.get('sigma', 2.0)
            size = opts.get('kernelSize', min(2 * math.ceil(3 * sigma) + 1, min(h, w)))
            kernels = gaussian_kernel(size, sigma)[None]
        else:
            size = opts.get('kernelSize', min(15, min(h, w)))
            kernels = per_sample(lambda g: motion_kernel(size, opts.get('intensity', 0.5), g), batch, seed)
        op = Blur(shape, kernels, opts.get('pinvThreshold', 1e-6))
    elif family == 'stridedBlur':
        s = opts.get('stride', 2)
        size = max(3, min(h, w) // 2)
        gauss = gaussian_kernel(min(2 * 3 * s + 1, 2 * size + 1), float(s))

        def draw(g):
            intensity = opts['intensity'] if 'intensity' in opts else uniform(g)
            k = F.conv2d(motion_kernel(size, intensity, g)[None, None], gauss.flip((0, 1))[None, None], padding=gauss.shape[0] // 2)[0, 0]
            return k / k.sum()

        op = StridedBlur(shape, per_sample(draw, batch, seed), s, opts.get('noiseStd', 0.0))
    elif family == 'superResolution':
        f = opts.get('factor', 2)
        op = Bicubic(shape, f) if opts.get('downsample', 'average') == 'bicubic' else AveragePool(shape, f)
    elif family == 'blockCS':
        op = BlockCS(shape, batch, seed, opts)
        cg = True  # a scrambled last row holds fewer than N values; the dense A⁺ covers both cases
    elif family == 'matrix':
        op = Matrix(shape, batch, seed, opts)
        cg = True
    elif family == 'mri':
        if opts.get('sampling', 'cartesian') == 'cartesian':
            acc = opts.get('acceleration', 4)
            centre = opts.get('centreFraction', 0.04 if acc >= 8 else 0.08)
            random = opts.get('lines', 'random') == 'random'
            masks = per_sample(lambda g: cartesian_mask(h, w, acc, centre, random, g), batch, seed)
        else:
            acc = opts.get('acceleration', 4)
            spokes = opts.get('spokes', max(1, int(cround(PI / 2 * max(h, w) / acc))))
            masks = per_sample(lambda g: radial_mask(h, w, spokes, g), batch, seed)
        op = Mri(shape, torch.maximum(masks, mirror_mask(masks)))
    elif family == 'ct':
        op = Ct(shape, opts)
        if not cg:
            op.pinv = op.fbp
    else:
        raise ValueError(f'reference operators: no family {family!r}')
    if cg:
        op.pinv = lambda y, op=op: Linear.pinv(op, y)
    op.noise_std = opts.get('noiseStd', 0.0)  # IDM projects its output only for noiseless operators
    return op
