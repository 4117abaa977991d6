"""The layers both U-Nets of the reference are built from (the EDM prior, edm_unet.py, and IDM's, idm.py), read
from a dict of weights in Stable Diffusion's diffusers naming (down_blocks.0.resnets.1.conv1.weight), as
invdiff's checkpoints name them."""
import math

import torch
import torch.nn.functional as F


class Blocks:
    def __init__(self, weights, groups, heads):
        self.P, self.groups, self.heads = weights, groups, heads

    def conv(self, x, name, stride=1):
        w = self.P[name + '.weight']
        return F.conv2d(x, w, self.P[name + '.bias'], stride, w.shape[-1] // 2)

    def norm(self, x, name, eps):
        return F.group_norm(x, self.groups, self.P[name + '.weight'], self.P[name + '.bias'], eps)

    def linear(self, x, name):
        return F.linear(x, self.P[name + '.weight'], self.P.get(name + '.bias'))

    def noise_embedding(self, c_noise, name):
        """Fourier features of c_noise at geometric frequencies 0.05…200 rad, then linear → SiLU → linear.
        invdiff holds the frequencies in float32 whatever the model's dtype (they are fixed, not a parameter)."""
        half = self.P[name + '.linear_1.weight'].shape[1] // 2
        freqs = torch.linspace(math.log(0.05), math.log(200.0), half, dtype=torch.float64).exp().float().to(c_noise.dtype)
        angles = c_noise.reshape(-1, 1) * freqs[None]
        h = F.silu(self.linear(torch.cat([torch.cos(angles), torch.sin(angles)], 1), name + '.linear_1'))
        return self.linear(h, name + '.linear_2')

    def resnet(self, x, name, emb=None):
        """SD's ResnetBlock2D; with a noise embedding, its projection is added after the first convolution."""
        h = self.conv(F.silu(self.norm(x, name + '.norm1', 1e-5)), name + '.conv1')
        if emb is not None:
            h = h + self.linear(F.silu(emb), name + '.time_emb_proj')[:, :, None, None]
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
