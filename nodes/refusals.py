"""The error a U-Net node (PBC, re-dilation, the Boundary Visualizer) gives for a MODEL it cannot
patch, with what to use instead.  It names the DiT families DiT Position Mode supports, so it sits
above nodes/families/, which build on nodes/model_info.py."""
from __future__ import annotations

from .families import FAMILIES, supported_names
from .model_info import UnsupportedModelError, is_pack_dit, is_transformer, model_kind_name


def require_unet(model, spatial_conv_count: int, method: str = "PBC") -> None:
    """Raise a clear error for models without zero-padded spatial convolutions (transformers);
    `method` names the patch in the message."""
    if spatial_conv_count > 0:
        return
    kind = model_kind_name(model)
    hint = " (a transformer)" if is_transformer(kind) else ""
    raise UnsupportedModelError(
        f"{method} applies to convolutional U-Nets (SD 1.x, SD 2.x, SDXL); this model, {kind}{hint}, "
        f"has no zero-padded spatial convolutions to patch. {_not_a_unet_fix(model, kind)}")


def _not_a_unet_fix(model, kind: str) -> str:
    """What to do with a MODEL the U-Net patches refuse, for what it actually is."""
    if is_pack_dit(model):
        return ("It is a DiT from the RPE-2D DiT Loader, which samples at any size by itself; to set its "
                "positions above its training size, put DiT Position Mode between the loader and KSampler")
    if any(f.matches(model) for f in FAMILIES):
        return "For this DiT's positions above its training size use DiT Position Mode instead"
    if is_transformer(kind):
        return (f"This pack has no patch for this transformer yet (DiT Position Mode supports "
                f"{', '.join(supported_names())})")
    return "Connect the MODEL of an SD 1.x, SD 2.x or SDXL checkpoint, or of the Reference Model Loader"
