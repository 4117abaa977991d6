"""The hourglass diffusion transformer (HDiT, Crowson et al. 2024; papers.md §4.2) with InvFusion's Feature
Degradation layers and joint attention (papers.md §2.3–2.5, §2.11), written from the papers and invdiff's
documented layout (native/core/models/diffusion/hdit.h, native/core/nn/transformer_layer.h,
feature_degradation.h), in the three conditionings invdiff builds from one code path:
  'none'       the unconditional prior, reading x only;
  'palette'    reading A⁺y beside x (the degradation-blind baseline);
  'invfussion' reading A⁺y beside x, and in every layer of the levels with Feature Degradation layers
               ỹ = FD(layer input; A, y) through joint attention.
Around it, EDM preconditioning (edm_unet.precondition) and EDM2's learned log-variance u(σ). Functional:
the weights are a dict of tensors named as in an invdiff checkpoint. float32 or float64 throughout (invdiff
lifts half precision to float32 around A and A⁺), and no dropout: the cases use neither.

Tokens are channels-last (B, h, w, width). A merge of f×f tokens (and the input patching) concatenates their
channels row offset first, then column offset, then channel, as k-diffusion's TokenMerge does; it is a
pixel-unshuffle with the channel moved last."""
import json
import math

import torch
import torch.nn.functional as F

import neighborhood_attention
import safetensors_io
from blocks import Blocks
from edm_unet import precondition

# invdiff's presets and defaults (hdit.h); a model's options override them. The feed-forward widths are the
# weights' own.
PRESETS = {
    'cpu32': {'imageChannels': 1, 'patch': 2, 'widths': [64, 128], 'depths': [2, 4], 'kernelSizes': [7, 0], 'headDim': 32},
    'ffhq64': {'imageChannels': 3, 'patch': 2, 'widths': [384, 768, 1536], 'depths': [2, 2, 8], 'kernelSizes': [7, 7, 0], 'headDim': 64},
}
DEFAULTS = {'mappingWidth': 256, 'mappingDepth': 2, 'sigmaData': 0.5}
CONDITIONING = {'unconditional': 'none', 'palette': 'palette', 'invfussion': 'invfussion'}
EPS = 1e-6  # RMSNorm's and the cosine-similarity normalisation's


def merge(t, f):
    """(B, h·f, w·f, C) → (B, h, w, f·f·C), channels ordered (row offset, column offset, C)."""
    c = t.shape[-1]
    u = F.pixel_unshuffle(t.permute(0, 3, 1, 2), f).unflatten(1, (c, f, f))  # B, C, f, f, h, w
    return u.permute(0, 4, 5, 2, 3, 1).flatten(3)


def split(t, f):
    """merge's inverse: (B, h, w, f·f·C) → (B, h·f, w·f, C)."""
    u = t.unflatten(-1, (f, f, -1)).permute(0, 5, 3, 4, 1, 2).flatten(1, 3)  # B, C·f·f, h, w
    return F.pixel_shuffle(u, f).permute(0, 2, 3, 1)


def unpatch_stack(a, patch, channels):
    """FD step 1 (§2.3): tokens (B, h, w, P·P·K·C) read as K images (B, K, C, h·P, w·P), the channels split as
    (P, P, K, C) and pixel-shuffled."""
    b, h, w, width = a.shape
    k = width // (patch * patch * channels)
    u = a.unflatten(-1, (patch, patch, k, channels)).permute(0, 5, 6, 3, 4, 1, 2)  # B, K, C, P, P, h, w
    return F.pixel_shuffle(u.reshape(b, k * channels * patch * patch, h, w), patch).unflatten(1, (k, channels))


def repatch_stack(s, patch):
    """unpatch_stack's inverse (FD step 6)."""
    b, k, c = s.shape[:3]
    u = F.pixel_unshuffle(s.flatten(1, 2), patch).unflatten(1, (k, c, patch, patch))  # B, K, C, P, P, h, w
    return u.permute(0, 5, 6, 3, 4, 1, 2).flatten(3)


def on_stack(apply, stack):
    """A reference operator takes N×C×H×W; a stack (B, K, …) is K calls, each sharing element b's parameters."""
    return torch.stack([apply(stack[:, k]) for k in range(stack.shape[1])], 1)


def rms_norm(x, scale):
    return x * (x.square().mean(-1, keepdim=True) + EPS).rsqrt() * scale


def grid_positions(h, w, dtype):
    """Token centres on [−1, 1]², (h, w, 2): averaging 2×2 groups of them gives the next level's."""
    centres = lambda n: (torch.arange(n, dtype=dtype) * 2 + 1) / n - 1
    return torch.stack(torch.meshgrid(centres(h), centres(w), indexing='ij'), -1)


def rope_frequencies(heads, head_dim):
    """Axial RoPE's: head_dim/8 per axis and head, log-spaced over [π, 10π), interleaved across heads
    (frequency n·heads + h is head h's n-th), (heads, head_dim/8)."""
    per_axis = head_dim // 8
    f = torch.linspace(math.log(math.pi), math.log(10 * math.pi), heads * per_axis + 1, dtype=torch.float64)[:-1].exp()
    return f.view(per_axis, heads).T.float()


def rotate(x, theta):
    """RoPE on the first head_dim/2 dimensions, pairs (i, i + head_dim/4) turned by theta; the rest pass."""
    q = theta.shape[-1]
    x1, x2, rest = x[..., :q], x[..., q:2 * q], x[..., 2 * q:]
    return torch.cat([x1 * theta.cos() - x2 * theta.sin(), x2 * theta.cos() + x1 * theta.sin(), rest], -1)


def fixed_random(n, seed, normal):
    """invdiff's fixed Fourier buffers: drawn in float64 from a CPU generator of a fixed seed, kept in float32."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn if normal else torch.rand)(n, generator=g, dtype=torch.float64).float()


class HDiT:
    def __init__(self, weights, options, conditioning):
        o = {**DEFAULTS, **PRESETS[options.get('preset', 'cpu32')], **options}
        self.P, self.conditioning, self.o = weights, conditioning, o
        self.channels, self.patch, self.widths = o['imageChannels'], o['patch'], o['widths']
        levels = len(self.widths)
        fits = [self.widths[l] % ((self.patch << l) ** 2 * self.channels) == 0 for l in range(levels)]
        self.fd = [bool(f) for f in o.get('featureDegradation', fits)] if conditioning == 'invfussion' else [False] * levels
        self.time_frequencies = fixed_random(o['mappingWidth'] // 2, 0x4D1D17, True) * (2 * math.pi)
        self.logvar_frequencies = fixed_random(128, 0x10C7A2, True) * (2 * math.pi)
        self.logvar_phases = fixed_random(128, 0x10C7A3, False) * (2 * math.pi)

    @staticmethod
    def load(path):
        """A checkpoint as invdiff loads it: kind and options from the metadata, float16 weights made float32."""
        meta = safetensors_io.metadata(path)
        options = json.loads(meta.get('invdiff.options', '{}'))
        return HDiT({k: v.float() for k, v in safetensors_io.load(path).items()}, options, CONDITIONING[meta['invdiff.kind']])

    linear = Blocks.linear  # F.linear by weight name, the bias where there is one

    def ada_rms_norm(self, x, cond, name):
        """RMSNorm with the gain 1 + Linear(cond), per image."""
        gain = self.linear(cond, name + '.linear') + 1
        return rms_norm(x, gain.reshape(x.shape[0], *[1] * (x.dim() - 2), x.shape[-1]))

    def geglu(self, x, name):
        value, gate = self.linear(x, name).chunk(2, -1)
        return value * F.gelu(gate)

    def mapping(self, c_noise):
        """Random Fourier features of c_noise → Linear → RMSNorm → residual GEGLU blocks → RMSNorm."""
        angles = c_noise[:, None] * self.time_frequencies.to(c_noise.dtype)[None]
        cond = rms_norm(self.linear(torch.cat([angles.cos(), angles.sin()], 1), 'time_in_proj'), self.P['mapping.in_norm.scale'])
        for i in range(self.o['mappingDepth']):
            b = f'mapping.blocks.{i}'
            cond = cond + self.linear(self.geglu(rms_norm(cond, self.P[b + '.norm.scale']), b + '.up_proj'), b + '.down_proj')
        return rms_norm(cond, self.P['mapping.out_norm.scale'])

    def feature_degradation(self, a, op, y, name, patch):
        """FD(a) = Patch(A⁺(GELU(T([y; A·Unpatch(a)])))), T a Linear(K+1 → K) with bias at every measurement
        coordinate, A⁺ the network's (op.network_pinv)."""
        u = on_stack(op.A, unpatch_stack(a, patch, self.channels))  # B, K, …m
        joined = torch.cat([y.to(u.dtype)[:, None], u], 1).flatten(2)  # B, K+1, M
        mixed = F.gelu(self.P[name + '.mix.weight'] @ joined + self.P[name + '.mix.bias'][:, None])
        return repatch_stack(on_stack(op.network_pinv, mixed.reshape(u.shape)), patch)

    def layer(self, x, positions, cond, y_tilde, name, kernel, joint):
        """AdaRMSNorm → cosine-similarity attention (axial RoPE; with `joint`, keys and values from ỹ too) →
        residual; AdaRMSNorm → GEGLU feed-forward → residual."""
        head_dim = self.o['headDim']
        heads = x.shape[-1] // head_dim
        split_heads = lambda t: t.unflatten(-1, (heads, head_dim)).permute(0, 3, 1, 2, 4)  # B, heads, h, w, d
        f = rope_frequencies(heads, head_dim).to(x.dtype)
        theta = torch.cat([positions[..., :1, None] * f, positions[..., 1:, None] * f], -1).permute(2, 0, 1, 3)[None]
        sqrt_scale = self.P[name + '.scale'].sqrt().view(1, heads, 1, 1, 1)
        # q and k L2-normalised per head, times √scale each (the softmax's scale is then 1), then rotated.
        key_like = lambda t: rotate(t * (t.square().sum(-1, keepdim=True) + EPS).rsqrt() * sqrt_scale, theta)
        xn = self.ada_rms_norm(x, cond, name + '.norm')
        q, k, v = (split_heads(t) for t in self.linear(xn, name + '.qkv_proj').chunk(3, -1))
        keys, values = [key_like(k)], [v]
        if joint:
            yn = self.ada_rms_norm(torch.zeros_like(x) if y_tilde is None else y_tilde, cond, name + '.joint_norm')
            keys.append(key_like(split_heads(self.linear(torch.cat([xn, yn], -1), name + '.joint_k_proj'))))
            values.append(split_heads(self.linear(yn, name + '.joint_v_proj')))
        h, w = x.shape[1:3]
        if kernel and h >= kernel and w >= kernel:
            a = neighborhood_attention.attention(key_like(q), keys, values, kernel, 1.0)
        else:
            tokens = lambda ts: torch.cat([t.flatten(2, 3) for t in ts], 2)  # B, heads, sets·h·w, d
            a = (torch.softmax(tokens([key_like(q)]) @ tokens(keys).transpose(-1, -2), -1) @ tokens(values)).unflatten(2, (h, w))
        x = x + self.linear(a.permute(0, 2, 3, 1, 4).flatten(3), name + '.out_proj')
        return x + self.linear(self.geglu(self.ada_rms_norm(x, cond, name + '.ff_norm'), name + '.up_proj'), name + '.down_proj')

    def stage(self, x, prefix, level, cond, measured):
        positions = grid_positions(x.shape[1], x.shape[2], x.dtype)
        for j in range(self.o['depths'][level]):
            name = f'{prefix}.{j}'
            y_tilde = self.feature_degradation(x, *measured, name + '.fd', self.patch << level) if self.fd[level] and measured else None
            x = self.layer(x, positions, cond, y_tilde, name + '.layer', self.o['kernelSizes'][level], self.fd[level])
        return x

    def network(self, inputs, c_noise, measured):
        """F(input, c_noise): patching, encoder levels with 2×2 token merges, the middle level, decoder levels
        whose input is lerp(skip, TokenSplit(x), f), RMSNorm and the output projection, un-patched."""
        cond = self.mapping(c_noise)
        x = self.linear(merge(inputs.permute(0, 2, 3, 1), self.patch), 'patch_in')
        levels = len(self.widths)
        skips = []
        for l in range(levels - 1):
            x = self.stage(x, f'down_levels.{l}', l, cond, measured)
            skips.append(x)
            x = self.linear(merge(x, 2), f'merges.{l}.proj')
        x = self.stage(x, 'mid_level', levels - 1, cond, measured)
        for l in reversed(range(levels - 1)):
            x = torch.lerp(skips[l], split(self.linear(x, f'splits.{l}.proj'), 2), self.P[f'splits.{l}.fac'])
            x = self.stage(x, f'up_levels.{l}', l, cond, measured)
        x = self.linear(rms_norm(x, self.P['out_norm.scale']), 'patch_out')
        return split(x, self.patch).permute(0, 3, 1, 2)

    def denoise(self, x, sigma, op=None, y=None):
        """D(x; σ[, A, y]) for one σ (a number) or one per image. Palette and InvFussion read A⁺y (network A⁺,
        zeros without a measurement); InvFussion's FD layers read A and y too (ỹ = 0 without them)."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(x.shape[0])
        c_skip, c_out, c_in, c_noise = (c.reshape(-1, 1, 1, 1) for c in precondition(sigma, self.o['sigmaData']))
        inputs = x * c_in
        if self.conditioning != 'none':
            inputs = torch.cat([inputs, torch.zeros_like(x) if op is None else op.network_pinv(y.to(x.dtype))], 1)
        measured = (op, y) if self.conditioning == 'invfussion' and op is not None else None
        return x * c_skip + self.network(inputs, c_noise.reshape(-1), measured) * c_out

    def log_variance(self, sigma):
        """EDM2's u(σ): Linear(128 → 1) on magnitude-preserving Fourier features √2·cos(f·c_noise + φ)."""
        noise = sigma.reshape(-1, 1).log() / 4
        features = torch.cos(noise * self.logvar_frequencies.to(noise.dtype) + self.logvar_phases.to(noise.dtype)) * math.sqrt(2)
        return self.linear(features, 'logvar_linear').reshape(-1)
