"""PixArt (alpha, Sigma): an object patch on ``x_embedder.forward`` (PixArt computes its table inline).

PixArt's forward adds its sin-cos table to the patch embedding inside ``forward_orig``: x_embedder(x)
+ table.  The only per-call hook before that sum is the patch embedding, so on a latent with an axis
above L this returns x_embedder(x) + (mode's table - PixArt's table): the sum is the mode's table,
up to one rounding in the model's dtype.  Changed: rows and columns; no temperature.
"""
from __future__ import annotations

import torch

from ...posenc import position_modes as pm
from ..model_info import diffusion_model_of, latent_downscale
from .base import Family

PIXART_KEY = "diffusion_model.x_embedder.forward"


def pixart_own_table(dm, h: int, w: int, device, dtype):
    """The table PixArt's forward adds for a latent of h x w cells, made by ComfyUI's own function with
    the arguments its ``forward_orig`` computes (``pixart_pe_args``): (n_h * n_w, D), columns first."""
    from comfy.ldm.pixart.pixartms import get_2d_sincos_pos_embed_torch
    pe, base_size = pm.pixart_pe_args(h, w, dm.patch_size, dm.pe_interpolation, dm.pe_precision)
    return get_2d_sincos_pos_embed_torch(dm.hidden_size, h=h // dm.patch_size, w=w // dm.patch_size,
                                         pe_interpolation=pe, base_size=base_size, device=device, dtype=dtype)


def pixart_x_embedder_forward(original, dm, mode: str, L: int, c: float):
    """PixArt's patch embedding under a mode (module docstring).  The mode's table: an axis above L
    from ``spaced_axis_encoding`` (trained spacing c), an axis at or below L PixArt's own channels (a
    zero correction).  With no axis above L: ``original(x)``, untouched."""
    cache = {}

    def forward(x):
        out = original(x)
        h, w = x.shape[-2], x.shape[-1]
        n_h, n_w = h // dm.patch_size, w // dm.patch_size
        active = (pm.axis_active(n_h, L), pm.axis_active(n_w, L))
        if not any(active):
            return out
        key = (h, w, out.device, out.dtype, x.dtype)
        if key not in cache:
            cache.clear()
            own = pixart_own_table(dm, h, w, x.device, x.dtype).reshape(n_h, n_w, -1).double()
            half = own.shape[-1] // 2
            corr = torch.zeros_like(own)
            if active[1]:    # columns: the first half of the channels
                cols = pm.spaced_axis_encoding(n_w, L, c, half, mode).to(own.device)
                corr[..., :half] = cols.unsqueeze(0) - own[..., :half]
            if active[0]:    # rows: the second half
                rows = pm.spaced_axis_encoding(n_h, L, c, half, mode).to(own.device)
                corr[..., half:] = rows.unsqueeze(1) - own[..., half:]
            cache[key] = corr.reshape(1, n_h * n_w, -1).to(device=out.device, dtype=out.dtype)
        return out + cache[key]

    forward.posenc_unpatched = original   # a later DiT Position Mode node replaces this one
    return forward


def pixart_base_resolution(model) -> int:
    """PixArt's training size in pixels: 512 x its ``pe_interpolation`` (ComfyUI sets that from the
    checkpoint's pos_embed: side in tokens / 32, so 2 for the 1024 px models, 4 for Sigma 2K); for
    a checkpoint without a pos_embed (diffusers layout) its detected ``input_size``, else 1024."""
    pe = getattr(diffusion_model_of(model), "pe_interpolation", None)
    if pe:
        return int(round(512 * float(pe)))
    size = (getattr(model.model.model_config, "unet_config", None) or {}).get("input_size")
    return int(size) * latent_downscale(model) if size else 1024


class PixArtFamily(Family):
    def auto_base(self, model) -> int:
        return pixart_base_resolution(model)

    def tokens_per_side(self, model, base: int) -> int:
        return base // latent_downscale(model) // diffusion_model_of(model).patch_size

    def patch(self, m, dm, mode: str, base: int, L: int, position_seed: int = 0) -> None:
        cells = base // latent_downscale(m)
        try:
            c = pm.pixart_spacing(cells, dm.patch_size, dm.pe_interpolation, dm.pe_precision)
        except ValueError as e:
            raise ValueError(f"DiT Position Mode: {e}; set base_resolution to the checkpoint's "
                             "training size (512, 1024 or 2048 px)") from None
        original = m.get_model_object(PIXART_KEY)
        original = getattr(original, "posenc_unpatched", original)
        m.add_object_patch(PIXART_KEY, pixart_x_embedder_forward(original, dm, mode, L, c))


FAMILY = PixArtFamily(name="PixArt (alpha, Sigma)", configs=("PixArtAlpha",),
                      axes="rows and columns (sin-cos table, no temperature)")
