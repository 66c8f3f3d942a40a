"""Attach a sampling-window patch (posenc/sampling_window.py) to a ComfyUI MODEL: a clone with one
object patch per target and the runtime's DIFFUSION_MODEL wrapper.  Shared by the PBC Model
Patcher and the Re-dilation Patcher; the original MODEL is never changed."""
from __future__ import annotations

from .model_info import diffusion_model_of, latent_downscale, require_unet, resolve_base_resolution


def check_percent_window(start_percent: float, end_percent: float, method: str) -> None:
    if not 0.0 <= start_percent <= end_percent <= 1.0:
        raise ValueError(f"{method}: need 0 <= start_percent <= end_percent <= 1 "
                         f"(got {start_percent}, {end_percent})")


def sigma_window(model, start_percent: float, end_percent: float, method: str) -> dict:
    """sigma_start / sigma_end of a start/end percent window on the model's noise schedule."""
    check_percent_window(start_percent, end_percent, method)
    sampling = model.get_model_object("model_sampling")
    return {"sigma_start": float(sampling.percent_to_sigma(start_percent)),
            "sigma_end": float(sampling.percent_to_sigma(end_percent))}


def base_latent_size(model, base_resolution: int, runtime_class, method: str) -> int:
    """The training size in latent cells (the user's base_resolution, 0 = the model's own, over
    the latent downscale), after checking that the model has something `runtime_class` patches."""
    require_unet(model, len(runtime_class.find(diffusion_model_of(model))), method=method)
    return resolve_base_resolution(model, base_resolution) // latent_downscale(model)


def patch_model(model, runtime, key: str):
    """A clone of `model` with `runtime` attached under the wrapper `key`."""
    m = model.clone()
    for t in runtime.targets(diffusion_model_of(m)):
        path = f"diffusion_model.{t.name}.{t.attribute}" if t.name else f"diffusion_model.{t.attribute}"
        m.add_object_patch(path, t.make(m.get_model_object(path)))
    from comfy.patcher_extension import WrappersMP
    m.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, key, runtime.diffusion_model_wrapper)
    return m
