"""The pack's own DiTs (RPE-2D DiT Loader, sin-cos or RoPE): a transformer_options entry their adapter reads.

The DiT turns the mode into its table or its rotations itself (nodes/rpe2d_loader.py, posenc/dit.py),
per axis: the mode on an axis above the base grid, the checkpoint's own mode elsewhere.  Recognised
by what the diffusion model has (``encode_positions`` and its ``base_resolution``), not by a config.
The only family that takes RPE-2D's modes (linspace, random).
"""
from __future__ import annotations

from ...posenc import position_modes as pm
from ..model_info import is_pack_dit, latent_downscale
from .base import Family


class PosencDiTFamily(Family):
    def matches(self, model) -> bool:
        return getattr(getattr(model, "model", None), "diffusion_model", None) is not None and is_pack_dit(model)

    def auto_base(self, model) -> int:
        return int(model.model.diffusion_model.base_resolution)

    def tokens_per_side(self, model, base: int) -> int:
        return base // (model.model.diffusion_model.patch_size * latent_downscale(model))

    def patch(self, m, dm, mode: str, base: int, L: int, position_seed: int = 0) -> None:
        opts = m.model_options.setdefault("transformer_options", {})
        previous = opts.get(pm.POSITION_MODE_KEY) or {}
        opts[pm.POSITION_MODE_KEY] = {
            "mode": mode, "seed": int(position_seed), "base_grid": (L, L),
            "default": previous.get("default", {"mode": previous.get("mode"), "seed": previous.get("seed", 0)})}


FAMILY = PosencDiTFamily(name="the RPE-2D DiT Loader's DiTs", configs=(), vanilla_only=False,
                         axes="rows and columns (the DiT's own table or rotations)")
