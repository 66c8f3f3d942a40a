"""Noise schedule of the reference models: Stable Diffusion's discrete eps-prediction schedule.

The same schedule ComfyUI uses by default (``ModelSamplingDiscrete``, eps prediction): 1000
steps, betas "scaled linear" from 0.00085 to 0.012,

    beta_t = (sqrt(0.00085) + t / 999 * (sqrt(0.012) - sqrt(0.00085)))^2,   t = 0..999
    alpha_bar_t = prod_{s <= t} (1 - beta_s)
    x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps           (the model sees x_t, t)
    sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)                       (k-diffusion sigma)

so a ComfyUI loader only has to wrap the network: ComfyUI feeds it x / sqrt(sigma^2 + 1) (= x_t)
and the timestep t(sigma) (the integer t of the nearest log-sigma, as `sigma_to_t` here), and it
predicts eps.  sigma runs from 0.029 (t = 0) to 14.6 (t = 999).
"""
from __future__ import annotations

import torch

NUM_TIMESTEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012

SCHEDULE_INFO = {
    "type": "discrete_vp",
    "prediction": "eps",
    "num_timesteps": NUM_TIMESTEPS,
    "beta_schedule": "scaled_linear",
    "beta_start": BETA_START,
    "beta_end": BETA_END,
}


def alphas_cumprod() -> torch.Tensor:
    """alpha_bar_t for t = 0..999 (float64)."""
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, NUM_TIMESTEPS,
                           dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def sigmas() -> torch.Tensor:
    """k-diffusion sigma_t for t = 0..999 (float64), increasing."""
    ab = alphas_cumprod()
    return ((1 - ab) / ab).sqrt()


def sigma_to_t(sigma: torch.Tensor) -> torch.Tensor:
    """Timestep of a sigma: the integer t with the nearest log-sigma (ComfyUI's convention)."""
    log_s = sigmas().log().to(sigma.device)
    d = sigma.double().log().reshape(-1, 1) - log_s.view(1, -1)
    return d.abs().argmin(dim=1).view(sigma.shape).to(torch.float32)


def t_to_sigma(t: torch.Tensor) -> torch.Tensor:
    """sigma of a (fractional) timestep by log-sigma interpolation."""
    log_s = sigmas().log().to(t.device)
    t = t.double().clamp(0, NUM_TIMESTEPS - 1)
    lo = t.floor().long().clamp(max=NUM_TIMESTEPS - 2)
    w = t - lo
    return ((1 - w) * log_s[lo] + w * log_s[lo + 1]).exp().to(torch.float32)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for integer timesteps t (B,)."""
    ab = alphas_cumprod().to(torch.float32)[t.long().cpu()].to(x0.device).view(-1, 1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
