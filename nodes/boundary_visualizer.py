"""Boundary Visualizer: draws the virtual boundaries PBC will use at a given size, per U-Net level.

ComfyUI wiring only; the geometry is posenc/boundaries.py and the drawing posenc/boundary_drawing.py.
"""
from __future__ import annotations

from comfy_api.latest import io

from ..posenc.boundaries import MAX_BOUNDARIES
from ..posenc.boundary_drawing import (DEFAULT_LATENT_DOWNSCALE, DEFAULT_LEVELS, MAX_LEVELS, MAX_SIZE,
                                       plan_boundaries, render_boundaries)
from ..posenc.pbc import PBCRuntime
from .model_info import UnsupportedModelError, diffusion_model_of, latent_downscale, resolve_base_resolution, unet_levels
from .refusals import require_unet
from .search import schema

# Without a MODEL and with base_resolution 0 (auto) the picture assumes SD 1.x and says so.
ASSUMED_BASE = 512


def _check(name: str, value, lo: int, hi: int, fix: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Boundary Visualizer: {name} must be an integer (got {value!r})")
    if not lo <= value <= hi:
        raise ValueError(f"Boundary Visualizer: {name} must be from {lo} to {hi} (got {value}){fix}")


class BoundaryVisualizer(io.ComfyNode):
    SEARCH_ALIASES = ["PBC", "virtual boundaries", "boundary preview", "hires", "high res"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="BoundaryVisualizer",
            display_name="Boundary Visualizer",
            category="image",
            description=("Draws the virtual boundaries that PBC (PBC Model Patcher) adds at this image "
                         "size, one panel per U-Net level, shaded by lambda: strong red rings at the edge, "
                         "faint ones near the centre."),
            inputs=[
                io.Int.Input("width", default=1024, min=8, max=MAX_SIZE, step=8,
                             tooltip="Width in pixels of the image you will generate (default 1024)."),
                io.Int.Input("height", default=1024, min=8, max=MAX_SIZE, step=8,
                             tooltip="Height in pixels of the image you will generate (default 1024)."),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8,
                             tooltip="The model's training size in pixels. Default 0 = auto: "
                                     f"from the MODEL, else {ASSUMED_BASE} (SD 1.5), said on the "
                                     "picture. Only axes larger than this get boundaries."),
                io.Int.Input("boundaries", default=3, min=0, max=MAX_BOUNDARIES,
                             tooltip="N, as on the PBC Model Patcher: default 3 (the paper "
                                     "uses 31); 0 = auto, 1 at 2x the base, 2 at 3x, 3 at 4x."),
                io.Int.Input("jitter", default=1, min=0, max=64,
                             tooltip="Random shift of each boundary side in latent cells "
                                     "(±jitter, default 1). The picture shows one draw; the "
                                     "patcher draws anew every step."),
                io.Int.Input("jitter_seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
                             tooltip="Seed of the jitter (default 0), as on the PBC Model Patcher."),
                io.Int.Input("levels", default=0, min=0, max=MAX_LEVELS,
                             tooltip="U-Net levels to draw, one panel each. Default 0 = auto: "
                                     f"from the MODEL, else {DEFAULT_LEVELS} (SD 1.x and 2.x; "
                                     "SDXL has 3)."),
                io.Image.Input("image", optional=True,
                               tooltip="Optional image to draw the boundaries over (for "
                                       "example a sample at this size). If its size differs "
                                       "from width x height the boundaries are scaled onto "
                                       "it and the picture says so."),
                io.Model.Input("model", optional=True,
                               tooltip="Optional MODEL: gives the base resolution (when "
                                       "base_resolution is 0), the latent downscale and "
                                       "the number of U-Net levels."),
            ],
            outputs=[io.Image.Output(display_name="image")],
        )

    @classmethod
    def execute(cls, width, height, base_resolution, boundaries, jitter, jitter_seed, levels=0,
                image=None, model=None) -> io.NodeOutput:
        _check("width", width, 8, MAX_SIZE)
        _check("height", height, 8, MAX_SIZE)
        _check("base_resolution", base_resolution, 0, MAX_SIZE, " (0 = auto)")
        _check("boundaries", boundaries, 0, MAX_BOUNDARIES, " (0 = auto; the paper uses 31)")
        _check("jitter", jitter, 0, MAX_SIZE)
        _check("jitter_seed", jitter_seed, 0, 0xFFFFFFFFFFFFFFFF)
        _check("levels", levels, 0, MAX_LEVELS, " (0 = auto)")
        if image is not None and (getattr(image, "ndim", 0) != 4 or min(image.shape) < 1):
            raise ValueError("Boundary Visualizer: image must be an IMAGE (batch, height, width, "
                             f"channels); got shape {tuple(getattr(image, 'shape', ()))}")
        base_note = ""
        if model is not None:
            try:   # draw only what PBC would do: refuse a MODEL the PBC Model Patcher refuses
                require_unet(model, len(PBCRuntime.find(diffusion_model_of(model))))
            except UnsupportedModelError as e:
                raise UnsupportedModelError(
                    f"Boundary Visualizer: {e}. Connect the U-Net MODEL you will patch with PBC, or "
                    f"no MODEL (then set base_resolution)") from e
            base = resolve_base_resolution(model, base_resolution)
            downscale = latent_downscale(model)
            n_levels = levels or unet_levels(model)
            if base_resolution == 0:
                base_note = " (from the MODEL)"
        else:
            if base_resolution % 8 != 0:
                raise ValueError(f"Boundary Visualizer: base_resolution must be a multiple of 8 "
                                 f"(got {base_resolution}), or 0 for auto")
            base = base_resolution or ASSUMED_BASE
            downscale = DEFAULT_LATENT_DOWNSCALE
            n_levels = levels or DEFAULT_LEVELS
            if base_resolution == 0:
                base_note = (" (assumed: no MODEL connected; connect one or set base_resolution, "
                             "e.g. 1024 for SDXL)")
        n_levels = max(1, min(int(n_levels), MAX_LEVELS))
        plan = plan_boundaries(width, height, base, boundaries, jitter=jitter, seed=jitter_seed, key=0,
                               levels=n_levels, latent_downscale=downscale)
        picture, _ = render_boundaries(plan, image=image, base_note=base_note)
        return io.NodeOutput(picture)
