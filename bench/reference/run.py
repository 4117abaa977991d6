"""Runs the parity cases a test wrote: python3 run.py DIR reads DIR/cases.json, a list of
{name, kind, ...}, and each case's inputs from DIR/<name>.in.safetensors; writes DIR/<name>.out.safetensors.
One process for all cases, because importing torch takes seconds. A case that fails writes
DIR/<name>.error with the traceback and the others still run."""
import json
import os
import sys
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import operators  # noqa: E402
import samplers  # noqa: E402
import edm_unet  # noqa: E402
import hdit  # noqa: E402
import idm  # noqa: E402
import neighborhood_attention  # noqa: E402
from threads import set_threads  # noqa: E402


def operator_case(case, t):
    """A, Aᵀ, A⁺ (and the network A⁺) and the gradient in x of Σ w·A x + Σ v·A⁺(A x)."""
    op = operators.create(case['family'], case['options'])
    x, y, w, v = t['x'], t['y'], t['w'], t['v']
    out = {'forward': op.A(x), 'adjoint': op.At(y), 'pinv': op.pinv(y)}
    if case.get('networkPinv'):
        out['networkPinv'] = op.network_pinv(y)
    xg = x.clone().requires_grad_(True)
    loss = (w * op.A(xg)).sum() + (v * op.pinv(op.A(xg))).sum()
    out['gradX'], = torch.autograd.grad(loss, xg)
    return out


def gaussian_denoiser(t):
    """The exact denoiser of data N(μ, s²I): D(x; σ) = μ + s²/(s² + σ²)·(x − μ)."""
    mu, s2 = t['mu'], t['dataStd'].item() ** 2
    return lambda x, sigma: mu + s2 / (s2 + sigma ** 2) * (x - mu)


def sampler_case(case, t):
    D = gaussian_denoiser(t)
    noise = [t[f'noise{i}'] for i in range(case['steps'] + 1)]
    sigmas = samplers.edm_sigmas(case['steps'])
    if case['kind'] == 'heun':
        return {'images': samplers.heun(D, noise, sigmas, case.get('churn', 0.0))}
    if case['kind'] == 'ddim':
        return {'images': samplers.ddim(D, noise, sigmas, case.get('eta', 0.0))}
    A = operators.create(case['family'], case['options'])
    images = samplers.ddnm(D, noise, sigmas, A, t['y'], case['options'].get('noiseStd', 0.0), case.get('eta', 0.85), case.get('mixing', 'ddnm'))
    return {'images': images}


def prior_case(case, t):
    """D(x; σ) of a checkpoint at each σ of the case and at one σ per image, and the gradient in x of Σ w·D(x; σ)
    at the middle σ."""
    net = edm_unet.EdmUNet.load(case['file'])
    sigmas = case['sigmas']
    out = {f'denoised{i}': net.denoise(t[f'noisy{i}'], s) for i, s in enumerate(sigmas)}
    out['perImage'] = net.denoise(t['noisyPerImage'], t['perImageSigma'])
    mid = len(sigmas) // 2
    xg = t[f'noisy{mid}'].clone().requires_grad_(True)
    out['gradX'], = torch.autograd.grad((t['w'] * net.denoise(xg, sigmas[mid])).sum(), xg)
    return out


def idm_case(case, t):
    """One training step's loss, ‖x̂ − x‖² mean plus ‖x̂ − x‖₁ mean, and its gradients in every weight and in y."""
    weights = {k[2:]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith('p.')}
    model = idm.IDM(weights, case['model'], case['model'].get('reversible', True))
    A = operators.create(case['family'], case['options'])
    y = t['y'].clone().requires_grad_(True)
    out = model.reconstruct(A, y)
    loss = (out - t['x']).square().mean() + (out - t['x']).abs().mean()
    names = list(weights)
    grads = torch.autograd.grad(loss, [weights[n] for n in names] + [y], allow_unused=True)
    result = {'out': out, 'loss': loss.reshape(1), 'gradY': grads[-1]}
    result.update({f'grad.{n}': g for n, g in zip(names, grads[:-1]) if g is not None})
    return result


def neighborhood_attention_case(case, t):
    """Neighbourhood attention over one key/value set or two (joint), and the gradients in every input of Σ w·out."""
    names = ['q', 'k', 'v'] + (['k2', 'v2'] if case['joint'] else [])
    q, k, v, *second = inputs = [t[n].clone().requires_grad_(True) for n in names]
    keys, values = [k] + second[:1], [v] + second[1:]
    out = neighborhood_attention.attention(q, keys, values, case['kernelSize'], case.get('scale'))
    grads = torch.autograd.grad((t['w'] * out).sum(), inputs)
    return {'out': out, **{f'grad_{n}': g for n, g in zip(names, grads)}}


def hdit_case(case, t):
    """D(x; σ[, A, y]) of an HDiT (a checkpoint, or the case's weights p.*) at one σ per image; with `train`, one
    training step's EDM2 loss, mean of λ(σ)/e^u·(D − x)² + u with λ = (σ² + σ_d²)/(σσ_d)², and its gradient in
    every weight; with `unconditional`, the call without a measurement too."""
    if 'file' in case:
        net = hdit.HDiT.load(case['file'])
    else:
        net = hdit.HDiT({k[2:]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith('p.')}, case['model'], case['conditioning'])
    op = operators.create(case['family'], case['options']) if case.get('family') else None
    x, noisy, sigma = t['x'], t['noisy'], t['sigma']
    with torch.set_grad_enabled(case.get('train', False)):
        denoised = net.denoise(noisy, sigma, op, t.get('y'))
    out = {'denoised': denoised}
    if case.get('unconditional'):
        out['unconditional'] = net.denoise(noisy, sigma)
    if case.get('train'):
        s, sd2 = sigma.reshape(-1, 1, 1, 1), net.o['sigmaData'] ** 2
        weight = (s.square() + sd2) / (s.square() * sd2)
        u = net.log_variance(sigma).reshape(-1, 1, 1, 1)
        loss = ((denoised - x).square() * weight / u.exp() + u).mean()
        names = list(net.P)
        grads = torch.autograd.grad(loss, [net.P[n] for n in names], allow_unused=True)
        out['loss'] = loss.reshape(1)
        out.update({f'grad.{n}': g for n, g in zip(names, grads) if g is not None})
    return out


KINDS = {'idm': idm_case, 'hdit': hdit_case, 'neighborhoodAttention': neighborhood_attention_case, 'prior': prior_case, 'operator': operator_case, 'heun': sampler_case, 'ddim': sampler_case, 'ddnm': sampler_case}


def main(folder):
    set_threads(1)
    with open(os.path.join(folder, 'cases.json')) as f:
        cases = json.load(f)
    for case in cases:
        stem = os.path.join(folder, case['name'])
        try:
            tensors = safetensors_io.load(stem + '.in.safetensors')
            out = KINDS[case['kind']](case, tensors)
            safetensors_io.save(stem + '.out.safetensors', {k: v.detach() for k, v in out.items()})
        except Exception:
            with open(stem + '.error', 'w') as f:
                f.write(traceback.format_exc())


if __name__ == '__main__':
    main(sys.argv[1])
