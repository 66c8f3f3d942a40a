"""PBC Model Patcher: progressive virtual boundaries in the convolutions of an SD U-Net."""
from comfy_api.latest import io

from ..posenc.limits import MAX_BOUNDARIES, MAX_JITTER, MAX_SEED, MAX_SIZE
from ..posenc.pbc import PBCRuntime, PBCSettings
from .model_patching import base_latent_size, patch_model, step_window
from .search import schema


class PBCModelPatcher(io.ComfyNode):
    SEARCH_ALIASES = ["hires", "hires fix", "high res", "high resolution", "upscale", "large image", "PBC", "boundary complement", "position encoding", "repetition", "SD 1.5", "SDXL"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="PBCModelPatcher",
            display_name="PBC Model Patcher (hires, upscale)",
            category="model_patches/unet",
            description=("Progressive Boundary Complement (Zhou et al. 2025): adds virtual boundaries with "
                         "valued padding inside the U-Net's convolutions so that position information reaches "
                         "the middle of large feature maps. Training-free; use above the model's training size. "
                         "Details: docs/nodes.md."),
            inputs=[
                io.Model.Input("model", tooltip="An SD 1.x, SD 2.x or SDXL-family U-Net (or a bundled reference model)."),
                io.Int.Input("boundaries", default=3, min=0, max=MAX_BOUNDARIES, step=1,
                             tooltip=("N, the number of virtual boundaries. Default 3, the best on the pack's reference "
                                      "models (the paper's 31 hurt them). 0 = auto: 1 at 2x the base, 2 at 3x, 3 at 4x.")),
                io.Int.Input("jitter", default=1, min=0, max=MAX_JITTER, step=1,
                             tooltip=("How far each boundary moves at random every step, in latent rows or columns (±r). "
                                      "Default 1; 0 = fixed boundaries.")),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip=("Where PBC starts, as a share of the steps this sampler runs. Default 0.0 = its "
                                        "first step, in a full pass, a hires-fix second pass, img2img or custom sigmas alike.")),
                io.Float.Input("end_percent", default=0.5, min=0.0, max=1.0, step=0.001,
                               tooltip=("Where PBC stops, as a share of the steps this sampler runs. Default 0.5 = the first "
                                        "half (as in the paper) of a full pass, a hires-fix second pass, img2img or custom sigmas.")),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8,
                             tooltip=("The model's training size in pixels. Default 0 = auto (SD 1.x 512, SD 2.x 512 or 768, "
                                      "SDXL 1024). Only axes larger than this get boundaries.")),
                io.Int.Input("jitter_seed", default=0, min=0, max=MAX_SEED,
                             tooltip="Seed of the boundary jitter (default 0): the same seed gives the same boundaries in a rerun."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, boundaries, jitter, start_percent, end_percent, base_resolution, jitter_seed) -> io.NodeOutput:
        window = step_window(start_percent, end_percent, "PBC")
        base = base_latent_size(model, base_resolution, PBCRuntime, "PBC")
        runtime = PBCRuntime(PBCSettings(boundaries=boundaries, jitter=jitter, seed=jitter_seed,
                                         base_height=base, base_width=base, **window))
        return io.NodeOutput(patch_model(model, runtime, "posenc_pbc"))
