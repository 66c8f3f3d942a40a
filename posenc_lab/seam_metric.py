"""Seam score: straight lines that sit at the same rows or columns in every image of a set.

The faint rectangles PBC can leave (docs/DESIGN.md section 7) lie on its virtual boundaries, which
are the same for every seed (the jitter depends on the jitter seed and the step, not on the
image); a blocky upscale leaves steps every k rows, also the same in every image.  What the model
draws on purpose does not: a horizon or a sun lies at a different place in every scene.  So:

* p_i(r) = mean over channels and along the line of |I_i[r, x] - I_i[r - 1, x]|, r = 1..H-1: the
  edge profile of the rows of image i (and the same for its columns);
* q_i = p_i minus its local mean over r-2..r+2 (ends replicated): a linear high-pass that keeps
  thin lines and drops broad shading (a sky gradient, the band where horizons usually are);
* **seam score** = (|sum_i q_i|^2 - sum_i |q_i|^2) / ((n - 1) sum_i |q_i|^2), rows and columns
  summed in numerator and denominator: the mean inner product of the line profiles of two
  different images over their mean energy, a correlation between images.

Lines at places that differ from image to image score about 0 (the cross terms cancel); lines
that are in every image give a positive score, up to 1 if the images had nothing else.  The
measure needs no knowledge of where a method put its boundaries, so it is the same for every
method.  tests/test_seam_metric.py checks it on rendered scenes (about 0), the same scenes with
faint rectangles drawn on PBC's N=3 boundaries (about 0.05) and a nearest-neighbour 2x upscale
(about 0.1).  Tables show it x100.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

HALF_WINDOW = 2


def image_profiles(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: (rows (B, H-1), columns (B, W-1)) mean absolute differences between
    neighbouring lines (mean over channels and along the line)."""
    if images.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got {tuple(images.shape)}")
    x = images.float()
    rows = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean(dim=(1, 3))
    cols = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean(dim=(1, 2))
    return rows, cols


def high_pass(profiles: torch.Tensor, half: int = HALF_WINDOW) -> torch.Tensor:
    """(B, L) profiles minus their local mean over r-half..r+half (ends replicated)."""
    padded = F.pad(profiles[:, None], (half, half), mode="replicate")
    return profiles - F.avg_pool1d(padded, 2 * half + 1, stride=1)[:, 0]


def seam_score(images: torch.Tensor) -> float:
    """The seam score of a set of at least two images of one size (module docstring)."""
    if images.shape[0] < 2:
        raise ValueError("the seam score compares images with each other: give at least two")
    cross = energy = 0.0
    for profiles in image_profiles(images):
        q = high_pass(profiles.double())
        own = float((q * q).sum())
        total = q.sum(0)
        cross += float((total * total).sum()) - own
        energy += (q.shape[0] - 1) * own
    return cross / energy if energy > 0 else 0.0
