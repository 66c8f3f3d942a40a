"""Qwen-Image and its edit models: ``EmbedND`` at ``diffusion_model.pe_embedder``.

Ids (comfy/ldm/qwen_image/model.py ``_forward``): (index, row, column); the image's rows and columns
are centred on 0 (-n/2 .. n/2 - 1), edit references sit at index 1, 2, ... (or -1, -2, ...).  The
text is (k, k, k), k counting up from txt_start = max(rows // 2, columns // 2) on all three axes: it
is at index 0 only for an image of 1 x 1 tokens, where no mode acts, so ``index_zero`` never takes
it and the text keeps the model's rotations bit for bit under every mode (issue #31).  Changed: the
rows and columns of the image being drawn (index 0); text and reference tokens keep their
rotations.  ``interpolate`` scales positions about 0, so the
centred range lands inside the trained one.  Base: 1328 px, Qwen-Image's square training size.
"""
from __future__ import annotations

from .base import RopeFamily, index_zero

FAMILY = RopeFamily(
    name="Qwen-Image (and Edit)", configs=("QwenImage",),
    axes="rows and columns of the image (index 0); text and edit references unchanged",
    main=index_zero, base=1328, reads_rope_options=False)
