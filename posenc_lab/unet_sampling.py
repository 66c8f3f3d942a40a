"""DDIM sampler (eta = 0) over the reference models' schedule (schedule.py), without ComfyUI.

Seeded per image: image i starts from noise drawn with its own seed, so the same seed gives the
same picture whatever the batch, size aside.  Class-conditional, with optional classifier-free
guidance (the reference models are trained with label dropout; the null label is
``model.num_classes``).

Timesteps are "trailing": ``round(linspace(999, 0, steps + 1))[:-1]``, so sampling starts at the
schedule's largest noise level (sigma 14.6) as ComfyUI does; the last step jumps to the clean
image.  x0 is not clipped (ComfyUI does not clip either).

``step_hook(index, num_steps, t, sigma)`` is called before each model evaluation: a method that
depends on the sampling step (PBC's window and sigma-keyed jitter) sets itself up there.

img2img (the second pass of a hires fix): ``init`` images in [0, 1] and ``denoise`` < 1 run the
last ``steps`` timesteps of a schedule of ``int(steps / denoise)`` (``pass_timesteps``), starting
from the init noised to the first of them with each seed's own noise; that is ComfyUI's KSampler
with denoise < 1 (it runs ``steps`` steps of a longer schedule).  ``pass_sigmas`` gives the run's
sigmas s_0 > ... > s_n (s_n = 0), which a step window needs (posenc/sampling_window.py).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from posenc import schedule


def initial_noise(seeds: Sequence[int], channels: int, height: int, width: int) -> torch.Tensor:
    """Standard normal noise (B, C, H, W), image i drawn from its own generator seeded seeds[i]."""
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        out.append(torch.randn(channels, height, width, generator=g))
    return torch.stack(out)


def timesteps_for(steps: int) -> torch.Tensor:
    """The trailing DDIM timesteps, descending, as float (steps,)."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    t = torch.linspace(schedule.NUM_TIMESTEPS - 1, 0, steps + 1).round()[:-1]
    return t


def pass_timesteps(steps: int, denoise: float = 1.0) -> torch.Tensor:
    """Timesteps of one sampling pass: all of timesteps_for(steps) at denoise 1, else the last
    `steps` of timesteps_for(int(steps / denoise)) (ComfyUI's KSampler with denoise < 1)."""
    if not 0.0 < denoise <= 1.0:
        raise ValueError(f"denoise must be in (0, 1] (got {denoise})")
    if denoise == 1.0:
        return timesteps_for(steps)
    return timesteps_for(int(steps / denoise))[-steps:]


def pass_sigmas(steps: int, denoise: float = 1.0) -> list[float]:
    """The sigmas s_0 > ... > s_n of one pass, s_n = 0 (the last DDIM step lands on x0)."""
    sig = schedule.sigmas()
    return [float(sig[int(t)]) for t in pass_timesteps(steps, denoise)] + [0.0]


@torch.no_grad()
def ddim_sample(model: Callable, labels, height: int, width: int, seeds: Sequence[int],
                steps: int = 25, guidance: float = 1.0, num_classes: int | None = None,
                step_hook: Callable | None = None, batch_size: int = 16,
                channels: int = 3, init: torch.Tensor | None = None,
                denoise: float = 1.0) -> torch.Tensor:
    """Sample images with DDIM; returns (B, C, H, W) in [0, 1] (the model works in [-1, 1]).

    model: callable (x_t, t (B,), y (B,)) -> eps, e.g. a ReferenceUNet.
    labels: one class index for all images, or one per seed.
    guidance: classifier-free guidance scale; 1.0 evaluates only the conditional branch.
    init, denoise: img2img from ``init`` (B, C, height, width) in [0, 1] (module docstring).
    num_classes: the null label for guidance (default ``model.num_classes``).
    """
    n = len(seeds)
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if labels.numel() == 1:
        labels = labels.expand(n)
    if labels.numel() != n:
        raise ValueError(f"got {labels.numel()} labels for {n} seeds")
    null = getattr(model, "num_classes", None) if num_classes is None else num_classes
    if guidance != 1.0 and null is None:
        raise ValueError("classifier-free guidance needs num_classes (the null label)")
    if hasattr(model, "check_size"):
        model.check_size(height, width)
    ab = schedule.alphas_cumprod()
    sig = schedule.sigmas()
    if (init is None) != (denoise == 1.0):
        raise ValueError("img2img needs both init images and denoise < 1")
    if init is not None and tuple(init.shape) != (n, channels, height, width):
        raise ValueError(f"init images {tuple(init.shape)} do not match "
                         f"{(n, channels, height, width)}")
    ts = pass_timesteps(steps, denoise)
    out = []
    for start in range(0, n, batch_size):
        seed_chunk = list(seeds[start:start + batch_size])
        y = labels[start:start + batch_size]
        b = len(seed_chunk)
        noise = initial_noise(seed_chunk, channels, height, width)
        if init is None:
            x = noise   # x_T ~ N(0, I), as ComfyUI's full denoise (noise * sqrt(1 + sigma^2), scaled)
        else:       # x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise at the pass's first timestep
            a0 = ab[int(ts[0])].float()
            x0 = init[start:start + batch_size] * 2 - 1
            x = a0.sqrt() * x0 + (1 - a0).sqrt() * noise
        for i, t in enumerate(ts):
            ti = int(t)
            if step_hook is not None:
                step_hook(i, steps, float(t), float(sig[ti]))
            tt = torch.full((b,), float(t))
            if guidance == 1.0:
                eps = model(x, tt, y)
            else:
                both = model(torch.cat([x, x]), torch.cat([tt, tt]),
                             torch.cat([y, torch.full_like(y, null)]))
                eps_c, eps_u = both.chunk(2)
                eps = eps_u + guidance * (eps_c - eps_u)
            a_t = ab[ti].float()
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
            a_next = ab[int(ts[i + 1])].float() if i + 1 < len(ts) else torch.tensor(1.0)
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        out.append(((x + 1) / 2).clamp(0, 1))
    return torch.cat(out)
