"""What the nodes need to know about a ComfyUI MODEL: its diffusion model, whether it is a
convolutional U-Net or a transformer, its base (training) resolution and its latent downscale
factor.  The DiT families (nodes/families/) build on this module; the U-Net nodes' refusal, which
names those families, is nodes/refusals.py.

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
_TRANSFORMER_HINTS = ("Flux", "SD3", "DiT", "PixArt", "AuraFlow", "HunyuanDiT", "Lumina", "ZImage", "Chroma",
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


#: Pixels per latent cell of latent formats that are not 8, for a ComfyUI whose LatentFormat has no
#: ``spacial_downscale_ratio`` yet (0.3.64 has neither the attribute nor Flux.2).
_LATENT_DOWNSCALE = {"Flux2": 16, "Wan22": 16, "HunyuanImage21": 32, "HunyuanVideo15": 16, "LTXV": 32,
                     "ChromaRadiance": 1}


def latent_downscale(model) -> int:
    """Pixels per latent cell: the pack's pixel-space models say so with a ``latent_downscale``
    attribute on the diffusion model; otherwise the model's latent format's
    ``spacial_downscale_ratio`` (Flux.2 and WAN 2.2 5B: 16), where this ComfyUI has it, else the
    format's known factor by class, else 8 (the SD-family VAEs)."""
    own = getattr(diffusion_model_of(model), "latent_downscale", None)
    if own:
        return int(own)
    fmt = getattr(getattr(model, "model", None), "latent_format", None)
    ratio = getattr(fmt, "spacial_downscale_ratio", None)
    if ratio:
        return int(ratio)
    return next((_LATENT_DOWNSCALE[c.__name__] for c in type(fmt).__mro__ if c.__name__ in _LATENT_DOWNSCALE), 8)


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


def is_transformer(kind: str) -> bool:
    return any(h.lower() in kind.lower() for h in _TRANSFORMER_HINTS)


def is_pack_dit(model) -> bool:
    """A DiT from the RPE-2D DiT Loader: the pack's own DiT, which computes its own positions."""
    dm = diffusion_model_of(model)
    return hasattr(dm, "encode_positions") and bool(getattr(dm, "base_resolution", None))


def not_a_dit_fix(model, names: list[str]) -> str:
    """What to do with a MODEL the DiT Position Mode node refuses, for what it actually is."""
    from ..posenc.pbc import spatial_convs
    if names and names[0] == "ChromaRadiance":
        return "Chroma Radiance (pixel space, patch 16) is not supported yet"
    if names and names[0] == "ZImagePixelSpace":
        return "Z-Image in pixel space is not supported yet"
    if names and names[0] == "HunyuanImage21Refiner":
        return ("The HunyuanImage 2.1 refiner is not supported: its latent format does not state its 16 px "
                "cells, so its training size cannot be counted; patch the HunyuanImage 2.1 model before it")
    if names and names[0] == "HunyuanVideo15_SR_Distilled":
        return ("HunyuanVideo 1.5's super-resolution model is not supported: it upsamples a low-resolution "
                "video it is given; patch the HunyuanVideo 1.5 model that makes that video")
    if any(n in _FAMILY_BASE or n == "SD20" for n in names) or spatial_convs(diffusion_model_of(model)):
        return ("It is a convolutional U-Net: above its training size use a hires fix or the PBC Model "
                "Patcher")
    if is_transformer(model_kind_name(model)):
        return "Its position embedding has no adapter in this pack yet"
    return "Connect the MODEL of one of these"
