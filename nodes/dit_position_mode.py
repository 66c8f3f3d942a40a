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
from .families import family_of
from .model_info import diffusion_model_of
from .search import schema

MODES = ("first", "interpolate", "ntk", "yarn", "linspace", "random")


class DiTPositionMode(io.ComfyNode):
    SEARCH_ALIASES = ["high res", "high resolution", "hires", "upscale", "Flux", "Flux.2", "Qwen-Image", "Z-Image",
                      "Lumina", "WAN", "Chroma", "SD3", "SD3.5", "PixArt", "RoPE", "NTK", "YaRN",
                      "position interpolation", "RPE-2D", "DiT"]
    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="DiTPositionMode",
            display_name="DiT Position Mode",
            category="model_patches",
            description=("Where a Diffusion Transformer's image tokens sit in position space above its "
                         "training size: plain extrapolation, interpolation onto the trained range, or "
                         "NTK / YaRN frequency scaling (RPE-2D's inference side). For Flux.1 / Kontext, Flux.2, "
                         "Chroma, Qwen-Image, Z-Image, Lumina 2, WAN 2.1 / 2.2, SD3 / SD3.5, PixArt and the RPE-2D "
                         "DiT Loader's DiTs. Each image axis on its own (never text, reference images or time); "
                         "at or below the base size the model samples exactly as without this node."),
            inputs=[
                io.Model.Input("model", tooltip="A Flux.1 (dev, schnell, Kontext, Fill), Flux.2, Chroma, Qwen-Image (Edit), Z-Image, Lumina 2, WAN 2.1 / 2.2, SD3 / SD3.5 or PixArt model, or a DiT from the RPE-2D DiT Loader."),
                io.Combo.Input("mode", options=list(MODES), default="yarn", tooltip="Applied to each axis longer than the base (n tokens, L trained). first: 0..n-1, plain extrapolation (on Flux, Chroma and SD3 the model as it is; on PixArt at its trained spacing, 1/2 for the 1024 px checkpoints). interpolate: positions i(L-1)/(n-1), squeezed onto the trained range. ntk: integer positions, frequency base theta*s^(d/(d-2)), s = n/L. yarn: per-frequency blend of interpolation and extrapolation by wavelength, plus attention temperature 0.1 ln s + 1 on RoPE models (Flux, Chroma, the pack's RoPE DiTs); SD3, PixArt and the pack's sin-cos DiTs add their positions to the tokens, so they get the blend without the temperature. The default, yarn: on both bundled tiny DiTs (sin-cos and RoPE), at every size above their training size, it kept the colours and more valid layouts than interpolate, which loses detail (their sun); first and ntk break the picture from 2x on. linspace / random: RPE-2D's modes, only for DiTs trained with RPE-2D (the loader's own checkpoints)."),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8, tooltip="Training size in pixels; 0 = auto: 1024 for Flux.1, Flux.2, Chroma, Z-Image, Lumina 2 and SD3 / SD3.5, 1328 for Qwen-Image, 1280 for WAN (832 for WAN 1.3B; set 832 for a 480p-only 14B), 512 x pe_interpolation for PixArt, the checkpoint's grid for the loader's DiTs. An axis at or below it is left exactly as it was; at or below it on both axes sampling is bit-identical to the unpatched model."),
                io.Int.Input("position_seed", default=0, min=0, max=0xffffffffffffffff, tooltip="Seed of the 'random' mode's sorted subset of positions; ignored by the other modes."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, mode, base_resolution, position_seed) -> io.NodeOutput:
        if mode not in MODES:
            raise ValueError(f"DiT Position Mode: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
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
