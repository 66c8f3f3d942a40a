"""DiT Position Mode: where a DiT's image tokens sit in position space above its training size.

Wiring only; the modes (positions, frequencies, YaRN's blend and temperature, sin-cos tables) are
posenc/position_modes.py, the design docs/DESIGN.md section 9.  One hook per family, each a ComfyUI
patch on a clone: Flux/Chroma an object patch on the RoPE embedder ``pe_embedder``; SD3/SD3.5 an
object patch on ``cropped_pos_embed``; PixArt an object patch on ``x_embedder.forward`` that adds
the mode's table minus PixArt's own (its forward computes the table inline); the pack's own DiT
(sin-cos or RoPE) a transformer_options entry its adapter reads (nodes/rpe2d_loader.py), the DiT
turning the mode into its table or its rotations (posenc/dit.py).
"""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..posenc import position_modes as pm
from ..posenc.limits import MAX_SIZE
from .model_info import diffusion_model_of, dit_family, latent_downscale
from .search import schema

MODES = ("first", "interpolate", "ntk", "yarn", "linspace", "random")
FLUX_ROW_COL_AXES = (1, 2)  # Flux's ids: (index, row, col); the index axis is never touched


class ModeRoPE(torch.nn.Module):
    """Flux's ``EmbedND`` under a position mode: the row and column axes of the ids get
    ``rope_axis`` where that axis is longer than L tokens; every other axis, and every call with no
    such axis, goes through the original embedder unchanged.  n per axis is the largest position
    + 1 among the tokens of index 0 (the image being drawn, and the text, all at 0); Kontext
    reference images (index 1) take the same mapping as the image but do not set n."""

    def __init__(self, original, mode: str, L: int):
        super().__init__()
        self.original, self.mode, self.L = original, mode, L
        self.axes_dim, self.theta = original.axes_dim, original.theta

    def forward(self, ids):
        main = ids[..., 0] == 0
        own = ids[main] if bool(main.any()) else ids.reshape(-1, ids.shape[-1])
        n = {i: int(own[:, i].max()) + 1 for i in FLUX_ROW_COL_AXES}
        if not any(pm.axis_active(k, self.L) for k in n.values()):
            return self.original(ids)
        from comfy.ldm.flux.math import rope
        parts = []
        for i, dim in enumerate(self.axes_dim):
            if i in n and pm.axis_active(n[i], self.L):
                pos = ids[..., i] if ids.device.type != "mps" else ids[..., i].cpu()  # float64: not on MPS
                parts.append(pm.rope_axis(pos, dim, self.theta, n[i], self.L, self.mode).to(ids.device))
            else:
                parts.append(rope(ids[..., i], dim, self.theta))
        return torch.cat(parts, dim=-3).unsqueeze(1)


def sd3_cropped_pos_embed(original, dm, mode: str, L: int):
    """SD3's ``cropped_pos_embed`` under a mode.  The stored table must be a sin-cos of evenly
    spaced positions (checked here once); an axis at or below L reads the stored table as SD3
    does, a longer one is evaluated from the formula at the mode's table positions."""
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


PIXART_KEY = "diffusion_model.x_embedder.forward"


def pixart_own_table(dm, h: int, w: int, device, dtype):
    """The table PixArt's forward adds for a latent of h x w cells, made by ComfyUI's own function with
    the arguments its ``forward_orig`` computes (``pixart_pe_args``): (n_h * n_w, D), columns first."""
    from comfy.ldm.pixart.pixartms import get_2d_sincos_pos_embed_torch
    pe, base_size = pm.pixart_pe_args(h, w, dm.patch_size, dm.pe_interpolation, dm.pe_precision)
    return get_2d_sincos_pos_embed_torch(dm.hidden_size, h=h // dm.patch_size, w=w // dm.patch_size,
                                         pe_interpolation=pe, base_size=base_size, device=device, dtype=dtype)


def pixart_x_embedder_forward(original, dm, mode: str, L: int, c: float):
    """PixArt's patch embedding under a mode (object patch on ``x_embedder.forward``).  PixArt's
    forward computes its sin-cos table inside ``forward_orig`` and adds it to the patch embedding:
    x_embedder(x) + table.  The only per-call hook before that sum is the patch embedding, so on a
    latent with an axis above L tokens this returns x_embedder(x) + (mode's table - PixArt's table):
    the sum is the mode's table, up to one rounding in the model's dtype.  The mode's table: an axis
    above L from ``spaced_axis_encoding`` (trained spacing c), an axis at or below L PixArt's own
    channels (a zero correction).  With no axis above L: ``original(x)``, untouched."""
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


class DiTPositionMode(io.ComfyNode):
    SEARCH_ALIASES = ["high res", "high resolution", "hires", "upscale", "Flux", "SD3", "SD3.5", "PixArt",
                      "RoPE", "NTK", "YaRN", "position interpolation", "RPE-2D", "DiT"]
    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="DiTPositionMode",
            display_name="DiT Position Mode",
            category="model_patches",
            description=("Where a DiT's image tokens sit in position space above its training size: "
                         "extrapolation, interpolation, NTK or YaRN (RPE-2D's inference side). For Flux, "
                         "Chroma, SD3 / SD3.5, PixArt and the RPE-2D DiT Loader's DiTs; each axis on its own, "
                         "untouched at or below the base. Formulas: docs/nodes.md."),
            inputs=[
                io.Model.Input("model", tooltip="A Flux (dev, schnell, Kontext, Fill), Chroma, SD3 / SD3.5 or PixArt (alpha, Sigma) model, or a DiT from the RPE-2D DiT Loader."),
                io.Combo.Input("mode", options=list(MODES), default="yarn", tooltip="Position mapping on each axis above the training size. Default yarn, the best training-free mode in the pack's tests; linspace and random need an RPE-2D-trained DiT."),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8, tooltip="The model's training size in pixels. Default 0 = auto: 1024 for Flux, Chroma and SD3; from the checkpoint for PixArt and the loader's DiTs. Axes at or below it stay as they were."),
                io.Int.Input("position_seed", default=0, min=0, max=0xffffffffffffffff, tooltip="Seed of the 'random' mode's positions (default 0); ignored by the other modes."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, mode, base_resolution, position_seed) -> io.NodeOutput:
        if mode not in MODES:
            raise ValueError(f"DiT Position Mode: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        family, auto_base = dit_family(model)
        base = auto_base if base_resolution == 0 else base_resolution
        if base < 0 or base % 8:
            raise ValueError(f"DiT Position Mode: base_resolution must be 0 (auto) or a positive multiple "
                             f"of 8 (got {base_resolution})")
        dm = diffusion_model_of(model)
        m = model.clone()
        if family == "posenc":
            L = base // (dm.patch_size * latent_downscale(model))
            opts = m.model_options.setdefault("transformer_options", {})
            previous = opts.get(pm.POSITION_MODE_KEY) or {}
            opts[pm.POSITION_MODE_KEY] = {
                "mode": mode, "seed": int(position_seed), "base_grid": (L, L),
                "default": previous.get("default", {"mode": previous.get("mode"), "seed": previous.get("seed", 0)})}
            return io.NodeOutput(m)
        if mode not in pm.VANILLA_MODES:
            raise ValueError(f"DiT Position Mode: mode '{mode}' needs a DiT trained with RPE-2D positions "
                             f"(the RPE-2D DiT Loader's own checkpoints); for this model use "
                             f"{', '.join(pm.VANILLA_MODES)}")
        if family == "pixart":
            cells = base // latent_downscale(model)
            L = cells // dm.patch_size
            try:
                c = pm.pixart_spacing(cells, dm.patch_size, dm.pe_interpolation, dm.pe_precision)
            except ValueError as e:
                raise ValueError(f"DiT Position Mode: {e}; set base_resolution to the checkpoint's "
                                 "training size (512, 1024 or 2048 px)") from None
            original = m.get_model_object(PIXART_KEY)
            original = getattr(original, "posenc_unpatched", original)
            m.add_object_patch(PIXART_KEY, pixart_x_embedder_forward(original, dm, mode, L, c))
            return io.NodeOutput(m)
        if mode == "first":
            return io.NodeOutput(m)  # plain extrapolation: the model as it is
        patch = dm.patch_size if family == "flux" else dm.x_embedder.patch_size[0]
        L = base // (latent_downscale(model) * patch)
        if family == "flux":
            m.add_object_patch("diffusion_model.pe_embedder",
                               ModeRoPE(m.get_model_object("diffusion_model.pe_embedder"), mode, L))
        else:
            if getattr(dm, "pos_embed", None) is None:
                raise ValueError("DiT Position Mode: this SD3-family model has no pos_embed table; only "
                                 "mode 'first' applies")
            m.add_object_patch("diffusion_model.cropped_pos_embed", sd3_cropped_pos_embed(
                m.get_model_object("diffusion_model.cropped_pos_embed"), dm, mode, L))
        return io.NodeOutput(m)
