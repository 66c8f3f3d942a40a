"""WAN 2.1 / 2.2 (video): ``EmbedND`` at ``diffusion_model.rope_embedder``, ids (time, row, column).

Changed: rows and columns only; the time axis never.  Text enters by cross-attention, so it has
no ids and no rotations: the embedder sees only the video's tokens.  In-context references
(``context_latents``, ComfyUI 0.33's Bernini conditioning; comfy/ldm/wan/model.py ``_forward``) are
embedded by calls of their own, right after the video's (``rope_encode``), one per reference in
order, each its own grid from 0 (a ``source_id`` rotation is composed after the embedder): a
reference of the video's size has the very ids of the video's call.  So a DIFFUSION_MODEL wrapper
reads the call's inputs (the latent ``x`` and ``context_latents``) into a ``Scope``: the first grid
is the video, the next ones the references, which keep the model's rotations bit for bit; a call
whose grid is not the size its inputs say is refused, not guessed.
Base: 1280 px, the long side of 720p, for the 14B and 5B models (832, 480p, for the 1.3B: model
width 1536); set base_resolution to 832 for a 480p-only 14B checkpoint.  WAN trains on both
orientations, so one base per axis is the longest side it saw.
"""
from __future__ import annotations

from ..model_info import diffusion_model_of
from .base import Grid, RopeFamily, Scope, steps

NAME = "WAN 2.1 / 2.2 (T2V, I2V, 5B, Fun Control, Camera)"


def wan_base(model) -> int:
    return 832 if int(getattr(diffusion_model_of(model), "dim", 0)) <= 2048 else 1280


def wan_calls(dm, x, kwargs):
    """The video's grid, then one per in-context reference (none: nothing to route)."""
    refs = kwargs.get("context_latents")
    if not refs:
        return None
    pt, ph, pw = (int(p) for p in dm.patch_size)
    video = Grid(False, steps(x.shape[-2], ph), steps(x.shape[-1], pw))
    return Scope(NAME, [video] + [Grid(True, steps(r.shape[-2], ph), steps(r.shape[-1], pw),
                                       steps(r.shape[-3], pt) * steps(r.shape[-2], ph) * steps(r.shape[-1], pw))
                                  for r in refs])


#: Text/image-to-video, 2.2 5B, Fun Control and camera models; the variants with pose, motion, audio or
#: causal chunks (Animate, S2V, HuMo, VACE, SCAIL, CausalAR, ...) place extra RoPE calls of their own
#: and are not accepted.
FAMILY = RopeFamily(
    name=NAME,
    configs=("WAN21_T2V", "WAN21_I2V", "WAN22_T2V", "WAN21_FunControl2V", "WAN21_Camera", "WAN22_Camera"),
    exact=True,
    axes="rows and columns of every frame; the time axis and in-context references unchanged",
    embedder="diffusion_model.rope_embedder", base=wan_base,
    patch_size=lambda dm: int(dm.patch_size[1]), scope=wan_calls)
