"""DiT Position Mode: where a DiT's image tokens sit in position space above its training size.

Wiring only; the modes (positions, frequencies, YaRN's blend and temperature, sin-cos tables) are
posenc/position_modes.py, the design docs/DESIGN.md section 9.  Each model family is one small
adapter in nodes/families/ (which embedder, which axes, which tokens are the image, the base size);
this node finds the model's family, checks the inputs and lets the family patch a clone.
"""
from __future__ import annotations

from comfy_api.latest import io

from ..posenc import position_modes as pm
from ..posenc.limits import MAX_SIZE
from .choices import check_choice
from .families import family_of
from .model_info import diffusion_model_of
from .search import schema

MODES = ("first", "interpolate", "ntk", "yarn", "linspace", "random")


class DiTPositionMode(io.ComfyNode):
    SEARCH_ALIASES = ["high res", "high resolution", "hires", "upscale", "Flux", "Flux.2", "Qwen-Image", "Z-Image",
                      "Lumina", "WAN", "HiDream", "HunyuanImage", "HunyuanVideo", "Chroma", "SD3", "SD3.5",
                      "PixArt", "RoPE", "NTK", "YaRN", "interpolate", "position interpolation", "RPE-2D", "DiT"]
    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="DiTPositionMode",
            display_name="DiT Position Mode (YaRN, NTK, interpolate)",
            category="model_patches",
            description=("Where a DiT's image tokens sit in position space above its training size: extrapolation, "
                         "interpolation, NTK or YaRN. For Flux.1/2, Chroma, Qwen-Image, Z-Image, Lumina 2, WAN, HiDream, Hunyuan, SD3, "
                         "PixArt and the loader's DiTs; text, references and time untouched. Formulas: docs/nodes.md."),
            inputs=[
                io.Model.Input("model", tooltip="A Flux.1/2, Chroma, Qwen-Image, Z-Image, Lumina 2, WAN, HiDream, HunyuanImage/Video, SD3/SD3.5 or PixArt model, or a DiT from the RPE-2D DiT Loader."),
                io.Combo.Input("mode", options=list(MODES), default="yarn", tooltip="Positions on each axis above the training size, every step of any pass (full, hires-fix second, img2img, custom sigmas). Default yarn; linspace, random: RPE-2D-trained DiTs only."),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8, tooltip="Training size in px. Default 0 = auto: 1024; Qwen-Image 1328; WAN, HunyuanVideo 1280 (WAN 1.3B 832); HunyuanImage 2048; PixArt, loader DiTs: their own. Axes at or below stay."),
                io.Int.Input("position_seed", default=0, min=0, max=0xffffffffffffffff, tooltip="Seed of the 'random' mode's positions (default 0); ignored by the other modes."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, mode, base_resolution, position_seed) -> io.NodeOutput:
        check_choice("DiT Position Mode", "mode", mode, MODES)
        family = family_of(model)
        base = family.auto_base(model) if base_resolution == 0 else base_resolution
        if base < 0 or base % 8:
            raise ValueError(f"DiT Position Mode: base_resolution must be 0 (auto) or a positive multiple "
                             f"of 8 (got {base_resolution})")
        if family.vanilla_only and mode not in pm.VANILLA_MODES:
            raise ValueError(f"DiT Position Mode: mode '{mode}' needs a DiT trained with RPE-2D positions "
                             f"(the RPE-2D DiT Loader's own checkpoints); for {family.name} use "
                             f"{', '.join(pm.VANILLA_MODES)}")
        m = model.clone()
        family.patch(m, diffusion_model_of(model), mode, base, family.tokens_per_side(model, base), position_seed)
        return io.NodeOutput(m)
