"""The DiT noise schedule and a small DDIM sampler, for training and sampling outside ComfyUI.

Schedule: DiT's (guided-diffusion ``get_named_beta_schedule("linear", 1000)``): betas linear in
[1e-4, 0.02] over 1000 steps, epsilon prediction.  In ComfyUI terms this is
``beta_schedule="sqrt_linear", linear_start=1e-4, linear_end=0.02`` (ComfyUI's "linear" is the
square of a linspace of square roots, i.e. the Stable Diffusion "scaled linear" one).

DDIM: Song et al. 2021, eta = 0, with classifier-free guidance on the first C output channels
(the learned-sigma channels, if any, are ignored as in ComfyUI).  Timesteps: round(linspace(999,
0, steps)).  img2img (the second pass of a hires fix): ``init`` (model space, [-1, 1]) and
``denoise`` d < 1 run the last ``steps`` timesteps of the schedule of int(steps / d) steps,
starting from init noised to the first of them, x_t = sqrt(abar_t) init + sqrt(1 - abar_t) noise
(eq. of ``add_noise``): ComfyUI's KSampler with denoise < 1, which runs ``steps`` steps of a longer
schedule (docs/DESIGN.md section 7).
"""
from __future__ import annotations

import torch

TIMESTEPS = 1000
LINEAR_START = 1e-4
LINEAR_END = 0.02
SCHEDULE_METADATA = {"schedule": "linear", "linear_start": LINEAR_START, "linear_end": LINEAR_END,
                     "timesteps": TIMESTEPS, "prediction": "eps",
                     "comfy_beta_schedule": "sqrt_linear"}


def alphas_cumprod(timesteps: int = TIMESTEPS) -> torch.Tensor:
    betas = torch.linspace(LINEAR_START, LINEAR_END, timesteps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """q(x_t | x_0) = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
    a = abar.to(x0.device)[t].to(x0.dtype).view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def pass_timesteps(steps: int, denoise: float = 1.0) -> list[int]:
    """The DDIM timesteps of one pass, descending: round(linspace(999, 0, steps)) at denoise 1,
    else the last ``steps`` of round(linspace(999, 0, int(steps / denoise)))."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1 (got {steps})")
    if not 0.0 < denoise <= 1.0:
        raise ValueError(f"denoise must be in (0, 1] (got {denoise})")
    total = steps if denoise == 1.0 else int(steps / denoise)
    return torch.linspace(TIMESTEPS - 1, 0, total).round().long().tolist()[-steps:]


@torch.no_grad()
def ddim_sample(model, shape, steps: int = 50, y=None, cfg_scale: float = 1.0, seed: int = 0,
                device="cpu", noise=None, init=None, denoise: float = 1.0,
                **forward_kwargs) -> torch.Tensor:
    """DDIM (eta=0) from pure noise of ``shape`` (N, C, H, W).  ``forward_kwargs`` go to the
    model (positions: ``mode``, ``seed``, ``max_positions``, ``rows``/``cols``; ``micro``).
    ``cfg_scale`` > 1 needs a class-conditional model with a null class.  ``noise`` (of
    ``shape``) replaces the noise drawn from ``seed`` (e.g. per-image seeds,
    sampling.initial_noise).  ``init`` (of ``shape``, in [-1, 1]) with ``denoise`` < 1: img2img
    (module docstring)."""
    if (init is None) != (denoise == 1.0):
        raise ValueError("img2img needs both init images and denoise < 1")
    if init is not None and tuple(init.shape) != tuple(shape):
        raise ValueError(f"init shape {tuple(init.shape)} != {tuple(shape)}")
    if noise is not None:
        if tuple(noise.shape) != tuple(shape):
            raise ValueError(f"noise shape {tuple(noise.shape)} != {tuple(shape)}")
        x = noise.to(device)
    else:
        g = torch.Generator().manual_seed(int(seed))
        x = torch.randn(shape, generator=g).to(device)
    C = shape[1]
    abar = alphas_cumprod().to(device)
    ts = pass_timesteps(steps, denoise)
    if init is not None:
        x = add_noise(init.to(device, x.dtype), x, torch.tensor([ts[0]]), abar)
    null = None
    if cfg_scale != 1.0 and y is not None:
        null = torch.full_like(torch.as_tensor(y, device=device).reshape(-1).expand(shape[0]),
                               model.config.num_classes)
    for i, t in enumerate(ts):
        tt = torch.full((shape[0],), float(t), device=device)
        eps = model(x, tt, y, **forward_kwargs)[:, :C]
        if null is not None:
            eps_u = model(x, tt, null, **forward_kwargs)[:, :C]
            eps = eps_u + cfg_scale * (eps - eps_u)
        a_t = abar[t].float()
        a_prev = abar[ts[i + 1]].float() if i + 1 < len(ts) else torch.tensor(1.0, device=device)
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x
