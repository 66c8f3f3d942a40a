"""Procedural scene data set of the bundled reference models.

Every scene has a layout that code can check (see layout_metrics.py):

* a sky whose colour is a vertical gradient from ``sky_top`` (row 0) to ``sky_bottom`` (the horizon),
* one ground below it, a vertical gradient from ``ground_top`` (the horizon) to ``ground_bottom``,
* one straight horizontal horizon at a random height in a central band,
* exactly one sun (or moon): a flat-coloured disc entirely inside the sky.

There are four classes, one palette each: ``day``, ``dusk``, ``night``, ``desert``.  Edges are hard
(no anti-aliasing), so every pixel of a rendered scene is a palette colour: a point on one of the
two gradients, or the sun colour.  layout_metrics.py relies on that.

A scene is a handful of numbers in normalised coordinates (`SceneParams`); `render` draws them at
any size, so the same scene can be rendered at the training size and at 2x or 4x.  Everything is
deterministic given the seed and vectorised over the batch: 64 scenes at 32x32 take about 2 ms
on one CPU thread.

Images are float tensors (B, 3, H, W) in [0, 1]; the models train on ``2 * image - 1``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

CLASSES = ("day", "dusk", "night", "desert")

# Key colours per class, RGB in [0, 1]: sky top, sky bottom, ground top, ground bottom, sun.
# Chosen so that (a) sky and ground of one class are far apart, (b) the sun is far from every sky
# and ground colour of every class (layout_metrics.py tells suns apart without knowing the class).
PALETTES = {
    "day": ((0.20, 0.40, 0.85), (0.62, 0.78, 0.95), (0.30, 0.60, 0.22), (0.12, 0.32, 0.10),
            (1.00, 0.93, 0.45)),
    "dusk": ((0.30, 0.18, 0.50), (0.95, 0.50, 0.25), (0.18, 0.12, 0.08), (0.06, 0.04, 0.03),
             (1.00, 0.92, 0.70)),
    "night": ((0.02, 0.04, 0.22), (0.14, 0.20, 0.48), (0.12, 0.16, 0.08), (0.04, 0.05, 0.02),
              (0.92, 0.92, 0.88)),
    "desert": ((0.30, 0.55, 0.90), (0.72, 0.82, 0.90), (0.88, 0.68, 0.38), (0.62, 0.42, 0.20),
               (1.00, 1.00, 0.80)),
}

# Layout ranges, as fractions of the image height (y, radius) or width (x).
HORIZON_BAND = (0.45, 0.65)   # the horizon row lies in this central band
SUN_RADIUS = (0.08, 0.12)     # of min(H, W): about 2.6 to 3.8 pixels at 32x32
SUN_TOP_MARGIN = 0.04         # the sun's top edge stays this far below the image top
SUN_HORIZON_MARGIN = 0.05     # and its bottom edge this far above the horizon
SUN_X_BAND = (0.15, 0.85)     # sun centre, fraction of the width


def palette_tensor() -> torch.Tensor:
    """All key colours as a (num_classes, 5, 3) float tensor, in the order of CLASSES."""
    return torch.tensor([PALETTES[c] for c in CLASSES], dtype=torch.float32)


def class_index(label: int | str) -> int:
    """Class index of a class name or index; a clear error for anything else."""
    if isinstance(label, str):
        if label not in CLASSES:
            raise ValueError(f"unknown scene class {label!r}; known classes: {', '.join(CLASSES)}")
        return CLASSES.index(label)
    index = int(label)
    if not 0 <= index < len(CLASSES):
        raise ValueError(f"scene class index {index} out of range 0..{len(CLASSES) - 1} "
                         f"({', '.join(CLASSES)})")
    return index


@dataclass
class SceneParams:
    """A batch of scenes in normalised coordinates (all tensors of shape (B,))."""

    label: torch.Tensor     # class index, int64
    horizon: torch.Tensor   # horizon height, fraction of H
    sun_x: torch.Tensor     # sun centre, fraction of W
    sun_y: torch.Tensor     # sun centre, fraction of H
    sun_r: torch.Tensor     # sun radius, fraction of min(H, W) (of H for a square or wide image)

    def __len__(self) -> int:
        return int(self.label.shape[0])


def sample_params(n: int, seed: int, labels=None) -> SceneParams:
    """Draw n scenes, deterministically from ``seed``.

    labels: None (uniform over the classes), one class (name or index) for all, or a sequence of
    n classes.  The layout of scene i depends only on (seed, i), not on the labels.
    """
    g = torch.Generator().manual_seed(int(seed))
    u = torch.rand(n, 5, generator=g, dtype=torch.float64)
    if labels is None:
        label = (u[:, 0] * len(CLASSES)).long().clamp(max=len(CLASSES) - 1)
    elif isinstance(labels, (str, int)):
        label = torch.full((n,), class_index(labels), dtype=torch.long)
    else:
        label = torch.tensor([class_index(x) for x in labels], dtype=torch.long)
        if label.shape[0] != n:
            raise ValueError(f"got {label.shape[0]} labels for {n} scenes")
    horizon = HORIZON_BAND[0] + (HORIZON_BAND[1] - HORIZON_BAND[0]) * u[:, 1]
    sun_r = SUN_RADIUS[0] + (SUN_RADIUS[1] - SUN_RADIUS[0]) * u[:, 2]
    # The sun lies wholly in the sky: its centre between the top margin and the horizon margin.
    lo = SUN_TOP_MARGIN + sun_r
    hi = horizon - SUN_HORIZON_MARGIN - sun_r
    sun_y = lo + (hi - lo) * u[:, 3]
    sun_x = SUN_X_BAND[0] + (SUN_X_BAND[1] - SUN_X_BAND[0]) * u[:, 4]
    return SceneParams(label, horizon.float(), sun_x.float(), sun_y.float(), sun_r.float())


def render(params: SceneParams, height: int, width: int | None = None) -> torch.Tensor:
    """Draw scenes at height x width; returns (B, 3, H, W) float32 in [0, 1].

    Pixel (i, j) is sampled at its centre ((i + 0.5) / H, (j + 0.5) / W).  The sun radius is a
    fraction of min(H, W) in pixels, so a non-square image shows a round sun (and a wider sky)
    rather than a stretched one.
    """
    width = height if width is None else width
    if height < 4 or width < 4:
        raise ValueError(f"scene size {height}x{width} too small (min 4x4)")
    pal = palette_tensor()[params.label]                         # (B, 5, 3)
    b = len(params)
    y = (torch.arange(height, dtype=torch.float32) + 0.5) / height   # (H,)
    x = (torch.arange(width, dtype=torch.float32) + 0.5) / width     # (W,)
    hz = params.horizon.view(b, 1)
    sky = y.view(1, height) < hz                                     # (B, H)
    t_sky = (y.view(1, height) / hz).clamp(0, 1)                     # 0 at top, 1 at horizon
    t_gnd = ((y.view(1, height) - hz) / (1 - hz)).clamp(0, 1)        # 0 at horizon, 1 at bottom
    sky_col = pal[:, None, 0] + t_sky[..., None] * (pal[:, None, 1] - pal[:, None, 0])
    gnd_col = pal[:, None, 2] + t_gnd[..., None] * (pal[:, None, 3] - pal[:, None, 2])
    rows = torch.where(sky[..., None], sky_col, gnd_col)              # (B, H, 3)
    img = rows[:, :, None, :].expand(b, height, width, 3)
    # Sun disc in pixel units, radius relative to the height (round in pixels).
    r_px = params.sun_r.view(b, 1, 1) * min(height, width)
    dy = (y.view(1, height, 1) - params.sun_y.view(b, 1, 1)) * height
    dx = (x.view(1, 1, width) - params.sun_x.view(b, 1, 1)) * width
    sun = dy * dy + dx * dx <= r_px * r_px                            # (B, H, W)
    img = torch.where(sun[..., None], pal[:, None, None, 4], img)
    return img.permute(0, 3, 1, 2).contiguous()


def render_scenes(n: int, size: int | tuple[int, int], seed: int, labels=None):
    """Sample and render n scenes; returns (images (B,3,H,W) in [0,1], labels (B,), params)."""
    h, w = (size, size) if isinstance(size, int) else size
    params = sample_params(n, seed, labels)
    return render(params, h, w), params.label, params


def tile(images: torch.Tensor, n: int, m: int | None = None) -> torch.Tensor:
    """Tile consecutive images into n rows x m columns: (B*n*m, 3, H, W) -> (B, 3, nH, mW).

    The tiling of valid scenes is the canonical repeated-layout failure: it must read n*m suns and
    n horizons.
    """
    m = n if m is None else m
    b, c, h, w = images.shape
    if b % (n * m):
        raise ValueError(f"{b} images do not fill whole {n}x{m} tilings")
    x = images.view(b // (n * m), n, m, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b // (n * m), c, n * h, m * w)
