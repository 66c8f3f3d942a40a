"""Z-Image and Lumina 2 (NextDiT): ``EmbedND`` at ``diffusion_model.rope_embedder``.

Ids (comfy/ldm/lumina/model.py): (sequence, row, column).  The caption's tokens are at row =
column = 0 and count up on the first axis; the image's tokens share one first-axis value (the
caption's length, + 1 on 0.33) with rows and columns from 0.  Where the caption goes differs:
ComfyUI 0.3.64's Lumina 2 embeds caption and image in **one call** (caption (i, 0, 0) from i = 0,
so its first token is all 0; batch padding at (0, 0, 0)); 0.33 embeds the caption in a call of its
own ((1 + i, 0, 0)) and the image in another, which Z-Image pads to a multiple of 32 tokens with
ids (0, 0, 0); Z-Image's omni/edit references get calls of their own (the reference latent's grid,
and SigLIP features at positions 8 apart).

The image being drawn is found by ``grid_block`` on the row and column axes (``required=False``:
the caption's and SigLIP's calls hold no image and are left to the original), so the caption and
the padding keep the model's rotations bit for bit under every mode, ``yarn``'s temperature included
(issue #31: text tokens are never rescaled), and the first axis never changes.  Omni reference
latents (``ref_latents``, 0.33's ``patchify_and_embed``) are embedded before the image, each in a
call of its own holding its own grid from 0, so the ids of one call do not say whether it is a
reference: a DIFFUSION_MODEL wrapper reads the call's inputs (``ref_latents`` and the latent ``x``)
into a ``Scope``: the first grids are the references, in order, and keep the model's rotations bit
for bit, the last is the image; a grid not the size its inputs say is refused, not guessed.
"""
from __future__ import annotations

from .base import Grid, RopeFamily, Scope, grid_block, steps


def nextdit_image(ids):
    """The image's tokens: the run whose rows and columns (ids 1, 2) are its grid, first axis
    constant; none in a caption's or SigLIP's own call."""
    return grid_block(ids, axes=(1, 2), required=False)


def omni_calls(name):
    def calls(dm, x, kwargs):
        """The omni references' grids, in order, then the image's (no references: nothing to route)."""
        refs = kwargs.get("ref_latents") or []
        if not refs:
            return None
        p = int(dm.patch_size)
        return Scope(name, [Grid(True, steps(r.shape[-2], p), steps(r.shape[-1], p)) for r in refs]
                     + [Grid(False, steps(x.shape[-2], p), steps(x.shape[-1], p))])
    return calls


ZIMAGE = RopeFamily(
    name="Z-Image (Turbo, Base)", configs=("ZImage",),
    axes="rows and columns of the image; the sequence axis, the caption, padding and omni references unchanged",
    embedder="diffusion_model.rope_embedder", main=nextdit_image, base=1024,
    scope=omni_calls("Z-Image (Turbo, Base)"))
LUMINA2 = RopeFamily(
    name="Lumina 2", configs=("Lumina2",),
    axes="rows and columns of the image; the sequence axis and the caption unchanged",
    embedder="diffusion_model.rope_embedder", main=nextdit_image, base=1024, scope=omni_calls("Lumina 2"))
