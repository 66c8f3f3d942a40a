"""Attach a sampling-window patch (posenc/sampling_window.py) to a ComfyUI MODEL: a clone with one
object patch per target, the runtime's DIFFUSION_MODEL wrapper (one model call's step) and its
OUTER_SAMPLE wrapper (one sampling run, for the idle-run warning).  Shared by the PBC Model
Patcher and the Re-dilation Patcher; the original MODEL is never changed."""
from __future__ import annotations

import logging

from ..posenc.sampling_window import check_step_window, window_overlap
from .model_info import diffusion_model_of, latent_downscale, resolve_base_resolution
from .refusals import require_unet

log = logging.getLogger(__name__)


def step_window(start_percent: float, end_percent: float, method: str) -> dict:
    """The settings of a start/end percent window on the steps of the run being sampled
    (docs/DESIGN.md section 7), after checking it."""
    check_step_window(start_percent, end_percent, method)
    return {"start_percent": float(start_percent), "end_percent": float(end_percent)}


def base_latent_size(model, base_resolution: int, runtime_class, method: str) -> int:
    """The training size in latent cells (the user's base_resolution, 0 = the model's own, over
    the latent downscale), after checking that the model has something `runtime_class` patches."""
    require_unet(model, len(runtime_class.find(diffusion_model_of(model))), method=method)
    return resolve_base_resolution(model, base_resolution) // latent_downscale(model)


def override_warning(runtime, earlier, shared: int) -> str | None:
    """What to tell the user when `runtime` is patched over `earlier` on `shared` of the same
    attributes, or None when their step windows do not overlap (then each runs in its own)."""
    a, b = runtime.settings, earlier.settings
    both = window_overlap(a, b)
    if both is None:
        return None
    lo, hi = both
    return (f"{runtime.label} is applied after {earlier.label} on {shared} of the same "
            f"convolutions and their windows overlap ({b.start_percent:g}-{b.end_percent:g} and "
            f"{a.start_percent:g}-{a.end_percent:g} of the steps): in the steps where both are "
            f"active ({lo:g}-{hi:g}), these convolutions run {runtime.label}'s patch only; "
            f"{earlier.label} is skipped there (the later patch overrides the earlier). Give them "
            "windows that do not overlap to run both.")


def patch_model(model, runtime, key: str):
    """A clone of `model` with `runtime` attached under the wrapper `key`.  A patch of this pack
    already on some of the same attributes becomes the new patch's fallback: it still runs
    whenever the new one is inactive, and `override_warning` says when both can be active."""
    m = model.clone()
    earlier: dict = {}
    for t in runtime.targets(diffusion_model_of(m)):
        path = f"diffusion_model.{t.name}.{t.attribute}" if t.name else f"diffusion_model.{t.attribute}"
        previous = m.get_model_object(path)
        if getattr(previous, "runtime", None) is not None:
            earlier[previous.runtime] = earlier.get(previous.runtime, 0) + 1
        m.add_object_patch(path, t.make(previous))
    for other, shared in earlier.items():
        message = override_warning(runtime, other, shared)
        if message:
            log.warning(message)
    from comfy.patcher_extension import WrappersMP
    m.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, key, runtime.diffusion_model_wrapper)
    m.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, key, runtime.outer_sample_wrapper)
    return m
