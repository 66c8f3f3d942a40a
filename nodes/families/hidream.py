"""HiDream (I1 Full, Dev, Fast): its own copy of ``EmbedND`` at ``diffusion_model.pe_embedder``.

HiDream (comfy/ldm/hidream/model.py) makes ids (0, row, column) for the image's tokens and appends
one all-zero id per text token (T5 and Llama together), then embeds them in one call; its EmbedND
puts the head axis at dim 2 (ModeRoPE reads that from its output).  Changed: the rows and columns
of the image; never the first axis (always 0) nor the text (``grid_block`` tells the text from the
image's own origin token, which is also all 0).

HiDream E1 (edit) passes its reference as ``image_cond``, which the model joins to the image
along the width before making the ids: the reference then occupies columns W..2W-1 of the same
grid as the image being drawn.  No mode can move the image's columns and keep the reference's
(the pair is aligned column by column, and the joined grid is twice as wide as the image), so a
HiDream call with ``image_cond`` is refused when it runs, with a message.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from .base import WRAPPER_KEY, RopeFamily, grid_block

EDIT_REFUSED = ("DiT Position Mode: HiDream with an edit reference (image_cond, HiDream E1) is not "
                "supported: the model puts the reference beside the image in the same row/column "
                "positions, so its positions cannot stay while the image's change. Remove DiT "
                "Position Mode for HiDream edits")


def refuse_edit_reference(executor, x, *args, **kwargs):
    """DIFFUSION_MODEL wrapper: raise when HiDream is called with ``image_cond`` (read by name from
    the wrapped forward's signature, not by position)."""
    try:
        bound = inspect.signature(executor.original).bind_partial(x, *args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = kwargs
    if bound.get("image_cond") is not None:
        raise ValueError(EDIT_REFUSED)
    return executor(x, *args, **kwargs)


@dataclass(frozen=True)
class HiDreamFamily(RopeFamily):
    def patch(self, m, dm, mode: str, base: int, L: int, position_seed: int = 0) -> None:
        super().patch(m, dm, mode, base, L, position_seed)
        if mode != "first":
            import comfy.patcher_extension as pe
            m.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, WRAPPER_KEY, refuse_edit_reference)


FAMILY = HiDreamFamily(
    name="HiDream (I1)", configs=("HiDream",), exact=True,
    axes="rows and columns of the image; the first axis and the text unchanged (E1 edits refused)",
    main=grid_block, base=1024, reads_rope_options=False)
