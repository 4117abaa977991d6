"""EDM's Heun sampler (Karras et al. 2022, Algorithm 2), DDIM (Song et al. 2021, eq. 12) and DDNM (Wang et al. 2023, Algorithm 1; DDNM⁺ for
noisy y, §3.3) on a denoiser D(x; σ), in the σ parameterisation x_σ = x₀ + σ·ε. The noise is given:
noise[0] is the starting draw, noise[i + 1] the draw of step i."""
import math


def edm_sigmas(steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM eq. 5: σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, then σ_N = 0."""
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return [(a + (i / (steps - 1) if steps > 1 else 0) * (b - a)) ** rho for i in range(steps)] + [0.0]


def heun(D, noise, t, churn=0.0):
    n = len(t) - 1
    gamma = min(churn / n, math.sqrt(2) - 1)
    x = noise[0] * t[0]
    for i in range(n):
        t_hat = t[i] * (1 + gamma)
        if gamma > 0:
            x = x + math.sqrt(t_hat ** 2 - t[i] ** 2) * noise[i + 1]
        d_cur = (x - D(x, t_hat)) / t_hat
        x_next = x + (t[i + 1] - t_hat) * d_cur
        if t[i + 1] > 0:
            d_prime = (x_next - D(x_next, t[i + 1])) / t[i + 1]
            x_next = x + (t[i + 1] - t_hat) * (d_cur + d_prime) / 2
        x = x_next
    return x


def ddim(D, noise, t, eta=0.0):
    """x_{i+1} = x̂₀ + √(σ_{i+1}² − c²)·ε̂ + c·z, ε̂ = (x_i − x̂₀)/σ_i, c = η·σ_{i+1}·√(1 − σ_{i+1}²/σ_i²):
    eq. 12 with σ = √((1 − ᾱ)/ᾱ) and x scaled by 1/√ᾱ; η = 0 is deterministic, η = 1 ancestral."""
    x = noise[0] * t[0]
    for i in range(len(t) - 1):
        s, nxt = t[i], t[i + 1]
        x0 = D(x, s)
        c = eta * nxt * math.sqrt(max(0.0, 1 - nxt ** 2 / s ** 2))
        x = x0 + math.sqrt(max(0.0, nxt ** 2 - c ** 2)) * (x - x0) / s + c * noise[i + 1]
    return x


def ddnm(D, noise, t, A, y, sigma_y=0.0, eta=0.85, mixing='ddnm'):
    """x̂₀ → x̂₀ + λA⁺(y − A x̂₀) (range–null decomposition), then x_{i+1} = x̂₀′ + a·ε̂ + c·z with
    ε̂ = (x_i − x̂₀)/σ_i and a² + c² = γ², γ the noise level left for step i + 1."""
    x = noise[0] * t[0]
    for i in range(len(t) - 1):
        s, nxt = t[i], t[i + 1]
        x0 = D(x, s)
        if sigma_y > 0 and nxt < sigma_y:  # DDNM⁺: the measurement's own noise covers the rest
            lam, gamma = nxt / sigma_y, 0.0
        else:
            lam, gamma = 1.0, math.sqrt(nxt ** 2 - sigma_y ** 2) if sigma_y > 0 else nxt
        x0p = x0 + lam * A.pinv(y - A.A(x0))
        if mixing == 'ddim':  # DDIM's η: c = η·γ·√(1 − γ²/σ²)
            c = eta * gamma * math.sqrt(max(0.0, 1 - gamma ** 2 / s ** 2))
            a = math.sqrt(gamma ** 2 - c ** 2)
        else:
            a = (math.sqrt(1 - eta ** 2) if mixing == 'ddnm' else 1 - eta) * gamma
            c = eta * gamma
        x = x0p + a * (x - x0) / s + c * noise[i + 1]
    return x
