"""Kohya's "Deep Shrink" as ComfyUI core's PatchModelAddDownscale does it, for the lab's samplers.

The algorithm (ComfyUI ``comfy_extras/nodes_model_downscale.py``, restated here; docs/DESIGN.md
section 7): during the early steps, the features after input block ``block`` of the U-Net are
resized by 1 / ``factor`` (bicubic, ``round(size / factor)`` per axis), after that block's skip
has been stored (``downscale_after_skip``, the node's default); every later block runs on the
small map; before each concatenation on the way up, ``h`` is resized (bicubic) to the size of the
skip it is joined with.  "Early" is the node's absolute window: sigma_end <= sigma <= sigma_start
with sigma = ``percent_to_sigma(percent)`` of the model's discrete schedule (the log-sigma
interpolated at timestep (1 - percent) * 999; percent 0 = no upper limit), defaults 0 to 0.35.

It runs through the block patches of the reference U-Net (posenc/reference_unet.py forward), the
same ``transformer_options["patches"]`` that ComfyUI's node fills, so the node itself can be
used on the bundled model inside ComfyUI, and this copy only exists because the lab does not
import ComfyUI.  A host test checks that both give the same model output.

``block``: core's default 3 is SD 1.5's first downsampling block (input block 3: conv_in, two
ResBlocks, Downsample).  On the reference U-Nets the lab uses the block at the same place in the
topology, the first downsampling block (``first_downsample_block``): block 2 of the bundled model
(one ResBlock per level), block 3 of model B (two per level).  ``factor``: the scale of the
image over the training size, as users set it (2 at 2x).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from posenc import schedule


def percent_to_sigma(percent: float) -> float:
    """ComfyUI's ModelSamplingDiscrete.percent_to_sigma on the reference models' schedule."""
    if percent <= 0.0:
        return 999999999.9
    if percent >= 1.0:
        return 0.0
    t = (1.0 - percent) * (schedule.NUM_TIMESTEPS - 1)
    log_sigmas = schedule.sigmas().double().log()
    low, high = math.floor(t), math.ceil(t)
    w = t - low
    return float(((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp())


def first_downsample_block(model) -> int:
    """Index of the first input block that halves the map (SD 1.5's input block 3)."""
    for i, stage in enumerate(model.input_blocks):
        if any(type(block).__name__ in ("Downsample", "AvgPoolDownsample") for block in stage):
            return i
    raise ValueError("Deep Shrink: the model has no downsampling input block")


@dataclass(frozen=True)
class DeepShrinkSettings:
    block: int
    factor: float
    start_percent: float = 0.0
    end_percent: float = 0.35
    method: str = "bicubic"

    def __post_init__(self):
        if self.factor <= 0:
            raise ValueError(f"Deep Shrink factor must be > 0 (got {self.factor})")
        if not 0.0 <= self.start_percent <= self.end_percent <= 1.0:
            raise ValueError("Deep Shrink: need 0 <= start_percent <= end_percent <= 1")


def deep_shrink_patches(settings: DeepShrinkSettings) -> dict:
    """The block patches of PatchModelAddDownscale (downscale after the skip): put them in
    ``transformer_options["patches"]`` with the call's sigma in ``transformer_options["sigmas"]``."""
    sigma_start = percent_to_sigma(settings.start_percent)
    sigma_end = percent_to_sigma(settings.end_percent)

    def input_block_patch(h, options):
        if options["block"][1] == settings.block:
            sigma = options["sigmas"][0].item()
            if sigma_end <= sigma <= sigma_start:
                size = (round(h.shape[-2] / settings.factor), round(h.shape[-1] / settings.factor))
                h = F.interpolate(h, size=size, mode=settings.method)
        return h

    def output_block_patch(h, skip, options):
        if h.shape[2] != skip.shape[2]:
            h = F.interpolate(h, size=tuple(skip.shape[-2:]), mode=settings.method)
        return h, skip

    return {"input_block_patch_after_skip": [input_block_patch],
            "output_block_patch": [output_block_patch]}


class DeepShrinkModel:
    """A callable (x, t, y) -> eps for the lab's DDIM sampler: the model with Deep Shrink's
    patches; ``hook`` (the sampler's step_hook) records the current sigma."""

    def __init__(self, model, settings: DeepShrinkSettings):
        self.model, self.patches = model, deep_shrink_patches(settings)
        self.num_classes = getattr(model, "num_classes", None)
        self.sigma = math.inf
        self.inner_hook = None

    def check_size(self, height, width):
        self.model.check_size(height, width)

    def hook(self, index, num_steps, t, sigma, *rest):
        self.sigma = sigma
        if self.inner_hook is not None:
            self.inner_hook(index, num_steps, t, sigma, *rest)

    def __call__(self, x, t, y):
        options = {"patches": self.patches, "sigmas": torch.full((x.shape[0],), float(self.sigma))}
        return self.model(x, t, y, transformer_options=options)
