"""The hires fix and progressive upscaling, the way ComfyUI users make large images with a model
trained at a small size, on the lab's DDIM sampler (posenc_lab/unet_sampling.py).

* **hires fix**: sample at the first-pass size, upscale the result to the target size, then run
  img2img there (a second KSampler at denoise d < 1: ``steps`` steps of a schedule of
  ``int(steps / d)``, unet_sampling.pass_timesteps).
* **progressive**: the same with one more pass in between: first pass -> half the target ->
  target, each upscale followed by img2img at the same denoise (1x -> 2x -> 4x for a 4x target).

First-pass size: the target divided by s = min(H / base, W / base), so that its smaller side is
the training size (32x32 for a square target, 32x64 for 64x128), each side rounded to a
multiple of the model's downsampling factor.  Progressive needs s > 2 (otherwise its middle pass
would be at or below the first pass's size).

Upscaling (``up``): ``nearest`` is ComfyUI's LatentUpscaleBy default (nearest-exact), the usual
latent hires fix; ``bilinear`` stands for the pixel route (VAE decode, ImageScaleBy bilinear, VAE
encode).  The reference models work in pixel space (their "VAE" is the identity), so on them the
two routes differ only in the interpolation; on SD they also differ by the VAE round trip, which
this harness cannot show.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

UPSCALES = {"nearest": "nearest-exact", "bilinear": "bilinear"}


class NotApplicable(ValueError):
    """The method has no meaning at this size (e.g. progressive at 2x): a table shows n/a."""


def parse_denoise(value: str) -> float:
    """The ``denoise=D`` knob of a multi-pass method: a number in (0, 1) (1 would be no img2img)."""
    try:
        d = float(value)
    except ValueError:
        d = -1.0
    if not 0.0 < d < 1.0:
        raise ValueError(f"denoise must be a number in (0, 1) (got {value!r})")
    return d


def upscale(images: torch.Tensor, height: int, width: int, up: str) -> torch.Tensor:
    """Resize (B, C, h, w) images to height x width with the named method (module docstring)."""
    if up not in UPSCALES:
        raise ValueError(f"unknown upscale {up!r} (known: {', '.join(UPSCALES)})")
    mode = UPSCALES[up]
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(images, size=(height, width), mode=mode, **kwargs)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def scale_of(height: int, width: int, base: int) -> float:
    """s = min(H / base, W / base): how far the smaller side is above the training size."""
    return min(height / base, width / base)


def pass_sizes(kind: str, height: int, width: int, base: int, multiple: int) -> list[tuple[int, int]]:
    """The (H, W) of every pass of ``hires`` or ``progressive`` (module docstring); ValueError
    where the method does not apply (the target is not above the first-pass size)."""
    s = scale_of(height, width, base)
    first = (_round_to(height / s, multiple), _round_to(width / s, multiple))
    if first == (height, width):
        raise NotApplicable(f"{kind}: {height}x{width} is not above the training size {base} on "
                         "its smaller side; there is nothing to upscale")
    if kind == "hires":
        return [first, (height, width)]
    if kind == "progressive":
        if s <= 2:
            raise NotApplicable(f"progressive: {height}x{width} is only {s:g}x the training size "
                             f"{base}; it needs more than 2x (a middle pass at half the target)")
        return [first, (_round_to(height / 2, multiple), _round_to(width / 2, multiple)),
                (height, width)]
    raise ValueError(f"unknown multi-pass method {kind!r}")
