"""The one plumbing of every step-dependent patch (PBC, re-dilation, attention-entropy scaling).

A patch replaces some attributes of the diffusion model's submodules (a conv's ``_conv_forward``,
an attention block's ``forward``) with functions that consult a runtime.  Around each call of the
diffusion model the host opens ``runtime.step(height, width, sigma, run_sigmas)``; inside it the
runtime's ``active`` value says what the replaced functions do for this call, or is None, in which
case they call what they replaced and the output is bit-identical to the unpatched model.

A runtime is active only inside its sampling window and only where its own ``activation`` says so
(for example only above the training size).  The window (docs/DESIGN.md section 7) has two parts,
both in the settings:

* ``start_percent`` / ``end_percent``: a share of the steps of the sampling run that is actually
  happening.  A run of n steps has the sigmas s_0 > s_1 > ... > s_n; a model call at sigma s
  belongs to step i when s_i >= s > s_(i+1) (``run_step``), and step i is in the window when
  start_percent <= i / n < end_percent (``window_steps``).  0-1 is every step; 0-0.5 the first
  half (exactly n/2 steps for even n, (n+1)/2 for odd n).  This is what the nodes use, so that a
  denoise-0.5 second pass or a custom SIGMAS run gets the window on its own steps.
* ``sigma_start`` / ``sigma_end``: an absolute noise-level window, sigma_end <= sigma <=
  sigma_start (ComfyUI's Deep Shrink convention; inf / 0 = always), which the lab's samplers use.

Three ways to apply one:

* ``patched_module(module, runtime)``: in place on a plain torch module, for the lab's samplers;
* ``runtime.diffusion_model_wrapper``: ComfyUI's DIFFUSION_MODEL wrapper, which opens the step
  from the wrapper's ``x`` and ``transformer_options`` ("sigmas": this call's sigma,
  "sample_sigmas": the run's); ``runtime.outer_sample_wrapper`` (OUTER_SAMPLE) marks the run's
  start and end and logs a warning when a run above the base size ends without the patch ever
  being active.  nodes/model_patching.py adds both together with one object patch per target
  (``runtime.targets``) to a clone of the MODEL;
* ``runtime.step(...)`` by hand, as the probe and the benchmarks do.
"""
from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, NamedTuple, Sequence

log = logging.getLogger(__name__)

# Two sigmas closer than this (relative) are the same noise level: the sampler's sigma and the
# run's sigmas reach the wrapper through different float32 / float64 round trips.
SIGMA_RTOL = 1e-5


class PatchTarget(NamedTuple):
    """One attribute a patch replaces: ``module.<name>.<attribute>`` becomes ``make(original)``."""

    name: str            # dotted path of the submodule inside the patched module ("" = itself)
    module: Any
    attribute: str
    make: Callable       # original callable -> replacement


def check_step_window(start_percent: float, end_percent: float, what: str = "window") -> None:
    """0 <= start_percent <= end_percent <= 1, or a ValueError that says so."""
    if not 0.0 <= start_percent <= end_percent <= 1.0:
        raise ValueError(f"{what}: need 0 <= start_percent <= end_percent <= 1 "
                         f"(got {start_percent}, {end_percent})")


@dataclass(frozen=True)
class BaseSizeWindow:
    """Settings of a patch that needs only a base (training) size in latent cells and the sampling
    window (sigma_start >= sigma >= sigma_end, and start_percent / end_percent of the run's steps);
    the default window is every step.  A subclass names its method in ``WHAT`` for the error."""

    WHAT: ClassVar[str] = "window"
    base_height: int = 32
    base_width: int = 32
    sigma_start: float = math.inf
    sigma_end: float = 0.0
    start_percent: float = 0.0
    end_percent: float = 1.0

    def __post_init__(self):
        check_step_window(self.start_percent, self.end_percent, self.WHAT)


def window_steps(steps: int, start_percent: float, end_percent: float) -> range:
    """The steps i of a run of `steps` steps with start_percent <= i / steps < end_percent
    (docs/DESIGN.md section 7): 0-1 = all, 0-0.5 = the first ceil(steps / 2)."""
    inside = [i for i in range(steps) if start_percent <= i / steps < end_percent]
    return range(inside[0], inside[-1] + 1) if inside else range(0)


def run_step(run_sigmas: Sequence[float], sigma: float) -> int:
    """The step of a run with sigmas s_0..s_n that a model call at `sigma` belongs to: the first i
    with s_i >= sigma > s_(i+1), sigmas equal within SIGMA_RTOL.  A call at a step's own sigma is
    that step; a call between two sigmas (dpm_2's midpoint, dpmpp_sde's intermediate sigma) is the
    step it lies in; a call at exactly s_(i+1) is step i+1, also Heun's second evaluation of step i
    (docs/DESIGN.md section 7).  Above s_0: step 0; at or below s_n: the last step."""
    n = len(run_sigmas) - 1
    tol = SIGMA_RTOL * abs(sigma)
    for i in range(n):
        if run_sigmas[i] + tol >= sigma > run_sigmas[i + 1] + tol:
            return i
    return 0 if n < 1 or sigma > run_sigmas[0] else n - 1


def window_overlap(a, b) -> tuple[float, float] | None:
    """The share of the steps that the step windows of settings `a` and `b` both cover, as
    (start, end), or None when they do not overlap."""
    lo, hi = max(a.start_percent, b.start_percent), min(a.end_percent, b.end_percent)
    return (lo, hi) if lo < hi else None


def full_step_window(settings) -> bool:
    return settings.start_percent <= 0.0 and settings.end_percent >= 1.0


def in_window(settings, sigma: float, run_sigmas: Sequence[float] | None = None) -> bool:
    """Whether a call at `sigma` of a run with `run_sigmas` is inside the settings' window: the
    sigma window sigma_end <= sigma <= sigma_start, and the step window (module docstring).  A
    step window other than 0-1 needs the run's sigmas; without them no step is inside it."""
    if not settings.sigma_end <= sigma <= settings.sigma_start:
        return False
    if full_step_window(settings):
        return True
    if run_sigmas is None or len(run_sigmas) < 2:
        return False
    n = len(run_sigmas) - 1
    return settings.start_percent <= run_step(run_sigmas, sigma) / n < settings.end_percent


class WindowedRuntime:
    """Base of the runtimes: ``settings`` (with start_percent, end_percent, sigma_start,
    sigma_end, base_height, base_width) and the active value of the current model call.
    Subclasses give ``activation``, ``targets`` and ``label`` (the node's name, for messages)."""

    label = "patch"

    def __init__(self, settings):
        self.settings = settings
        self.active = None
        self.was_active = False          # set by every active step; cleared at a run's start
        self.missing_run_sigmas = False  # a call needed the run's sigmas and got none
        self._run_sigmas_of = None       # the tensor the wrapper last converted, and its floats
        self._run_sigmas: list[float] | None = None

    def activation(self, height: int, width: int, sigma: float):
        """What the patch does for a model call inside the window on a height x width input;
        None = nothing (bit-identical output)."""
        raise NotImplementedError

    def size_note(self, height: int, width: int) -> str:
        """Why `activation` is None at this size above the base (for the idle-run warning)."""
        return f"it does nothing at {height}x{width}"

    @staticmethod
    def find(module) -> list:
        """The submodules of `module` this kind of patch applies to, as (name, submodule, ...);
        an empty list means the model has nothing to patch."""
        raise NotImplementedError

    def targets(self, module) -> list[PatchTarget]:
        """The attributes of `module` this patch replaces."""
        raise NotImplementedError

    def step_for(self, height: int, width: int, sigma: float, run_sigmas=None):
        """The activation of one model call, or None outside the window."""
        if run_sigmas is None and not full_step_window(self.settings):
            self.missing_run_sigmas = True
        if not in_window(self.settings, sigma, run_sigmas):
            return None
        return self.activation(height, width, sigma)

    @contextmanager
    def step(self, height: int, width: int, sigma: float, run_sigmas: Sequence[float] | None = None):
        """Activate the patch for the model call(s) inside the block (re-entrant); `run_sigmas`
        are the sigmas of the sampling run the call belongs to (needed by a step window)."""
        previous, self.active = self.active, self.step_for(height, width, float(sigma), run_sigmas)
        self.was_active = self.was_active or self.active is not None
        try:
            yield self.active
        finally:
            self.active = previous

    def _floats(self, sample_sigmas):
        """The run's sigmas as floats, converted once per run (the tensor stays the same)."""
        if sample_sigmas is None:
            return None
        if sample_sigmas is not self._run_sigmas_of:
            self._run_sigmas_of = sample_sigmas
            self._run_sigmas = [float(v) for v in sample_sigmas.flatten().tolist()]
        return self._run_sigmas

    def diffusion_model_wrapper(self, executor, x, *args, **kwargs):
        """ComfyUI DIFFUSION_MODEL wrapper: (x, timesteps, context, y, control,
        transformer_options, ...) -> the model call inside ``self.step`` for this call's size,
        sigma (``transformer_options["sigmas"]``) and run (``["sample_sigmas"]``).  Called outside
        a sampler (no sigmas): the model runs as it is."""
        options = kwargs["transformer_options"] if "transformer_options" in kwargs else (
            args[4] if len(args) > 4 else {})
        sigmas = options.get("sigmas")
        if sigmas is None:
            return executor(x, *args, **kwargs)
        run = self._floats(options.get("sample_sigmas"))
        with self.step(x.shape[-2], x.shape[-1], float(sigmas.max()), run):
            return executor(x, *args, **kwargs)

    def idle_warning(self, height: int, width: int, run_sigmas: Sequence[float]) -> str | None:
        """The warning for a sampling run on a height x width latent that ended without the patch
        ever being active, or None when there is nothing to say (it was active, or the latent is
        not larger than the base size)."""
        s = self.settings
        if self.was_active or not (height > s.base_height or width > s.base_width):
            return None
        n = len(run_sigmas) - 1
        run = (f"{n} step{'s' if n != 1 else ''} (sigma {run_sigmas[0]:.3g} to {run_sigmas[-1]:.3g})"
               if n >= 1 else "no steps")
        window = f"start_percent {s.start_percent:g} - end_percent {s.end_percent:g}"
        if n >= 1 and not window_steps(n, s.start_percent, s.end_percent):
            why = (f"its window ({window}) covers no step of this run (step i of n is patched "
                   "when start_percent <= i/n < end_percent); widen the window")
        elif self.missing_run_sigmas:
            why = ("the sampler did not pass the run's sigmas (transformer_options['sample_sigmas']), "
                   f"so the window ({window}) could not be placed; use 0-1 to patch every step")
        elif n >= 1 and not any(s.sigma_end <= v <= s.sigma_start for v in run_sigmas[:-1]):
            why = f"its sigma window {s.sigma_end:g}-{s.sigma_start:g} holds no sigma of this run"
        elif self.activation(height, width, run_sigmas[0]) is None:
            why = self.size_note(height, width)
        else:
            why = "the model was never called inside its window"
        return (f"{self.label} changed nothing in this sampling run of {run}, although the latent "
                f"({height}x{width}) is larger than the base size ({s.base_height}x{s.base_width}): "
                f"{why}.")

    @contextmanager
    def run(self, height: int, width: int, run_sigmas: Sequence[float]):
        """One sampling run on a height x width latent: on exit, log ``idle_warning`` once."""
        self.was_active, self.missing_run_sigmas = False, False
        yield
        message = self.idle_warning(height, width, [float(v) for v in run_sigmas])
        if message:
            log.warning(message)

    def outer_sample_wrapper(self, executor, noise, latent_image, sampler, sigmas, *args, **kwargs):
        """ComfyUI OUTER_SAMPLE wrapper (CFGGuider.outer_sample: noise, latent_image, sampler,
        sigmas, ...): the whole run inside ``self.run`` for the latent's size and the run's sigmas."""
        with self.run(noise.shape[-2], noise.shape[-1], sigmas.flatten().tolist()):
            return executor(noise, latent_image, sampler, sigmas, *args, **kwargs)

def tagged(fn, runtime):
    """Mark a replacement function with the runtime it consults (for inspection and tests)."""
    fn.runtime = runtime
    return fn


@contextmanager
def patched_module(module, runtime: WindowedRuntime):
    """Apply `runtime`'s patch to a plain torch module in place for the duration of the block
    (instance attributes shadow the class's; removed on exit).  Yields the targets."""
    found = runtime.targets(module)
    for t in found:
        setattr(t.module, t.attribute, t.make(getattr(type(t.module), t.attribute).__get__(t.module)))
    try:
        yield found
    finally:
        for t in found:
            delattr(t.module, t.attribute)

