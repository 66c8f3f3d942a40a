"""Qwen-Image, its edit models and Qwen-Image-Layered: ``EmbedND`` at ``diffusion_model.pe_embedder``.

Ids (comfy/ldm/qwen_image/model.py ``_forward`` and ``process_img``): (index, row, column); the
image's rows and columns are centred on 0 (-n/2 .. n/2 - 1), edit references sit at index 1, 2, ...
(or -1, -2, ...: ``negative_index``, Layered's default).  The text is (k, k, k), k counting up from
txt_start = max(rows // 2, columns // 2) on all three axes: it is at index 0 only for an image of
1 x 1 tokens, where no mode acts, so it keeps the model's rotations bit for bit under every mode
(issue #31).  **Qwen-Image-Layered** draws the image and its layers as frames of one latent
(EmptyQwenImageLayeredLatentImage: layers + 1 frames), which ``process_img`` puts at index
0, 1, ..., t - 1, each frame the same centred grid; the index axis then counts frames, so "index 0"
alone would be frame 0 only.  The frame count is not in the ids (a one-frame image with a
same-size reference at index 1 has the same ids as two frames), so a DIFFUSION_MODEL wrapper reads
it from the latent the model is called with (``x``: batch, channels, frames, rows, columns) and
``qwen_image`` takes every frame: the run of frames 0..t - 1 that repeat frame 0's grid.  Changed:
the rows and columns of every frame of the image being drawn; the index axis, text and reference
tokens keep their rotations.  ``interpolate`` scales positions about 0, so the centred range lands
inside the trained one.  Base: 1328 px, Qwen-Image's square training size.
"""
from __future__ import annotations

import torch

from .base import RopeFamily, Scope, index_zero

NAME = "Qwen-Image (Edit, Layered)"
NOT_FRAMES = ("DiT Position Mode: this Qwen-Image latent has {} frames (Qwen-Image-Layered: the image and its "
              "layers), but the model's ids do not hold them as this pack expects (frames at index 0, 1, ... "
              "repeating one grid); a ComfyUI update may have changed how it lays them out. Remove DiT "
              "Position Mode for this model and report it")


def qwen_image(ids, frames: int = 1):
    """The image being drawn: index 0 (one frame), or the ``frames`` frames at index 0..frames - 1,
    each the grid of frame 0, one after the other (references, even at index 1, 2 or with frames of
    their own, come after the image and are not taken)."""
    if frames <= 1:
        return index_zero(ids)
    cpu = ids.detach().cpu()
    mask = torch.zeros(cpu.shape[:-1], dtype=torch.bool)
    want = torch.arange(frames, dtype=cpu.dtype)
    for b in range(cpu.shape[0]):
        zero = cpu[b, :, 0] == 0
        starts = torch.nonzero(zero & ~torch.cat([torch.tensor([False]), zero[:-1]])).flatten().tolist()
        for s in starts:                        # the text's (0, 0, 0) too, when the image is 1 x 1 tokens
            n = s
            while n < len(zero) and zero[n]:
                n += 1
            P = n - s
            block = cpu[b, s:s + frames * P]
            if len(block) != frames * P:
                continue
            if torch.equal(block[:, 0], want.repeat_interleave(P)) and \
                    bool((block[:, 1:].reshape(frames, P, -1) == block[:P, 1:]).all()):
                mask[b, s:s + frames * P] = True
                break
        else:
            raise RuntimeError(NOT_FRAMES.format(frames))
    return mask.to(ids.device)


def frames_of(dm, x, kwargs):
    """The frame count of the latent being drawn, where it has more than one (Layered)."""
    frames = int(x.shape[2]) if x.ndim == 5 else 1
    return Scope(NAME, variant=(("frames", frames),)) if frames > 1 else None


FAMILY = RopeFamily(
    name=NAME, configs=("QwenImage",),
    axes="rows and columns of the image (index 0; Layered: every frame); index axis, text and edit references unchanged",
    main=qwen_image, base=1328, reads_rope_options=False, scope=frames_of)
