"""IDM (Invertible Diffusion Models, papers.md §1) written from the paper and invdiff's documented layout
(native/core/models/idm/*.h): a T-step DDIM chain with data consistency whose steps are reversible
couplings, around a U-Net of reversible resnet / injector / attention couplings. Functional: the weights are
a dict of tensors named as in an invdiff checkpoint (diffusers names where SD 1.5 has the layer).

Two configurations: SD's (ε prediction, one skip per level, no noise embedding) and what IDM.fromPrior builds
from an EDM prior (edm_unet.py): the prior's noise embedding fed each step's σ = √((1 − ᾱ)/ᾱ), EDM
preconditioning, and SD's skip per block, as the prior's U-Net has them.

A coupling maps (x₁, x₂) → ((1 − v)·F(x₁) + v·x₂, x₁) with v = 0.05 + 0.95·sigmoid(logit). The plain
form keeps every activation for autograd; the reversible form is one autograd.Function per sequence that
keeps only its outputs and rebuilds each input pair from the next in backward (x₁ = y₂,
x₂ = (y₁ − (1 − v)·F(x₁))/v), as memory-saving reversible networks do (RevNet; memcnn).
"""
import torch
import torch.nn.functional as F

from blocks import Blocks
from edm_unet import precondition

FLOOR = 0.05


def weight(logit):
    return FLOOR + (1 - FLOOR) * torch.sigmoid(logit)


def couple_plain(layers, a, b, sides):
    for body, logit in layers:
        v = weight(logit)
        a, b = (1 - v) * body(a, sides) + v * b, a
    return a, b


class Reversible(torch.autograd.Function):
    """A coupling sequence that stores its outputs only. inputs = sides + params: every tensor a body reads
    that may need a gradient (the params are read through the bodies' closures)."""

    @staticmethod
    def forward(ctx, layers, n_sides, a, b, *inputs):
        ctx.layers, ctx.n_sides = layers, n_sides
        sides = list(inputs[:n_sides])
        with torch.no_grad():
            a, b = couple_plain(layers, a, b, sides)
        ctx.save_for_backward(a, b, *inputs)
        return a, b

    @staticmethod
    def backward(ctx, ga, gb):
        a, b, *inputs = ctx.saved_tensors
        sides = [s.detach().requires_grad_(s.requires_grad) for s in inputs[:ctx.n_sides]]
        params = inputs[ctx.n_sides:]
        wrt = [t for t in sides + list(params) if t.requires_grad]
        total = [torch.zeros_like(t) for t in wrt]
        for body, logit in reversed(ctx.layers):
            x1 = b.detach().requires_grad_(True)
            with torch.enable_grad():
                v = weight(logit)
                f = body(x1, sides)
                x2 = ((a - (1 - v) * f) / v).detach().requires_grad_(True)
                out = (1 - v) * f + v * x2
            grads = torch.autograd.grad(out, [x1, x2] + wrt, ga, allow_unused=True)
            ga, gb = grads[0] + gb, grads[1]
            total = [s if g is None else s + g for s, g in zip(total, grads[2:])]
            a, b = x1.detach(), x2.detach()
        it = iter(total)
        return (None, None, ga, gb, *[next(it) if t.requires_grad else None for t in list(inputs[:ctx.n_sides]) + list(params)])


class IDM(Blocks):
    def __init__(self, weights, options, reversible):
        o = options
        super().__init__(weights, o.get('groups', 8), o.get('heads', 4))
        self.steps = o.get('steps', 3)
        self.mult = o.get('multipliers', [1, 2])
        self.channels = o.get('channels', 32)
        self.blocks = o.get('blocks', 2)
        levels = len(self.mult)
        self.attention = [bool(x) for x in o.get('attention', [0] * (levels - 1) + [1])]
        self.image_channels = o.get('imageChannels', 1)
        self.block_skips = o.get('skips', 'level') == 'block'
        self.edm = o.get('parameterization', 'eps') == 'edm'
        self.sigma_data = o.get('sigmaData', 0.5)
        self.final_projection = o.get('finalProjection', True)
        self.reversible = reversible
        assert not o.get('duplicateBottleneck', False), 'the reference does not cover duplicateBottleneck'

    def couple(self, layers, a, b, sides, prefix):
        if not layers:
            return a, b
        if not self.reversible:
            return couple_plain(layers, a, b, sides)
        params = [t for k, t in self.P.items() if k.startswith(prefix)]
        return Reversible.apply(layers, len(sides), a, b, *sides, *params)

    def injector(self, f, name, step, op, aty, scale):
        """§1.5: features → an image z → [z, AᵀA z, Aᵀy] → features, added back; weights of step `step`."""
        s = step - 1
        W, b = self.P[name + '.image_weight'][s], self.P[name + '.image_bias'][s]
        V, c = self.P[name + '.feature_weight'][s], self.P[name + '.feature_bias'][s]
        one = lambda x, m: F.conv2d(x, m[:, :, None, None])
        shuffled = f.shape[1] % (scale * scale) == 0
        z = (one(F.pixel_shuffle(f, scale), W) if shuffled else F.pixel_shuffle(one(f, W), scale)) + b[None, :, None, None]
        physics = torch.cat([z, op.At(op.A(z)), aty], 1)
        if shuffled:
            return f + F.pixel_unshuffle(one(physics, V) + c[None, :, None, None], scale)
        return f + one(F.pixel_unshuffle(physics, scale), V) + c[None, :, None, None]

    # ---- the U-Net ----
    def level_couplings(self, prefix, blocks, emb, attention, step, op, scale):
        """blocks: per block, (the resnet index it runs or None, the side its resnet concatenates or None);
        emb: the side holding the noise embedding, or None. Attention pieces follow each resnet; the injectors
        read the last side, Aᵀy. One list of couplings per block."""
        out, n = [], 0

        def add(layers, body):
            nonlocal n
            layers.append((body, self.P[f'{prefix}.coupling_logits.{n}']))
            n += 1

        for j, (r, skip) in enumerate(blocks):
            layers = []
            if r is not None:
                def resnet(x, sides, r=r, skip=skip):
                    x = x if skip is None else torch.cat([x, sides[skip]], 1)
                    return self.resnet(x, f'{prefix}.resnets.{r}', None if emb is None else sides[emb])
                add(layers, resnet)
            if attention:
                add(layers, lambda x, sides, j=j: self.injector(x, f'{prefix}.injectors.{2 * j}', step, op, sides[-1], scale))
                add(layers, lambda x, sides, j=j: self.transformer(x, f'{prefix}.attentions.{j}'))
                add(layers, lambda x, sides, j=j: self.injector(x, f'{prefix}.injectors.{2 * j + 1}', step, op, sides[-1], scale))
            out.append(layers)
        return out

    def unet(self, x, step, op, aty, c_noise=None):
        """ε, or with the EDM parameterization F(x, c_noise). The embedding is a side input of every sequence."""
        levels = len(self.mult)
        emb = None if c_noise is None else self.noise_embedding(c_noise, 'unet.time_embedding').expand(x.shape[0], -1)
        embedded = [] if emb is None else [emb]
        h = self.conv(F.pixel_unshuffle(x, 2), 'unet.conv_in')
        width, skips = self.channels, [h] if self.block_skips else []
        for l in range(levels):
            p, ch, scale = f'unet.down_blocks.{l}', self.channels * self.mult[l], 2 << l
            entry = width != ch  # the first resnet changes the width: not invertible, run before the couplings
            if entry:
                h = self.resnet(h, p + '.resnets.0', emb)
            blocks = [(None if (j == 0 and entry) else j, None) for j in range(self.blocks)]
            layers = self.level_couplings(p, blocks, 0 if emb is not None else None, self.attention[l], step, op, scale)
            a, b, merge = h, self.P[p + '.stream_scale'] * h, self.P[p + '.skip_merge']
            if self.block_skips:  # one sequence per block, each leaving its merged stream as a skip
                for j, block in enumerate(layers):
                    a, b = self.couple(block, a, b, embedded + [aty], p + '.')
                    h = a + merge[j] * b
                    skips.append(h)
            else:
                a, b = self.couple(sum(layers, []), a, b, embedded + [aty], p + '.')
                h = a + merge[0] * b
                skips.append(h)
            width = ch
            if l + 1 < levels:
                h = self.conv(h, p + '.downsamplers.0.conv', 2)
                if self.block_skips:
                    skips.append(h)
        for i in range(levels):
            l = levels - 1 - i
            p, scale = f'unet.up_blocks.{i}', 2 << l
            h = self.resnet(torch.cat([h, skips.pop()], 1), p + '.resnets.0', emb)
            block_skips = [skips.pop() for _ in range(self.blocks)] if self.block_skips else []
            sides = block_skips + embedded + [aty]
            blocks = [(None, None)] + [(j, j - 1 if self.block_skips else None) for j in range(1, self.blocks + 1)]
            layers = self.level_couplings(p, blocks, len(block_skips) if emb is not None else None, self.attention[l], step, op, scale)
            a, b = self.couple(sum(layers, []), h, self.P[p + '.stream_scale'] * h, sides, p + '.')
            h = a + self.P[p + '.skip_merge'][0] * b
            if l > 0:
                h = self.conv(F.interpolate(h, scale_factor=2, mode='nearest'), p + '.upsamplers.0.conv')
        eps = self.conv(F.silu(self.norm(h, 'unet.conv_norm_out', 1e-5)), 'unet.conv_out')
        return F.pixel_shuffle(eps, 2)

    # ---- the chain ----
    def abar(self):
        """ᾱ_1…ᾱ_T: the cumulative product of the learned α."""
        return torch.cumprod(self.P['alpha'].clamp(1e-4, 0.9999), 0)

    def estimate(self, x, t, op, aty, abar):
        """ε̂ and x̂₀ at step t. EDM: x_t = √ᾱ·(x₀ + σ·ε), so the denoiser sees x_t/√ᾱ at σ = √((1 − ᾱ)/ᾱ)."""
        if not self.edm:
            eps = self.unet(x, t, op, aty)
            return eps, (x - torch.sqrt(1 - abar[t - 1]) * eps) / torch.sqrt(abar[t - 1])
        scale = torch.sqrt(abar[t - 1])
        sigma = torch.sqrt(1 - abar[t - 1]) / scale
        c_skip, c_out, c_in, c_noise = precondition(sigma, self.sigma_data)
        xs = x / scale
        x0 = c_skip * xs + c_out * self.unet(xs * c_in, t, op, aty, c_noise)
        return (xs - x0) / sigma, x0

    def reconstruct(self, op, y):
        # Bodies read weights and sides only, never a tensor computed outside them: a reversible backward
        # differentiates each body on its own, and would run such a tensor's backward once per body.
        def step(t):
            def body(x, sides):
                y, abar = sides[0], self.abar()
                eps, x0 = self.estimate(x, t, op, op.At(y), abar)
                x0 = x0 - op.pinv(op.A(x0) - y)  # data consistency: the range of A from y, the null space from x̂₀
                if t == 1:
                    return x0
                return torch.sqrt(abar[t - 2]) * x0 + torch.sqrt(1 - abar[t - 2]) * eps  # DDIM, η = 0
            return body

        chain = [(step(t), self.P[f'coupling_logits.{self.steps - t}']) for t in range(self.steps, 0, -1)]
        start = torch.sqrt(self.abar()[-1]) * op.pinv(y)
        a, b = self.couple(chain, start, self.P['input_scale'] * start, [y], '')
        out = a + self.P['output_merge'] * b
        return out - op.pinv(op.A(out) - y) if self.final_projection and op.noise_std == 0 else out
