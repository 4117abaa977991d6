"""Neighbourhood attention with NATTEN's windows (Hassani et al. 2023; papers.md §2.4, §2.10): query (i, j)
attends over a κ×κ window of keys whose rows start at clamp(i − κ//2, 0, H − κ) and whose columns start at
clamp(j − κ//2, 0, W − κ), so that border windows shift inward instead of being padded and every query sees
κ² keys. Written as a gather of each query's window and a plain softmax, which autograd differentiates
(invdiff has a kernel with its own backward, native/core/nn/neighborhood_attention.cpp)."""
import torch


def window_starts(length, kernel):
    return (torch.arange(length) - kernel // 2).clamp(0, length - kernel)


def windows(t, kernel):
    """(B, heads, H, W, d) → (B, heads, H, W, κ², d): each query's window of t, row by row."""
    offsets = torch.arange(kernel)
    rows = window_starts(t.shape[2], kernel)[:, None] + offsets  # H×κ
    cols = window_starts(t.shape[3], kernel)[:, None] + offsets  # W×κ
    return t[:, :, rows[:, None, :, None], cols[None, :, None, :]].flatten(4, 5)


def attention(q, keys, values, kernel, scale=None):
    """softmax(q·kᵀ·scale)·v over each query's window, scale 1/√d by default. With several key/value sets
    (InvFusion's joint attention: k, v and k′, v′) the logits of all sets share one softmax over the
    sets·κ² keys and the weighted values are summed."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    logits = torch.cat([torch.einsum('bnhwd,bnhwkd->bnhwk', q, windows(k, kernel)) for k in keys], -1) * scale
    window_values = torch.cat([windows(v, kernel) for v in values], -2)
    return torch.einsum('bnhwk,bnhwkd->bnhwd', torch.softmax(logits, -1), window_values)
