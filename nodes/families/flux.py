"""Flux.1 (dev, schnell, Fill, Kontext), Chroma and Flux.2: ``EmbedND`` at ``diffusion_model.pe_embedder``.

Ids (comfy/ldm/flux/model.py ``_forward`` and ``process_img``; Chroma's own copy): the text first,
then the image, then any references.  Flux.1 and Chroma: (index, row, column); the image at index 0,
rows and columns from 0; **every text token at (0, 0, 0)**, the id of the image's own first token
(``txt_ids`` zeros; FluxParams.txt_ids_dims is empty for Flux.1).  Kontext references sit at index
1 ("offset", "index") or at index 0 diagonally after the image ("uxo/uno": rows from the image's
height, columns from its width).  Flux.2: a fourth axis counts the text (``txt_ids_dims`` = [3]), so
its text is (0, 0, 0, i) and **its first text token is all 0** too; references at index 10, 20, ...
(``ref_index_scale``).

The image being drawn is found by ``grid_block`` among the index-0 tokens: the run whose rows and
columns are its row-major grid from 0.  So the text, also at index 0 and at row = column = 0, keeps
the model's rotations bit for bit under every mode (``yarn``'s temperature included, issue #31:
text tokens are never rescaled), while the image's own first token gets the mode like the rest of
the image.  Changed: the rows and columns of the image being drawn; never the index axis, Flux.2's
text axis, text tokens or reference images.
"""
from __future__ import annotations

from .base import RopeFamily, grid_block, index_zero


def flux_image(ids):
    """The image's tokens: the index-0 run whose rows and columns (ids 1, 2) are its grid (Flux.1,
    Chroma, Flux.2; Flux.2's text axis is constant over the run)."""
    return grid_block(ids, axes=(1, 2), where=index_zero)


FLUX = RopeFamily(
    name="Flux.1 (dev, schnell, Kontext, Fill)", configs=("Flux",),
    axes="rows and columns of the image; index axis, text and Kontext references unchanged",
    main=flux_image, base=1024)
CHROMA = RopeFamily(
    name="Chroma", configs=("Chroma",),
    axes="rows and columns of the image; index axis and text unchanged", main=flux_image, base=1024,
    reads_rope_options=False)
FLUX2 = RopeFamily(
    name="Flux.2 (dev, Klein)", configs=("Flux2",),
    axes="rows and columns of the image (axes 1, 2 of 4); index, text axis, text and references unchanged",
    main=flux_image, base=1024)
