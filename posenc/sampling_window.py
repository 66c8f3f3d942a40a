"""The one plumbing of every step-dependent patch (PBC, re-dilation, attention-entropy scaling).

A patch replaces some attributes of the diffusion model's submodules (a conv's ``_conv_forward``,
an attention block's ``forward``) with functions that consult a runtime.  Around each call of the
diffusion model the host opens ``runtime.step(height, width, sigma)``; inside it the runtime's
``active`` value says what the replaced functions do for this call, or is None, in which case they
call what they replaced and the output is bit-identical to the unpatched model.

A runtime is active only inside its sampling window, sigma_end <= sigma <= sigma_start (ComfyUI's
Deep Shrink convention; docs/DESIGN.md section 7), and only where its own ``activation`` says so
(for example only above the training size).  Three ways to apply one:

* ``patched_module(module, runtime)``: in place on a plain torch module, for the lab's samplers;
* ``runtime.diffusion_model_wrapper``: ComfyUI's DIFFUSION_MODEL wrapper, which opens the step
  from the wrapper's ``x`` and ``transformer_options["sigmas"]``; nodes/model_patching.py adds it
  together with one object patch per target (``runtime.targets``) to a clone of the MODEL;
* ``runtime.step(...)`` by hand, as the probe and the benchmarks do.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, NamedTuple


class PatchTarget(NamedTuple):
    """One attribute a patch replaces: ``module.<name>.<attribute>`` becomes ``make(original)``."""

    name: str            # dotted path of the submodule inside the patched module ("" = itself)
    module: Any
    attribute: str
    make: Callable       # original callable -> replacement


def in_window(settings, sigma: float) -> bool:
    """sigma_end <= sigma <= sigma_start of settings with those two fields (inf / 0 = always)."""
    return settings.sigma_end <= sigma <= settings.sigma_start


class WindowedRuntime:
    """Base of the runtimes: ``settings`` (with sigma_start, sigma_end) and the active value of the
    current model call.  Subclasses give ``activation`` and ``targets``."""

    def __init__(self, settings):
        self.settings = settings
        self.active = None

    def activation(self, height: int, width: int, sigma: float):
        """What the patch does for a model call inside the window on a height x width input;
        None = nothing (bit-identical output)."""
        raise NotImplementedError

    @staticmethod
    def find(module) -> list:
        """The submodules of `module` this kind of patch applies to, as (name, submodule, ...);
        an empty list means the model has nothing to patch."""
        raise NotImplementedError

    def targets(self, module) -> list[PatchTarget]:
        """The attributes of `module` this patch replaces."""
        raise NotImplementedError

    def step_for(self, height: int, width: int, sigma: float):
        """The activation of one model call, or None outside the window."""
        if not in_window(self.settings, sigma):
            return None
        return self.activation(height, width, sigma)

    @contextmanager
    def step(self, height: int, width: int, sigma: float):
        """Activate the patch for the model call(s) inside the block (re-entrant)."""
        previous, self.active = self.active, self.step_for(height, width, float(sigma))
        try:
            yield self.active
        finally:
            self.active = previous

    def diffusion_model_wrapper(self, executor, x, *args, **kwargs):
        """ComfyUI DIFFUSION_MODEL wrapper: (x, timesteps, context, y, control,
        transformer_options, ...) -> the model call inside ``self.step`` for this call's size and
        sigma.  Called outside a sampler (no sigmas): the model runs as it is."""
        options = kwargs["transformer_options"] if "transformer_options" in kwargs else (
            args[4] if len(args) > 4 else {})
        sigmas = options.get("sigmas")
        if sigmas is None:
            return executor(x, *args, **kwargs)
        with self.step(x.shape[-2], x.shape[-1], float(sigmas.max())):
            return executor(x, *args, **kwargs)


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

