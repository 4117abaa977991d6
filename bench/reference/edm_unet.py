"""The unconditional EDM U-Net prior (Karras et al. 2022, papers.md §4.1) written from the paper and invdiff's
documented layout (native/core/models/diffusion/edm_unet.h): D(x; σ) = c_skip·x + c_out·F(c_in·x, c_noise) around
a noise-conditional U-Net on a pixel-unshuffled input: per level `blocks` resnets (each followed by
self-attention where the level has it) and a strided convolution down, a middle of resnet, attention, resnet, and
on the way up one more resnet per level, each reading the skip of its mirror, then nearest upsampling and a
convolution. Functional: the weights are a dict of tensors named as in an invdiff checkpoint."""
import json

import torch
import torch.nn.functional as F

import safetensors_io
from blocks import Blocks


def precondition(sigma, sigma_data):
    """EDM eq. 7 (Table 1): c_skip, c_out, c_in and c_noise = ¼ ln σ."""
    variance = sigma ** 2 + sigma_data ** 2
    return sigma_data ** 2 / variance, sigma * sigma_data / variance.sqrt(), 1 / variance.sqrt(), sigma.log() / 4


class EdmUNet(Blocks):
    def __init__(self, weights, options):
        o = options
        super().__init__(weights, o.get('groups', 8), o.get('heads', 4))
        self.mult = o.get('multipliers', [1, 2, 2])
        self.blocks = o.get('blocks', 1)
        self.attention = [bool(a) for a in o.get('attention', [0] * (len(self.mult) - 1) + [1])]
        self.patch = o.get('patch', 2)
        self.sigma_data = o.get('sigmaData', 0.5)

    @staticmethod
    def load(path):
        """A checkpoint as invdiff loads it: its options from the metadata, float16 weights made float32."""
        options = json.loads(safetensors_io.metadata(path).get('invdiff.options', '{}'))
        return EdmUNet({k: v.float() for k, v in safetensors_io.load(path).items()}, options)

    def network(self, x, c_noise):
        emb = self.noise_embedding(c_noise, 'time_embedding')
        levels = len(self.mult)

        def block(h, prefix, j, attention):
            h = self.resnet(h, f'{prefix}.resnets.{j}', emb)
            return self.transformer(h, f'{prefix}.attentions.{j}') if attention else h

        h = self.conv(F.pixel_unshuffle(x, self.patch), 'conv_in')
        skips = [h]
        for l in range(levels):
            p = f'down_blocks.{l}'
            for j in range(self.blocks):
                h = block(h, p, j, self.attention[l])
                skips.append(h)
            if l + 1 < levels:
                h = self.conv(h, p + '.downsamplers.0.conv', 2)
                skips.append(h)
        h = self.resnet(self.transformer(self.resnet(h, 'mid_block.resnets.0', emb), 'mid_block.attentions.0'), 'mid_block.resnets.1', emb)
        for i in range(levels):
            l, p = levels - 1 - i, f'up_blocks.{i}'
            for j in range(self.blocks + 1):
                h = block(torch.cat([h, skips.pop()], 1), p, j, self.attention[l])
            if l > 0:
                h = self.conv(F.interpolate(h, scale_factor=2, mode='nearest'), p + '.upsamplers.0.conv')
        return F.pixel_shuffle(self.conv(F.silu(self.norm(h, 'conv_norm_out', 1e-5)), 'conv_out'), self.patch)

    def denoise(self, x, sigma):
        """D(x; σ) for one σ (a number) or one per image."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(x.shape[0])
        c_skip, c_out, c_in, c_noise = precondition(sigma, self.sigma_data)
        per_image = lambda c: c.reshape(-1, 1, 1, 1)
        return per_image(c_skip) * x + per_image(c_out) * self.network(x * per_image(c_in), c_noise)
