"""What the nodes need to know about a ComfyUI MODEL: its diffusion model, whether it is a
convolutional U-Net, its base (training) resolution and its latent downscale factor.

Model kinds are recognised by the names of ComfyUI's model-config classes (comfy/supported_models.py),
walked along the class hierarchy so that derived configs (SSD-1B, Vega, KOALA, instruct-pix2pix,
Playground 2.5 which is an SDXL config with an EDM model type) resolve to their family.
"""
from __future__ import annotations

# Base resolution in pixels per model-config family; SD20 depends on the prediction type.
_FAMILY_BASE = {
    "SD15": 512,
    "SDXL": 1024,
    "SDXLRefiner": 1024,
    "Kolors": 1024,
}
_TRANSFORMER_HINTS = ("Flux", "SD3", "DiT", "PixArt", "AuraFlow", "HunyuanDiT", "Lumina", "Chroma",
                      "HiDream", "Cosmos", "WAN", "Hunyuan", "LTXV", "Mochi", "QwenImage", "StableCascade")


# Where the class labels travel in a CONDITIONING entry's dict (extra_conds reads them): each
# model refuses the other's key, so a label node wired to the wrong model fails with a message.
REFERENCE_CLASS_KEY = "reference_class"        # Reference Class Label -> the reference U-Net
DIT_CLASS_KEY = "posenc_dit_class_label"       # DiT Class Label -> a DiT from the RPE-2D loader


class UnsupportedModelError(ValueError):
    """The MODEL cannot be patched; the message says why and what to do."""


def diffusion_model_of(model):
    """The torch module ComfyUI calls as the diffusion model of a MODEL (a ModelPatcher)."""
    inner = getattr(model, "model", None)
    dm = getattr(inner, "diffusion_model", None)
    if dm is None:
        raise UnsupportedModelError(f"the input is not a diffusion MODEL (no model.diffusion_model; got a "
                                    f"{type(model).__name__}); connect the MODEL output of a checkpoint loader")
    return dm


def model_config_names(model) -> list[str]:
    config = getattr(getattr(model, "model", None), "model_config", None)
    return [c.__name__ for c in type(config).__mro__] if config is not None else []


def model_kind_name(model) -> str:
    names = model_config_names(model)
    return names[0] if names else type(diffusion_model_of(model)).__name__


def latent_downscale(model) -> int:
    """Pixels per latent cell: 8 for SD-family VAEs; models that work in pixel space (the bundled
    reference models) say so with a `latent_downscale` attribute on the diffusion model."""
    return int(getattr(diffusion_model_of(model), "latent_downscale", 8))


def auto_base_resolution(model) -> int:
    """Training resolution in pixels: SD 1.x 512; SD 2.x 512 (eps) or 768 (v-prediction); SDXL
    family 1024; the bundled reference models carry their own.  Raises for anything else."""
    own = getattr(diffusion_model_of(model), "base_resolution", None)
    if own:
        return int(own)
    for name in model_config_names(model):
        if name in _FAMILY_BASE:
            return _FAMILY_BASE[name]
        if name == "SD20":
            model_type = getattr(getattr(model.model, "model_type", None), "name", "")
            return 768 if model_type.startswith("V_PREDICTION") else 512
    raise UnsupportedModelError(
        f"cannot tell the training resolution of this model ({model_kind_name(model)}); "
        "set base_resolution to the size it was trained at (e.g. 512 or 1024)")


def resolve_base_resolution(model, base_resolution: int) -> int:
    """The base resolution in pixels: the user's value, or the model's own when it is 0."""
    if base_resolution < 0:
        raise ValueError(f"base_resolution must be 0 (auto) or a positive size in pixels (got {base_resolution})")
    if base_resolution == 0:
        return auto_base_resolution(model)
    if base_resolution % 8 != 0:
        raise ValueError(f"base_resolution must be a multiple of 8 (got {base_resolution}); "
                         f"use {base_resolution // 8 * 8} or {(base_resolution // 8 + 1) * 8}, or 0 for auto")
    return base_resolution


def unet_levels(model) -> int:
    """Number of resolution levels of the U-Net (len(channel_mult) in SD's UNetModel)."""
    dm = diffusion_model_of(model)
    mult = getattr(dm, "channel_mult", None)
    return len(mult) if mult is not None else int(getattr(dm, "num_levels", 1))


def require_unet(model, spatial_conv_count: int, method: str = "PBC") -> None:
    """Raise a clear error for models without zero-padded spatial convolutions (transformers);
    `method` names the patch in the message."""
    if spatial_conv_count > 0:
        return
    kind = model_kind_name(model)
    hint = " (a transformer)" if _is_transformer(kind) else ""
    raise UnsupportedModelError(
        f"{method} applies to convolutional U-Nets (SD 1.x, SD 2.x, SDXL); this model, {kind}{hint}, "
        f"has no zero-padded spatial convolutions to patch. {_not_a_unet_fix(model, kind)}")


def _is_transformer(kind: str) -> bool:
    return any(h.lower() in kind.lower() for h in _TRANSFORMER_HINTS)


def is_pack_dit(model) -> bool:
    """A DiT from the RPE-2D DiT Loader: the pack's own DiT, which computes its own positions."""
    dm = diffusion_model_of(model)
    return hasattr(dm, "encode_positions") and bool(getattr(dm, "base_resolution", None))


def _not_a_unet_fix(model, kind: str) -> str:
    """What to do with a MODEL the U-Net patches refuse, for what it actually is."""
    if is_pack_dit(model):
        return ("It is a DiT from the RPE-2D DiT Loader, which samples at any size by itself; to set its "
                "positions above its training size, put DiT Position Mode between the loader and KSampler")
    if _dit_family_entry(model_config_names(model)) is not None:
        return "For this DiT's positions above its training size use DiT Position Mode instead"
    if _is_transformer(kind):
        return (f"This pack has no patch for this transformer yet (DiT Position Mode supports "
                f"{', '.join(SUPPORTED_DIT_FAMILIES)})")
    return "Connect the MODEL of an SD 1.x, SD 2.x or SDXL checkpoint, or of the Reference Model Loader"


# DiT families the DiT Position Mode node patches, by model-config class name (MRO walked as
# above): the hook each takes and its base resolution in pixels (docs/DESIGN.md section 9).
DIT_FAMILIES = {
    "Flux": ("flux", 1024),          # Flux dev, Kontext (same config); FluxInpaint, FluxSchnell derive
    "Chroma": ("flux", 1024),        # Chroma: Flux's RoPE embedder (EmbedND) on the same ids
    "SD3": ("sd3", 1024),            # SD3 and SD3.5 (medium, large, turbo): one config class
    "PixArtAlpha": ("pixart", None),  # PixArt-alpha and PixArtSigma (derived): base from the model
}
SUPPORTED_DIT_FAMILIES = ("Flux (dev, schnell, Kontext, Fill)", "Chroma", "SD3 / SD3.5",
                          "PixArt (alpha, Sigma)", "the RPE-2D DiT Loader's DiTs")


def pixart_base_resolution(model) -> int:
    """PixArt's training size in pixels: 512 x its ``pe_interpolation`` (ComfyUI sets that from the
    checkpoint's pos_embed: side in tokens / 32, so 2 for the 1024 px models, 4 for Sigma 2K); for
    a checkpoint without a pos_embed (diffusers layout) its detected ``input_size``, else 1024."""
    pe = getattr(diffusion_model_of(model), "pe_interpolation", None)
    if pe:
        return int(round(512 * float(pe)))
    size = (getattr(model.model.model_config, "unet_config", None) or {}).get("input_size")
    return int(size) * latent_downscale(model) if size else 1024


def dit_family(model) -> tuple[str, int]:
    """(hook, base resolution in pixels) for the DiT Position Mode node: "posenc" for the pack's own
    DiT (its base: the checkpoint's grid), "flux", "sd3" or "pixart".  Raises naming the family
    otherwise (ChromaRadiance is a Chroma config in pixel space: not supported)."""
    dm = diffusion_model_of(model)
    own = getattr(dm, "base_resolution", None)
    if hasattr(dm, "encode_positions") and own:
        return "posenc", int(own)
    names = model_config_names(model)
    entry = _dit_family_entry(names)
    if entry is not None:
        family, base = entry
        return family, base if base is not None else pixart_base_resolution(model)
    raise UnsupportedModelError(
        f"DiT Position Mode: this model, {model_kind_name(model)}, is not a supported DiT; supported: "
        f"{', '.join(SUPPORTED_DIT_FAMILIES)}. {_not_a_dit_fix(model, names)}")


def _dit_family_entry(names: list[str]):
    """DIT_FAMILIES' (hook, base) for model-config class names (MRO order), or None."""
    if names and names[0] != "ChromaRadiance":
        for name in names:
            if name in DIT_FAMILIES:
                return DIT_FAMILIES[name]
    return None


def _not_a_dit_fix(model, names: list[str]) -> str:
    """What to do with a MODEL the DiT Position Mode node refuses, for what it actually is."""
    from ..posenc.pbc import spatial_convs
    if names and names[0] == "ChromaRadiance":
        return "Chroma Radiance (pixel space, patch 16) is not supported yet"
    if any(n in _FAMILY_BASE or n == "SD20" for n in names) or spatial_convs(diffusion_model_of(model)):
        return ("It is a convolutional U-Net: above its training size use a hires fix or the PBC Model "
                "Patcher")
    if _is_transformer(model_kind_name(model)):
        return "Its position embedding has no adapter in this pack yet"
    return "Connect the MODEL of one of these"
