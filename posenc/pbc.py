"""PBC at sampling time: which boundaries are active at the current step, and the conv forward
that applies them (Zhou et al., arXiv 2503.09830; DESIGN.md section 2).

`PBCRuntime` holds the settings of one PBC patch.  Around each call of the diffusion model the host
opens `runtime.step(latent_h, latent_w, sigma)`; inside it, every patched conv asks the runtime for
the plan of its own map size.  Outside a step, outside the sampling window, or at or below the base
size, the patched conv calls the conv it replaced, so the output is bit-identical to the unpatched
model there.  Plans are cached per (map size, conv geometry) for one step's boundary set; with
jitter the boundary set changes with sigma (Eq. 3), so the cache is rebuilt once per step and
shared by cond and uncond.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

from .boundaries import check_boundary_count, sigma_key, virtual_boundaries
from .valued_padding import ConvPlan, ConvSpec, make_plan, valued_padding_conv2d


@dataclass(frozen=True)
class PBCSettings:
    """User settings: N boundaries (Eq. 4), jitter r (Eq. 3), seed of the jitter hash, the
    sampling window as sigmas (sigma_start >= sigma >= sigma_end, ComfyUI's Deep Shrink
    convention), the base size in latent cells, and the conv method ("auto", "per_tap", "strips")."""

    boundaries: int = 31
    jitter: int = 1
    seed: int = 0
    base_height: int = 64
    base_width: int = 64
    sigma_start: float = math.inf
    sigma_end: float = 0.0
    method: str = "auto"

    def __post_init__(self):
        check_boundary_count(self.boundaries)
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0 (got {self.jitter})")
        if self.base_height < 1 or self.base_width < 1:
            raise ValueError(f"base size must be positive (got {self.base_height}x{self.base_width})")


@dataclass(frozen=True)
class ActiveStep:
    rows: bool
    cols: bool
    key: int


class PBCRuntime:
    """Per-patch state: the active step (or None) and the plans of the current boundary set."""

    def __init__(self, settings: PBCSettings):
        self.settings = settings
        self.active: ActiveStep | None = None
        self._plans: dict = {}
        self._plans_for: ActiveStep | None = None

    def step_for(self, latent_h: int, latent_w: int, sigma: float) -> ActiveStep | None:
        """The boundary activation for one model call, or None when PBC is off for it."""
        s = self.settings
        if not (s.sigma_end <= sigma <= s.sigma_start):
            return None
        rows, cols = latent_h > s.base_height, latent_w > s.base_width
        if not (rows or cols):
            return None
        return ActiveStep(rows, cols, sigma_key(sigma) if s.jitter else 0)

    @contextmanager
    def step(self, latent_h: int, latent_w: int, sigma: float):
        """Activate PBC for the model call(s) inside the block (re-entrant)."""
        previous, self.active = self.active, self.step_for(latent_h, latent_w, float(sigma))
        try:
            yield self.active
        finally:
            self.active = previous

    def plan(self, spec: ConvSpec, height: int, width: int) -> ConvPlan:
        step = self.active
        if step != self._plans_for:
            self._plans, self._plans_for = {}, step
        key = (spec, height, width)
        plan = self._plans.get(key)
        if plan is None:
            s = self.settings
            bounds = virtual_boundaries(height, width, s.boundaries, s.jitter, s.seed, step.key,
                                        rows=step.rows, cols=step.cols)
            plan = self._plans[key] = make_plan(bounds, spec, s.method)
        return plan

    def conv_forward(self, spec: ConvSpec, fallback):
        """A replacement for a conv's `_conv_forward(input, weight, bias)`: valued padding while a
        step is active, otherwise `fallback` (the conv's own `_conv_forward`, or an earlier patch)."""

        def _conv_forward(input, weight, bias):
            if self.active is None:
                return fallback(input, weight, bias)
            plan = self.plan(spec, input.shape[-2], input.shape[-1])
            if plan.method == "identity":
                return fallback(input, weight, bias)
            return valued_padding_conv2d(input, weight, bias, plan)

        _conv_forward.pbc_runtime = self
        return _conv_forward


def spatial_convs(module) -> list[tuple[str, object, ConvSpec]]:
    """(name, conv, spec) for every conv of `module` that valued padding applies to."""
    from .valued_padding import conv_spec
    found = []
    for name, sub in module.named_modules():
        spec = conv_spec(sub)
        if spec is not None:
            found.append((name, sub, spec))
    return found


@contextmanager
def patched_module(module, runtime: PBCRuntime):
    """Patch every spatial conv of a plain torch module in place for the duration of the block
    (for the command line and benchmarks; inside ComfyUI the node patches through the
    ModelPatcher instead).  Restores the modules on exit."""
    convs = spatial_convs(module)
    for _, conv, spec in convs:
        conv._conv_forward = runtime.conv_forward(spec, type(conv)._conv_forward.__get__(conv))
    try:
        yield convs
    finally:
        for _, conv, _ in convs:
            del conv._conv_forward
