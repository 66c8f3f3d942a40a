"""WAN 2.1 / 2.2 (video): ``EmbedND`` at ``diffusion_model.rope_embedder``, ids (time, row, column).

Changed: rows and columns only; the time axis never.  Text enters by cross-attention, so it has
no ids and no rotations: the embedder sees only the video's tokens (every token of the call is the
video; in-context reference latents are embedded by calls of their own).
Base: 1280 px, the long side of 720p, for the 14B and 5B models (832, 480p, for the 1.3B: model
width 1536); set base_resolution to 832 for a 480p-only 14B checkpoint.  WAN trains on both
orientations, so one base per axis is the longest side it saw.
"""
from __future__ import annotations

from .base import RopeFamily


def wan_base(model) -> int:
    from ..model_info import diffusion_model_of
    return 832 if int(getattr(diffusion_model_of(model), "dim", 0)) <= 2048 else 1280


#: Text/image-to-video, 2.2 5B, Fun Control and camera models; the variants with pose, motion, audio or
#: causal chunks (Animate, S2V, HuMo, VACE, SCAIL, CausalAR, ...) place extra RoPE calls of their own
#: and are not accepted.
FAMILY = RopeFamily(
    name="WAN 2.1 / 2.2 (T2V, I2V, 5B, Fun Control, Camera)",
    configs=("WAN21_T2V", "WAN21_I2V", "WAN22_T2V", "WAN21_FunControl2V", "WAN21_Camera", "WAN22_Camera"),
    exact=True,
    axes="rows and columns of every frame; the time axis unchanged",
    embedder="diffusion_model.rope_embedder", base=wan_base,
    patch_size=lambda dm: int(dm.patch_size[1]))
