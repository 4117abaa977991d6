"""IDM (Invertible Diffusion Models, papers.md §1) written from the paper and invdiff's documented layout
(native/core/models/idm/*.h): a T-step DDIM chain with data consistency whose steps are reversible
couplings, around a U-Net of reversible resnet / injector / attention couplings. Functional: the weights are
a dict of tensors named as in an invdiff checkpoint (diffusers names where SD 1.5 has the layer).

A coupling maps (x₁, x₂) → ((1 − v)·F(x₁) + v·x₂, x₁) with v = 0.05 + 0.95·sigmoid(logit). The plain
form keeps every activation for autograd; the reversible form is one autograd.Function per sequence that
keeps only its outputs and rebuilds each input pair from the next in backward (x₁ = y₂,
x₂ = (y₁ − (1 − v)·F(x₁))/v), as memory-saving reversible networks do (RevNet; memcnn).
"""
import math

import torch
import torch.nn.functional as F

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


class IDM:
    def __init__(self, weights, options, reversible):
        self.P = weights
        o = options
        self.steps = o.get('steps', 3)
        self.mult = o.get('multipliers', [1, 2])
        self.channels = o.get('channels', 32)
        self.blocks = o.get('blocks', 2)
        levels = len(self.mult)
        self.attention = [bool(x) for x in o.get('attention', [0] * (levels - 1) + [1])]
        self.heads = o.get('heads', 4)
        self.groups = o.get('groups', 8)
        self.image_channels = o.get('imageChannels', 1)
        self.reversible = reversible
        assert o.get('skips', 'level') == 'level' and o.get('parameterization', 'eps') == 'eps', 'the reference covers level skips and ε prediction'

    def couple(self, layers, a, b, sides, prefix):
        if not self.reversible:
            return couple_plain(layers, a, b, sides)
        params = [t for k, t in self.P.items() if k.startswith(prefix)]
        return Reversible.apply(layers, len(sides), a, b, *sides, *params)

    # ---- layers ----
    def conv(self, x, name, stride=1):
        w = self.P[name + '.weight']
        return F.conv2d(x, w, self.P[name + '.bias'], stride, w.shape[-1] // 2)

    def norm(self, x, name, eps):
        return F.group_norm(x, self.groups, self.P[name + '.weight'], self.P[name + '.bias'], eps)

    def linear(self, x, name):
        return F.linear(x, self.P[name + '.weight'], self.P.get(name + '.bias'))

    def resnet(self, x, name):
        h = self.conv(F.silu(self.norm(x, name + '.norm1', 1e-5)), name + '.conv1')
        h = self.conv(F.silu(self.norm(h, name + '.norm2', 1e-5)), name + '.conv2')
        skip = self.conv(x, name + '.conv_shortcut') if name + '.conv_shortcut.weight' in self.P else x
        return skip + h

    def transformer(self, x, name):
        """SD's Transformer2D without cross-attention: self-attention and a GEGLU feed-forward on the tokens."""
        n, c, h, w = x.shape
        d = c // self.heads
        t = self.conv(self.norm(x, name + '.norm', 1e-6), name + '.proj_in').flatten(2).transpose(1, 2)
        blk = name + '.transformer_blocks.0'
        u = F.layer_norm(t, (c,), self.P[blk + '.norm1.weight'], self.P[blk + '.norm1.bias'])
        heads = lambda z: z.reshape(n, h * w, self.heads, d).transpose(1, 2)
        q, k, v = (heads(self.linear(u, f'{blk}.attn1.to_{s}')) for s in 'qkv')
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1) @ v
        t = t + self.linear(att.transpose(1, 2).reshape(n, h * w, c), blk + '.attn1.to_out.0')
        value, gate = self.linear(F.layer_norm(t, (c,), self.P[blk + '.norm3.weight'], self.P[blk + '.norm3.bias']), blk + '.ff.net.0.proj').chunk(2, -1)
        t = t + self.linear(value * F.gelu(gate), blk + '.ff.net.2')
        return self.conv(t.transpose(1, 2).reshape(n, c, h, w), name + '.proj_out') + x

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
    def level_couplings(self, prefix, blocks, attention, step, op, scale):
        """blocks: per block, the resnet index it runs (None for none); attention pieces follow each resnet."""
        layers, n = [], 0

        def add(body):
            nonlocal n
            layers.append((body, self.P[f'{prefix}.coupling_logits.{n}']))
            n += 1

        for j, r in enumerate(blocks):
            if r is not None:
                add(lambda x, sides, r=r: self.resnet(x, f'{prefix}.resnets.{r}'))
            if attention:
                add(lambda x, sides, j=j: self.injector(x, f'{prefix}.injectors.{2 * j}', step, op, sides[-1], scale))
                add(lambda x, sides, j=j: self.transformer(x, f'{prefix}.attentions.{j}'))
                add(lambda x, sides, j=j: self.injector(x, f'{prefix}.injectors.{2 * j + 1}', step, op, sides[-1], scale))
        return layers

    def unet(self, x, step, op, aty):
        levels = len(self.mult)
        h = self.conv(F.pixel_unshuffle(x, 2), 'unet.conv_in')
        width, skips = self.channels, []
        for l in range(levels):
            p, ch, scale = f'unet.down_blocks.{l}', self.channels * self.mult[l], 2 << l
            entry = width != ch  # the first resnet changes the width: not invertible, run before the couplings
            if entry:
                h = self.resnet(h, p + '.resnets.0')
            blocks = [None if (j == 0 and entry) else j for j in range(self.blocks)]
            a, b = self.couple(self.level_couplings(p, blocks, self.attention[l], step, op, scale), h, self.P[p + '.stream_scale'] * h, [aty], p + '.')
            h = a + self.P[p + '.skip_merge'][0] * b
            skips.append(h)
            width = ch
            if l + 1 < levels:
                h = self.conv(h, p + '.downsamplers.0.conv', 2)
        for i in range(levels):
            l = levels - 1 - i
            p, scale = f'unet.up_blocks.{i}', 2 << l
            h = self.resnet(torch.cat([h, skips.pop()], 1), p + '.resnets.0')
            blocks = [None] + list(range(1, self.blocks + 1))
            a, b = self.couple(self.level_couplings(p, blocks, self.attention[l], step, op, scale), h, self.P[p + '.stream_scale'] * h, [aty], p + '.')
            h = a + self.P[p + '.skip_merge'][0] * b
            if l > 0:
                h = self.conv(F.interpolate(h, scale_factor=2, mode='nearest'), p + '.upsamplers.0.conv')
        eps = self.conv(F.silu(self.norm(h, 'unet.conv_norm_out', 1e-5)), 'unet.conv_out')
        return F.pixel_shuffle(eps, 2)

    # ---- the chain ----
    def abar(self):
        """ᾱ_1…ᾱ_T: the cumulative product of the learned α."""
        return torch.cumprod(self.P['alpha'].clamp(1e-4, 0.9999), 0)

    def reconstruct(self, op, y):
        # Bodies read weights and sides only, never a tensor computed outside them: a reversible backward
        # differentiates each body on its own, and would run such a tensor's backward once per body.
        def step(t):
            def body(x, sides):
                y, abar = sides[0], self.abar()
                eps = self.unet(x, t, op, op.At(y))
                x0 = (x - torch.sqrt(1 - abar[t - 1]) * eps) / torch.sqrt(abar[t - 1])
                x0 = x0 - op.pinv(op.A(x0) - y)  # data consistency: the range of A from y, the null space from x̂₀
                if t == 1:
                    return x0
                return torch.sqrt(abar[t - 2]) * x0 + torch.sqrt(1 - abar[t - 2]) * eps  # DDIM, η = 0
            return body

        chain = [(step(t), self.P[f'coupling_logits.{self.steps - t}']) for t in range(self.steps, 0, -1)]
        start = torch.sqrt(self.abar()[-1]) * op.pinv(y)
        a, b = self.couple(chain, start, self.P['input_scale'] * start, [y], '')
        return a + self.P['output_merge'] * b
