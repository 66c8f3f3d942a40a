"""The family interface, and the one hook every RoPE family shares: its ``EmbedND`` under a mode.

Flux.1, Kontext, Chroma, Flux.2, Qwen-Image, Lumina 2, Z-Image and WAN all turn their token ids
(one row per token, one column per axis) into rotations with ComfyUI's ``EmbedND``
(comfy/ldm/flux/layers.py: per axis ``rope(ids[..., i], axes_dim[i], theta)``, concatenated).  They
differ only in which attribute holds it, which id columns are the image's rows and columns, and
which tokens are the image being drawn (the rest, text and reference images, keep the rotations
the model gives them).  ``RopeFamily`` holds those three facts; ``ModeRoPE`` is the object patch.
Where text sits at id 0 like the image's first token (Flux.1, Chroma, Flux.2's first text token,
Lumina 2's caption on the spatial axes, HiDream, Hunyuan), ``grid_block`` finds the image by its
grid, so the text keeps the model's rotations while the image's first token gets the mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ...posenc import position_modes as pm
from ..model_info import diffusion_model_of, latent_downscale, model_config_names

#: ComfyUI's core ScaleROPE node writes its scale and shift here (comfy_extras/nodes_rope.py,
#: ModelPatcher.set_model_rope_options); the families that read it move their ids by it.
ROPE_OPTIONS = "rope_options"
ROPE_IDENTITY = {"scale_x": 1.0, "scale_y": 1.0, "scale_t": 1.0, "shift_x": 0.0, "shift_y": 0.0, "shift_t": 0.0}
WRAPPER_KEY = "posenc_dit_position_mode"
SCOPE_KEY = "posenc_dit_position_mode_scope"


@dataclass(frozen=True)
class Family:
    """What the DiT Position Mode node knows of one model family (see the package docstring)."""

    name: str
    configs: tuple[str, ...]
    axes: str
    #: False only for the pack's own DiTs, which were trained with RPE-2D positions.
    vanilla_only: bool = True
    #: True: only the configs named (not configs derived from them, which may place tokens their own way).
    exact: bool = False

    def matches(self, model) -> bool:
        names = model_config_names(model)
        return bool(names) and (names[0] in self.configs if self.exact else any(n in self.configs for n in names))

    def auto_base(self, model) -> int:
        raise NotImplementedError

    @property
    def fixed_base(self) -> int | None:
        """The auto base in pixels when it does not depend on the checkpoint, else None."""
        return None

    def tokens_per_side(self, model, base: int) -> int:
        raise NotImplementedError

    def patch(self, m, dm, mode: str, base: int, L: int, position_seed: int = 0) -> None:
        raise NotImplementedError


def rope_options_in_use(model_options: dict) -> dict | None:
    """Core ScaleROPE's settings on a MODEL when they change anything, else None."""
    opts = (model_options.get("transformer_options") or {}).get(ROPE_OPTIONS)
    if not opts:
        return None
    changed = {k: v for k, v in opts.items() if float(v) != ROPE_IDENTITY.get(k, 0.0)}
    return changed or None


def scale_rope_conflict(changed: dict) -> ValueError:
    said = ", ".join(f"{k}={v:g}" for k, v in sorted(changed.items()))
    return ValueError(
        f"DiT Position Mode: this MODEL also has core ScaleROPE settings ({said}); both would rescale "
        "the same RoPE positions. Keep one: remove ScaleROPE (or set it to scale 1, shift 0), or remove "
        "DiT Position Mode")


def refuse_scale_rope_at_run(executor, x, *args, **kwargs):
    """DIFFUSION_MODEL wrapper: a ScaleROPE node placed after this one would scale the ids that the
    mode then scales again; refuse that at the first model call instead of sampling it silently."""
    transformer_options = kwargs.get("transformer_options")
    if transformer_options is None:
        transformer_options = next((a for a in reversed(args) if isinstance(a, dict)), {})
    changed = rope_options_in_use({"transformer_options": transformer_options})
    if changed:
        raise scale_rope_conflict(changed)
    return executor(x, *args, **kwargs)


class ModeRoPE(torch.nn.Module):
    """A family's ``EmbedND`` under a position mode (object patch on the embedder).

    ``axes`` = (row axis, column axis) of the ids; ``main(ids)`` marks the tokens of the image being
    drawn (None: every token of the call; an empty mask: the call holds no image and is the
    original's output).  The output keeps the original's layout: ComfyUI's
    ``EmbedND`` puts the head axis at dim 1, HiDream's own copy at dim 2; which one is read once
    from the original's output, not assumed.  Per spatial axis n is the extent of the main tokens'
    positions (largest - smallest + 1) and L the trained extent; an axis with n > L gets the mode's
    rotations (``pm.rope_axis``: positions ``remap_positions``, frequencies ``mode_frequencies``,
    YaRN's temperature), every other axis ComfyUI's own ``rope``.  Tokens outside ``main`` (text,
    padding, reference images) get exactly the rows of the original embedder, also where their ids
    are 0 like the image's first token (under ``yarn`` the mode's rotation at 0 is the temperature,
    not the identity), and a call with no axis above
    L is the original embedder's output itself (bit-identical sampling at or below the base).

    Where the ids of one call cannot tell the image from a reference (WAN's in-context references
    and Z-Image's omni references are embedded in calls of their own, each its own grid from 0;
    Qwen-Image-Layered's layers are frames on the index axis), the family's DIFFUSION_MODEL wrapper
    sets ``scope`` (a ``Scope``) for the duration of one model call, from that call's inputs: which
    of the embedder's grid calls are references (they get the original's output, bit for bit) and
    what ``main`` needs to know (``variant``, e.g. the frame count).
    Each call's ids and output are kept per ids shape: a sampler passes the same ids at every step
    (cond and uncond, every sigma), so the rotations are computed once per size, not once per call."""

    def __init__(self, original, mode: str, L: int, axes=(1, 2), main: Callable | None = None):
        super().__init__()
        while isinstance(original, ModeRoPE):   # a second DiT Position Mode node: the later one's mode, alone
            original = original.original
        self.original, self.mode, self.L, self.axes, self.main = original, mode, L, tuple(axes), main
        self.axes_dim, self.theta = original.axes_dim, original.theta
        probe = original(torch.zeros(1, 2, len(self.axes_dim)))    # 2 tokens: (1, 1, 2, ..) or (1, 2, 1, ..)
        self.head_axis = 1 if probe.shape[1] == 1 else 2
        self.scope = None       # set by the family's wrapper during one model call (see the docstring)
        self._cache = {}        # (shape, device, dtype, variant) -> {"ids", "mask", "n", "out"}: reused every step

    def _entry(self, ids):
        variant = self.scope.variant if self.scope is not None else ()
        key = (tuple(ids.shape), ids.device, ids.dtype, variant)
        hit = self._cache.get(key)
        if hit is not None and torch.equal(hit["ids"], ids):
            return hit
        if len(self._cache) >= 8:       # NextDiT calls once for the caption and once for the image
            self._cache.clear()
        hit = self._cache[key] = {"ids": ids.detach().clone()}
        return hit

    def image(self, ids, hit=None):
        """(mask of the image being drawn, its extent per spatial axis); None for both when the
        call holds no image.  Kept with the call's ids."""
        hit = hit if hit is not None else self._entry(ids)
        if "mask" not in hit:
            variant = dict(self.scope.variant) if self.scope is not None else {}
            mask = (self.main(ids, **variant) if variant else self.main(ids)) if self.main is not None else None
            if mask is not None and not bool(mask.any()):
                hit["mask"], hit["n"] = mask, None
            else:
                hit["mask"], hit["n"] = mask, self.extents(ids, mask)
        return hit["mask"], hit["n"]

    def forward(self, ids):
        hit = self._entry(ids)
        if self.scope is not None and self.scope.routes:
            mask, n = self.image(ids, hit)
            if self.scope.is_reference(ids, n, self.axes):
                return self.original(ids)       # a reference's own call: the model's rotations, bit for bit
        if "out" not in hit:
            hit["out"] = self.compute(ids).detach().clone()
        return hit["out"].clone()       # a copy: the model may work on it in place

    def extents(self, ids, mask):
        own = ids[mask] if mask is not None else ids.reshape(-1, ids.shape[-1])
        return {i: int(round(float(own[:, i].max() - own[:, i].min()))) + 1 for i in self.axes}

    def compute(self, ids):
        """The rotations for ``ids`` (the rotations are not reused; the image's mask is)."""
        mask, n = self.image(ids)
        if n is None:
            return self.original(ids)           # no image being drawn in this call (a caption's own call)
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
        out = torch.cat(parts, dim=-3).unsqueeze(self.head_axis)
        if mask is not None and not bool(mask.all()):
            keep = mask.unsqueeze(self.head_axis)[..., None, None, None]
            out = torch.where(keep, out, self.original(ids).to(out.dtype))
        return out


@dataclass(frozen=True)
class Grid:
    """One image grid a model call embeds, as its inputs say: rows x columns position steps, and
    whether it is a reference (kept) or the image being drawn (the mode)."""

    reference: bool
    rows: int
    cols: int
    #: The call's token count, where the family knows it (WAN: frames x rows x columns).
    tokens: int | None = None


class Scope:
    """What one model call will embed, read from its inputs by the family's wrapper (``RopeFamily.scope``).

    ``grids``: the image grids the embedder will be called with, in the order the model makes the
    calls (None: no routing, every call is read by ``main`` alone).  A call whose ids hold an image
    grid (``main`` finds one; ``main`` None: every call) takes the next entry; its extents (and token
    count, where given) must be that entry's, else the call is refused: a layout this pack does not
    know is reported, never guessed.  ``variant``: keyword arguments for ``main`` (hashable pairs)."""

    def __init__(self, family: str, grids=None, variant=()):
        self.family, self.grids, self.variant = family, None if grids is None else list(grids), tuple(variant)
        self.seen = 0

    @property
    def routes(self) -> bool:
        return self.grids is not None

    def _refuse(self, what):
        said = ", ".join(f"{'reference' if g.reference else 'image'} {g.rows}x{g.cols}" for g in self.grids)
        return RuntimeError(
            f"DiT Position Mode: this {self.family} model embedded {what}, where its inputs hold, in order: "
            f"{said} (position steps). A ComfyUI update may have changed how it places its reference "
            "images; the pack will not guess which grid is the image. Remove DiT Position Mode for this "
            "model and report it")

    def is_reference(self, ids, n, axes) -> bool:
        if n is None:
            return False                        # no image grid in this call (a caption's, SigLIP's)
        rows, cols = n[axes[0]], n[axes[1]]
        if self.seen >= len(self.grids):
            raise self._refuse(f"one more grid ({rows}x{cols})")
        grid = self.grids[self.seen]
        self.seen += 1
        if (rows, cols) != (grid.rows, grid.cols) or (grid.tokens is not None and ids.shape[-2] != grid.tokens):
            raise self._refuse(f"a {rows}x{cols} grid of {ids.shape[-2]} tokens as grid {self.seen}")
        return grid.reference

    def finish(self) -> None:
        if self.routes and self.seen != len(self.grids):
            raise self._refuse(f"{self.seen} grid(s)")


def steps(side: int, patch: int) -> int:
    """Position steps of ``side`` latent cells at ``patch`` cells per token (the side padded to the patch)."""
    return -(-int(side) // int(patch))


def scoped(emb: ModeRoPE, make: Callable, attribute: str):
    """DIFFUSION_MODEL wrapper: ``make(diffusion_model, x, kwargs)`` reads the call's inputs into a
    ``Scope`` (or None: nothing to route), which ``emb`` holds while the model runs.  Nothing when
    the model's embedder (``attribute``) is not ``emb``: a later DiT Position Mode node replaced it."""
    def wrapper(executor, x, *args, **kwargs):
        dm = executor.class_obj
        scope = make(dm, x, kwargs) if getattr(dm, attribute, None) is emb else None
        if scope is None:
            return executor(x, *args, **kwargs)
        previous, emb.scope = emb.scope, scope
        try:
            out = executor(x, *args, **kwargs)
        finally:
            emb.scope = previous
        scope.finish()
        return out
    return wrapper


def index_zero(ids):
    """Tokens whose first id column (Flux's and Qwen-Image's image index) is 0."""
    return ids[..., 0] == 0


NOT_A_GRID = ("DiT Position Mode: this model's token ids are not an image grid (a run of tokens from id 0 in "
              "row-major order) as this pack expects; a ComfyUI update may have changed how it lays them out. "
              "Remove DiT Position Mode for this model and report it")


def grid_block(ids, axes=None, where=None, required=True):
    """The tokens of the image being drawn, found from the ids alone: the one contiguous run of
    tokens whose ids on ``axes`` (default: every axis; the last one varies fastest) are the row-major
    grid 0..n_a - 1 of each axis, every other axis constant over the run, among the tokens that
    ``where(ids)`` marks (default: all; Flux: index 0, so a Kontext reference of the image's size at
    index 1 is not a second candidate).  Per batch row.

    Text tokens often sit at 0 on every axis (Flux.1, Chroma, HiDream, Hunyuan; Flux.2's first; Lumina
    2's caption on the spatial axes; Z-Image's padding), as the image's own first token does, so no
    test on one token's ids tells them apart; the run does, wherever the text is (before the image:
    Flux, 0.33's Hunyuan; after it: HiDream, 0.3.64's Hunyuan).  A run starts at every token at 0 on
    ``axes`` and goes on while each token is the previous one's row-major successor (one axis up by
    1, the axes after it back to 0, the ones before it equal); its tokens are the image if they fill
    the box of their largest ids (a strictly increasing run of that length is the grid itself).
    References placed off the grid (Hunyuan's at time -1, Kontext's "uxo" diagonal) and text in a
    diagonal (k, k, k) are never part of it, so they keep the model's rotations, and the image's
    origin gets the mode, yarn's temperature included.

    A call with no run of two or more tokens has no image being drawn: an empty mask, which
    ``ModeRoPE`` leaves to the original.  With ``required`` that is allowed only when the ids do not
    spread over ``axes`` at all (a 1-token image beside text at 0); ids that spread but hold no grid
    raise (``NOT_A_GRID``), never a guess.  ``required=False`` is for a model that embeds other
    things in calls of their own (NextDiT: the caption, Z-Image's SigLIP reference features at
    positions 8 apart).  Two equally long grids always raise."""
    device = ids.device
    ids = ids.detach().cpu()                    # float64 below (not on MPS); once per size (ModeRoPE's cache)
    n_tok, n_ax = ids.shape[-2], ids.shape[-1]
    axes = list(range(n_ax)) if axes is None else list(axes)
    other = [i for i in range(n_ax) if i not in axes]
    pick = where(ids) if where is not None else torch.ones(ids.shape[:-1], dtype=torch.bool)
    mask = torch.zeros(ids.shape[:-1], dtype=torch.bool)
    for b in range(ids.shape[0]):
        g = ids[b][:, axes].to(torch.float64)
        r = g.round()
        ok = pick[b] & ((g - r).abs() < 1e-3).all(-1)
        origin = ok & (r == 0).all(-1)
        prev, cur = r[:-1], r[1:]
        succ = torch.zeros(max(n_tok - 1, 0), dtype=torch.bool)
        for j in range(len(axes)):
            step = (cur[:, j] == prev[:, j] + 1) & (cur[:, j + 1:] == 0).all(-1) & (cur[:, :j] == prev[:, :j]).all(-1)
            succ |= step
        if other:
            succ &= (ids[b, 1:][:, other] == ids[b, :-1][:, other]).all(-1)
        succ &= ok[1:] & ok[:-1]
        starts = torch.ones(n_tok, dtype=torch.bool)
        starts[1:] = ~succ
        starts |= origin                        # a run never carries on into the image's first token
        first = torch.nonzero(starts).flatten()
        length = torch.diff(first, append=torch.tensor([n_tok]))
        length = torch.where(origin[first], length, torch.zeros_like(length))
        best = int(length.max()) if len(length) else 0
        if best < 2:
            if required and bool((r[ok] != 0).any()):      # ids spread over the axes, but no grid in them
                raise RuntimeError(NOT_A_GRID)
            continue
        winners = torch.nonzero(length == best).flatten()
        start = int(first[winners[0]])
        sides = r[start:start + best].amax(0) + 1
        if len(winners) > 1 or int(torch.prod(sides)) != best:
            raise RuntimeError(NOT_A_GRID)
        mask[b, start:start + best] = True
    return mask.to(device)


@dataclass(frozen=True)
class RopeFamily(Family):
    """A family whose RoPE is an ``EmbedND`` at ``embedder`` (an object-patch path)."""

    embedder: str = "diffusion_model.pe_embedder"
    spatial: tuple[int, int] = (1, 2)
    main: Callable | None = None
    base: int | Callable = 1024
    patch_size: Callable = field(default=lambda dm: int(dm.patch_size))
    #: Whether the model moves its ids by core ScaleROPE's rope_options (Flux.1/Flux.2, Lumina 2/Z-Image
    #: and WAN do; Chroma and Qwen-Image ignore them, so ScaleROPE there changes nothing).
    reads_rope_options: bool = True
    #: ``scope(diffusion_model, x, kwargs) -> Scope | None``: what one model call will embed, read from
    #: its inputs, where the ids alone cannot tell (see ``Scope``); None: the ids tell.
    scope: Callable | None = None

    def auto_base(self, model) -> int:
        return self.base(model) if callable(self.base) else int(self.base)

    @property
    def fixed_base(self) -> int | None:
        return None if callable(self.base) else int(self.base)

    def tokens_per_side(self, model, base: int) -> int:
        return base // (latent_downscale(model) * self.patch_size(diffusion_model_of(model)))

    def patch(self, m, dm, mode: str, base: int, L: int, position_seed: int = 0) -> None:
        changed = rope_options_in_use(m.model_options) if self.reads_rope_options else None
        if changed:
            raise scale_rope_conflict(changed)
        if mode == "first":
            return                    # plain extrapolation: the model as it is
        emb = ModeRoPE(m.get_model_object(self.embedder), mode, L, self.spatial, self.main)
        m.add_object_patch(self.embedder, emb)
        if self.scope is not None:
            import comfy.patcher_extension as pe
            m.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, SCOPE_KEY, scoped(emb, self.scope, self.embedder.split(".")[-1]))
        if self.reads_rope_options:
            import comfy.patcher_extension as pe
            m.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, WRAPPER_KEY, refuse_scale_rope_at_run)
