"""PBC at sampling time: which boundaries are active at the current step, and the conv forward
that applies them (Zhou et al., arXiv 2503.09830; docs/DESIGN.md section 2).

`PBCRuntime` holds the settings of one PBC patch; the step and window plumbing is
sampling_window.py's.  Inside a step, every patched conv asks the runtime for the plan of its own
map size.  Outside a step, outside the sampling window, or at or below the base size, the patched
conv calls the conv it replaced, so the output is bit-identical to the unpatched model there.  Plans are cached per (map size, conv geometry) for one step's boundary set; with
jitter the boundary set changes with sigma (Eq. 3), so the cache is rebuilt once per step and
shared by cond and uncond.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .boundaries import (AUTO_BOUNDARIES, Boundaries, active_axes, check_boundary_count,
                         nominal_offset, resolve_boundary_count, sigma_key, virtual_boundaries)
from .sampling_window import PatchTarget, WindowedRuntime, check_step_window, tagged
from .valued_padding import (ConvPlan, ConvSpec, check_merge, check_method, check_plan_size,
                             make_plan, valued_padding_conv2d)


LAYOUTS = ("progressive", "central")


@dataclass(frozen=True)
class PBCSettings:
    """User settings: N boundaries (Eq. 4; 0 = auto, boundaries.auto_boundary_count of the model
    input's size at each call), jitter r (Eq. 3), seed of the jitter hash, the base
    size in latent cells, the conv method ("auto", "per_tap", "strips", "fused";
    valued_padding.make_plan: "auto" is the cost model's pure-torch form; "fused", the opt-in
    Triton kernel, needs Triton) and the sampling window:
    start_percent / end_percent, a share of the steps of the run being sampled, and sigma_start /
    sigma_end, an absolute noise-level window (sampling_window.py; docs/DESIGN.md section 7).

    The open choices of docs/DESIGN.md section 2, as optional knobs whose defaults are the definition
    (with the defaults the patch is bit-identical to the plain definition):

    * ``min_size``: an axis of a feature map gets boundaries only if the map is at least this
      long along it (0 = every level; 16 = only maps of 16 rows/columns and more, i.e. the
      small, low-resolution levels of the U-Net keep plain zero padding).
    * ``merge``: what a tap reads where it leaves several boundaries at once (boundaries that land
      on the same row): "product" of their lambdas (the definition) or "strongest" (only the
      smallest lambda, as if they were one boundary).
    * ``layout``: "progressive" (PBC's N boundaries) or "central": the paper's motivating
      experiment, one unidirectional boundary with lambda 0 (pure zero padding) around the
      central base-size region of every feature map (at a map of S cells for an input s times
      the base along an axis, the region is S / s long, centred: offset
      floor((1 - 1/s) * S / 2 + 0.5) from each edge); no jitter; ``boundaries`` is ignored.
    """

    boundaries: int = 31
    jitter: int = 1
    seed: int = 0
    base_height: int = 64
    base_width: int = 64
    sigma_start: float = math.inf
    sigma_end: float = 0.0
    method: str = "auto"
    min_size: int = 0
    merge: str = "product"
    layout: str = "progressive"
    start_percent: float = 0.0
    end_percent: float = 1.0

    def __post_init__(self):
        if self.boundaries != AUTO_BOUNDARIES:
            try:
                check_boundary_count(self.boundaries)
            except ValueError as e:
                raise ValueError(f"{e}; or 0 for auto (one boundary per base size of scale "
                                 "beyond the first)") from None
        check_step_window(self.start_percent, self.end_percent, "PBC")
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0 (got {self.jitter})")
        if self.base_height < 1 or self.base_width < 1:
            raise ValueError(f"base size must be positive (got {self.base_height}x{self.base_width})")
        if self.min_size < 0:
            raise ValueError(f"min_size must be >= 0 (got {self.min_size})")
        check_merge(self.merge)
        check_method(self.method)
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown boundary layout {self.layout!r} (known: {', '.join(LAYOUTS)})")


@dataclass(frozen=True)
class ActiveStep:
    rows: bool
    cols: bool
    key: int
    latent_h: int = 0
    latent_w: int = 0
    boundaries: int = 1      # N of this call (the auto count resolved for its input size)


def central_boundary(height: int, width: int, latent_h: int, latent_w: int, base_h: int,
                     base_w: int, rows: bool = True, cols: bool = True) -> Boundaries:
    """The "central" layout of PBCSettings: one lambda-0 boundary around the base-size region of
    an H x W feature map of a latent_h x latent_w model input (offsets 0 on inactive axes)."""
    top = nominal_offset(1 - base_h / latent_h, height) if rows else 0
    left = nominal_offset(1 - base_w / latent_w, width) if cols else 0
    top, left = min(max(top, 0), height // 2), min(max(left, 0), width // 2)
    return Boundaries(height, width, (0.0,), (top,), (top,), (left,), (left,))


class PBCRuntime(WindowedRuntime):
    """Per-patch state: the active step (or None) and the plans of the current boundary set."""

    label = "PBC Model Patcher"

    def __init__(self, settings: PBCSettings):
        super().__init__(settings)
        self._plans: dict = {}
        self._plans_for: ActiveStep | None = None

    def activation(self, latent_h: int, latent_w: int, sigma: float) -> ActiveStep | None:
        """The boundary activation of one model call inside the window, or None at or below the
        base size."""
        s = self.settings
        rows, cols = active_axes(latent_h, latent_w, s.base_height, s.base_width)
        if not (rows or cols):
            return None
        n = resolve_boundary_count(s.boundaries, latent_h, latent_w, s.base_height, s.base_width)
        return ActiveStep(rows, cols, sigma_key(sigma) if s.jitter else 0, latent_h, latent_w, n)

    @staticmethod
    def find(module):
        return spatial_convs(module)

    def targets(self, module) -> list[PatchTarget]:
        """Every spatial zero-padded conv's ``_conv_forward`` (docs/DESIGN.md section 2)."""
        return [PatchTarget(name, conv, "_conv_forward",
                            lambda fallback, spec=spec: self.conv_forward(spec, fallback))
                for name, conv, spec in spatial_convs(module)]

    def plan(self, spec: ConvSpec, height: int, width: int, method: str | None = None) -> ConvPlan:
        """The plan of one conv geometry and map size for the active step's boundary set."""
        step = self.active
        if step != self._plans_for:
            self._plans, self._plans_for = {}, step
        method = method or self.settings.method
        key = (spec, height, width, method)
        plan = self._plans.get(key)
        if plan is None:
            try:
                check_plan_size(spec, height, width)
            except ValueError as e:
                raise ValueError(f"{self.label}: the {step.latent_w}x{step.latent_h} latent of this "
                                 f"sampling is too large for PBC: {e}, or bypass PBC at this "
                                 "size") from None
            s = self.settings
            rows = step.rows and height >= s.min_size
            cols = step.cols and width >= s.min_size
            if s.layout == "central":
                bounds = central_boundary(height, width, step.latent_h, step.latent_w,
                                          s.base_height, s.base_width, rows, cols)
            else:
                bounds = virtual_boundaries(height, width, step.boundaries, s.jitter, s.seed,
                                            step.key, rows=rows, cols=cols)
            plan = self._plans[key] = make_plan(bounds, spec, method, s.merge)
        return plan

    def _run(self, spec, x, weight, bias):
        """Valued-padding conv, or None where no multiplier differs from 1 (then the caller runs
        the plain conv).  With method "auto" the plan holds the form of lower estimated cost
        (valued_padding.estimate_costs): nothing is timed on the user's input, so the first call
        at a new size costs one plan build, not a run of both forms.  With method "fused" the
        Triton kernel runs wherever it can (valued_padding.runs_fused)."""
        plan = self.plan(spec, *x.shape[-2:])
        return None if plan.method == "identity" else valued_padding_conv2d(x, weight, bias, plan)

    def conv_forward(self, spec: ConvSpec, fallback):
        """A replacement for a conv's `_conv_forward(input, weight, bias)`: valued padding while a
        step is active, otherwise `fallback` (the conv's own `_conv_forward`, or an earlier patch)."""

        def _conv_forward(input, weight, bias):
            if self.active is None:
                return fallback(input, weight, bias)
            out = self._run(spec, input, weight, bias)
            return fallback(input, weight, bias) if out is None else out

        return tagged(_conv_forward, self)


def spatial_convs(module) -> list[tuple[str, object, ConvSpec]]:
    """(name, conv, spec) for every conv of `module` that valued padding applies to."""
    from .valued_padding import conv_spec
    found = []
    for name, sub in module.named_modules():
        spec = conv_spec(sub)
        if spec is not None:
            found.append((name, sub, spec))
    return found
