"""HunyuanImage 2.1 and HunyuanVideo (1.0, I2V, SkyReels I2V, 1.5): ComfyUI's ``EmbedND`` at
``diffusion_model.pe_embedder`` (comfy/ldm/hunyuan_video/model.py, one model class for all).

Ids: video (patch of 3) (time, row, column); HunyuanImage 2.1 (patch of 2) (row, column).  Text,
byT5 glyph and vision tokens (1.5's image-to-video) are all 0 on every axis; the reference latent
of the "custom" image-to-video guidance sits at time -1, its columns shifted by the width.  Where
the text goes differs between ComfyUI versions (0.3.64: after the image, 0.33: before it), so the
image is found from the ids (``grid_block``).  Changed: rows and columns of every frame; the time
axis, text, vision and reference tokens unchanged.

Bases: 1280 px for the video models (the long side of 720p; set 848 or 960 for a 480p / 540p
checkpoint: the config does not say), 2048 px for HunyuanImage 2.1 (its 2K training size).
Not accepted (named in REFUSED): the HunyuanImage 2.1 refiner, whose latent format does not state
its 16 px cells (ComfyUI 0.33 reports the default 8), and HunyuanVideo 1.5's super-resolution
model, which takes a low-resolution video as its input.
"""
from __future__ import annotations

from .base import RopeFamily, grid_block

VIDEO = RopeFamily(
    name="HunyuanVideo (1.0, I2V, 1.5)",
    configs=("HunyuanVideo", "HunyuanVideoI2V", "HunyuanVideoSkyreelsI2V", "HunyuanVideo15"), exact=True,
    axes="rows and columns of every frame; the time axis, text, vision and reference tokens unchanged",
    main=grid_block, base=1280, patch_size=lambda dm: int(dm.patch_size[-1]), reads_rope_options=False)
IMAGE = RopeFamily(
    name="HunyuanImage 2.1", configs=("HunyuanImage21",), exact=True,
    axes="rows and columns of the image (its two axes); text and glyph tokens unchanged",
    spatial=(0, 1), main=grid_block, base=2048, patch_size=lambda dm: int(dm.patch_size[-1]),
    reads_rope_options=False)
