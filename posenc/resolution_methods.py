"""The high-resolution sampling methods that the layout benchmark and the demo compare, applied
around posenc/sampling.py's DDIM sampler on a plain torch model (no ComfyUI).

Method names:

* ``direct``: the model as it is, sampled at the target size.
* ``pbc<N>`` (``pbc1``, ``pbc3``, ``pbc31``): PBC (pbc.py, DESIGN.md section 2) with N boundaries,
  jitter 1, seed 0, during the first half of the DDIM steps (the paper: 25 of 50).
* ``pbc-auto``: PBC with N = max(1, round(s) - 1), s = the larger of (H / base_h, W / base_w): one
  boundary per base-size step of the scale factor beyond the first (2x -> N 1, 4x -> N 3).  This is
  our rule for the "dynamic boundary adjustment" the paper mentions without a formula.
* ``redilate``: re-dilation in the style of ScaleCrafter (redilation.py), same window.

"First half" for n steps: the model calls with index < ceil(n / 2) (13 of 25), i.e.
sigma_end = the sigma of call ceil(n / 2) - 1 and sigma_start = inf.
"""
from __future__ import annotations

import math
from contextlib import nullcontext

from . import schedule
from .pbc import PBCRuntime, PBCSettings, patched_module
from .redilation import RedilationRuntime, RedilationSettings, redilated_module
from .sampling import ddim_sample, timesteps_for

METHODS = ("direct", "pbc1", "pbc3", "pbc31", "pbc-auto", "redilate")
LABELS = {"direct": "direct", "pbc1": "PBC N=1", "pbc3": "PBC N=3", "pbc31": "PBC N=31",
          "pbc-auto": "PBC N=auto", "redilate": "re-dilation"}


def half_window_sigma_end(steps: int) -> float:
    """sigma_end such that the window [sigma_end, inf] covers the first ceil(steps / 2) calls."""
    ts = timesteps_for(steps)
    k = (steps + 1) // 2
    return float(schedule.sigmas()[int(ts[k - 1])])


def auto_boundaries(height: int, width: int, base_h: int, base_w: int) -> int:
    """N of ``pbc-auto``: max(1, round(scale) - 1) with scale = max(H / base_h, W / base_w)."""
    scale = max(height / base_h, width / base_w)
    return max(1, round(scale) - 1)


def resolve(method: str, height: int, width: int, base_h: int, base_w: int) -> str:
    """The concrete method a name stands for at this size (``pbc-auto`` -> ``pbc<N>``)."""
    if method == "pbc-auto":
        return f"pbc{auto_boundaries(height, width, base_h, base_w)}"
    return method


def check_method(method: str) -> str:
    if method in METHODS:
        return method
    if method.startswith("pbc") and method[3:].isdigit() and int(method[3:]) >= 1:
        return method
    raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)}, or pbc<N>)")


class _SteppedModel:
    """Calls the model inside ``runtime.step(H, W, sigma)``, sigma set by the sampler's hook."""

    def __init__(self, model, runtime):
        self.model, self.runtime, self.sigma = model, runtime, math.inf
        self.num_classes = getattr(model, "num_classes", None)

    def hook(self, index, num_steps, t, sigma):
        self.sigma = sigma

    def check_size(self, height, width):
        if hasattr(self.model, "check_size"):
            self.model.check_size(height, width)

    def __call__(self, x, t, y):
        with self.runtime.step(x.shape[-2], x.shape[-1], self.sigma):
            return self.model(x, t, y)


def sample_with_method(model, method: str, labels, height: int, width: int, seeds, steps: int = 25,
                       guidance: float = 1.0, seed: int = 0, jitter: int = 1,
                       batch_size: int = 16):
    """DDIM samples (B, 3, H, W) in [0, 1] of one method; same seeds -> same initial noise."""
    method = check_method(method)
    base = int(getattr(model, "base_resolution", 32))
    method = resolve(method, height, width, base, base)
    sigma_end = half_window_sigma_end(steps)
    if method == "direct":
        runtime, patch = None, nullcontext()
    elif method == "redilate":
        runtime = RedilationRuntime(RedilationSettings(base, base, math.inf, sigma_end))
        patch = redilated_module(model, runtime)
    else:
        runtime = PBCRuntime(PBCSettings(boundaries=int(method[3:]), jitter=jitter, seed=seed,
                                         base_height=base, base_width=base,
                                         sigma_start=math.inf, sigma_end=sigma_end))
        patch = patched_module(model, runtime)
    with patch:
        if runtime is None:
            return ddim_sample(model, labels, height, width, seeds, steps, guidance,
                               batch_size=batch_size)
        wrapped = _SteppedModel(model, runtime)
        return ddim_sample(wrapped, labels, height, width, seeds, steps, guidance,
                           step_hook=wrapped.hook, batch_size=batch_size)
