"""Z-Image and Lumina 2 (NextDiT): ``EmbedND`` at ``diffusion_model.rope_embedder``.

NextDiT calls its embedder once for the caption (ids (1 + i, 0, 0)) and once for the image (ids
(caption length + 1, row, column), padding rows at 0): the caption's call has no spatial extent
and is left to the original, the image's call gets the mode on its rows and columns; the first
axis (sequence) is never changed.  Z-Image's omni/edit references are embedded by calls of their
own, so a reference larger than the base is mapped by its own size.
"""
from __future__ import annotations

from .base import RopeFamily

ZIMAGE = RopeFamily(
    name="Z-Image (Turbo, Base)", configs=("ZImage",),
    axes="rows and columns of the image; the sequence axis and the caption unchanged",
    embedder="diffusion_model.rope_embedder", base=1024)
LUMINA2 = RopeFamily(
    name="Lumina 2", configs=("Lumina2",),
    axes="rows and columns of the image; the sequence axis and the caption unchanged",
    embedder="diffusion_model.rope_embedder", base=1024)
