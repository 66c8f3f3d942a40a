"""Flux.1 (dev, schnell, Fill, Kontext), Chroma and Flux.2: ``EmbedND`` at ``diffusion_model.pe_embedder``.

Flux.1 and Chroma ids are (index, row, column): the image and the text at index 0 (text at row =
column = 0, which every mode keeps at the identity rotation), Kontext references at index >= 1.
Flux.2 ids have a fourth axis, the text's sequence position (``txt_ids_dims`` = [3]), and its
references sit at index 10, 20, ... (``ref_index_scale``).  Changed: the row and column axes of the
image being drawn; never the index axis, the text's axis, text tokens or reference images.
"""
from __future__ import annotations

from .base import RopeFamily, index_zero


def flux2_main(ids):
    """Flux.2's image tokens: index 0 and text position 0 (text tokens count up on axis 3)."""
    return (ids[..., 0] == 0) & (ids[..., 3] == 0)


FLUX = RopeFamily(
    name="Flux.1 (dev, schnell, Kontext, Fill)", configs=("Flux",),
    axes="rows and columns of the image; index axis, text and Kontext references unchanged",
    main=index_zero, base=1024)
CHROMA = RopeFamily(
    name="Chroma", configs=("Chroma",),
    axes="rows and columns of the image; index axis and text unchanged", main=index_zero, base=1024, reads_rope_options=False)
FLUX2 = RopeFamily(
    name="Flux.2 (dev, Klein)", configs=("Flux2",),
    axes="rows and columns of the image (axes 1, 2 of 4); index, text axis, text and references unchanged",
    main=flux2_main, base=1024)
