"""SD3 / SD3.5: an object patch on ``diffusion_model.cropped_pos_embed`` (a sin-cos table added to the tokens).

The stored table (``pos_embed``, ``pos_embed_max_size``² rows) is checked once to be a sin-cos of
evenly spaced positions a + c * index; an axis at or below L reads the stored table as SD3 does, a
longer one is evaluated from the formula at the mode's table positions.  Changed: rows and columns;
no temperature (the table is added to the tokens, it does not rotate q and k).
"""
from __future__ import annotations

from ...posenc import position_modes as pm
from ..model_info import diffusion_model_of, latent_downscale
from .base import Family


def sd3_cropped_pos_embed(original, dm, mode: str, L: int):
    """SD3's ``cropped_pos_embed`` under a mode (see the module docstring)."""
    table = dm.pos_embed
    size, D = dm.pos_embed_max_size, table.shape[-1]
    grid = table.reshape(size, size, D)
    fit = pm.fit_sincos_table(grid.float().cpu(), D)
    if fit is None:
        raise ValueError("DiT Position Mode: this SD3-family model's pos_embed is not a sin-cos table "
                         "of evenly spaced positions; only mode 'first' (the model as it is) applies")
    a, c = fit

    def cropped_pos_embed(hw, device=None):
        p = dm.x_embedder.patch_size[0]
        n_h, n_w = (hw[0] + 1) // p, (hw[1] + 1) // p
        if not (pm.axis_active(n_h, L) or pm.axis_active(n_w, L)):
            return original(hw, device=device)
        stored = dm.pos_embed.reshape(size, size, D)
        half = D // 2
        if pm.axis_active(n_h, L):
            rows = pm.table_axis_encoding(n_h, L, size, a, c, half, mode).to(stored)
        else:
            rows = stored[(size - n_h) // 2:(size - n_h) // 2 + n_h, 0, half:]
        if pm.axis_active(n_w, L):
            cols = pm.table_axis_encoding(n_w, L, size, a, c, half, mode).to(stored)
        else:
            cols = stored[0, (size - n_w) // 2:(size - n_w) // 2 + n_w, :half]
        return pm.combine_axes(rows, cols).unsqueeze(0).to(device=device)

    return cropped_pos_embed


class SD3Family(Family):
    fixed_base = 1024

    def auto_base(self, model) -> int:
        return self.fixed_base

    def tokens_per_side(self, model, base: int) -> int:
        return base // (latent_downscale(model) * diffusion_model_of(model).x_embedder.patch_size[0])

    def patch(self, m, dm, mode: str, base: int, L: int, position_seed: int = 0) -> None:
        if mode == "first":
            return
        if getattr(dm, "pos_embed", None) is None:
            raise ValueError("DiT Position Mode: this SD3-family model has no pos_embed table; only "
                             "mode 'first' applies")
        m.add_object_patch("diffusion_model.cropped_pos_embed", sd3_cropped_pos_embed(
            m.get_model_object("diffusion_model.cropped_pos_embed"), dm, mode, L))


FAMILY = SD3Family(name="SD3 / SD3.5", configs=("SD3",), axes="rows and columns (sin-cos table, no temperature)")
