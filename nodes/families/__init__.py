"""The DiT families the DiT Position Mode node patches: one small adapter per family, one file each.

A family says what the node needs to know about a model and nothing else:

* ``name`` (said in messages and docs) and ``configs``, the ComfyUI model-config class names it
  covers (comfy/supported_models.py; the MRO is walked, so derived configs resolve);
* ``axes``, which position axes the node changes, in words (the docs' per-family table);
* ``auto_base(model)``, the training size in pixels that base_resolution 0 stands for;
* ``tokens_per_side(model, base)``, L: how many position steps the base size spans per axis;
* ``patch(m, dm, mode, base, L, position_seed)``, which attaches the mode to the clone ``m``.

Families are told apart by what the model object is (its config class and, for the pack's own
DiTs, the attributes of its diffusion model), never by a ComfyUI version: a family whose config
class this ComfyUI does not have is simply never matched.  The registry's order matters only
where one config derives from another (Flux2 from Flux: Flux.2 first; ChromaRadiance
from Chroma, ZImagePixelSpace from ZImage, and the HunyuanImage 2.1 refiner and HunyuanVideo 1.5
super-resolution configs from HunyuanVideo are refused by name, REFUSED).

To add a family: a module here with one ``Family`` object, added to ``FAMILIES`` below, and one
host test (tests/host/test_dit_families_host.py).
"""
from __future__ import annotations

from ..model_info import (UnsupportedModelError, diffusion_model_of, model_config_names, model_kind_name,
                          not_a_dit_fix)
from . import flux, hidream, hunyuan, lumina, pixart, posenc_dit, qwen_image, sd3, wan
from .base import Family

FAMILIES: tuple[Family, ...] = (
    flux.FLUX2, flux.FLUX, flux.CHROMA, qwen_image.FAMILY, lumina.ZIMAGE, lumina.LUMINA2, wan.FAMILY,
    hidream.FAMILY, hunyuan.IMAGE, hunyuan.VIDEO, sd3.FAMILY, pixart.FAMILY, posenc_dit.FAMILY)
#: Config classes refused by name although a supported family's config is among their bases
#: (pixel-space variants, the HunyuanImage 2.1 refiner and HunyuanVideo 1.5's super-resolution
#: model; ``not_a_dit_fix`` says why).
REFUSED = ("ChromaRadiance", "ZImagePixelSpace", "HunyuanImage21Refiner", "HunyuanVideo15_SR_Distilled")


def supported_names() -> list[str]:
    return [f.name for f in FAMILIES]


def family_of(model) -> Family:
    """The family of a ComfyUI MODEL, or an UnsupportedModelError naming it and listing the
    supported ones."""
    for family in FAMILIES:
        if family.matches(model):
            names = model_config_names(model)
            if names and names[0] in REFUSED:
                break
            return family
    diffusion_model_of(model)            # not a MODEL at all: that error first
    names = model_config_names(model)
    raise UnsupportedModelError(
        f"DiT Position Mode: this model, {model_kind_name(model)}, is not a supported DiT; supported: "
        f"{', '.join(supported_names())}. {not_a_dit_fix(model, names)}")
