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
                         "the middle of large feature maps. Training-free; use above the model's training size."),
            inputs=[
                io.Model.Input("model", tooltip="An SD 1.x, SD 2.x or SDXL-family U-Net (or a bundled reference model)."),
                io.Int.Input("boundaries", default=3, min=0, max=MAX_BOUNDARIES, step=1,
                             tooltip=("N, the number of virtual boundaries, with lambda_n = n/(N+1) (Eq. 4). Default 3: "
                                      "the best N on the pack's two reference U-Nets (held-out seeds; README, 'Against what "
                                      "users do instead') and in the paper's own KID ablation. The paper's main setting, 31, "
                                      "made PBC alone wreck those models' colours (about 90% of the pixels off the palette at 2x-4x) and "
                                      "cost valid layouts inside a hires fix. 0 = auto: one per base size of scale beyond "
                                      "the first, N = max(1, round(s) - 1) for an image s times the base (1 at 2x, 3 at 4x).")),
                io.Int.Input("jitter", default=1, min=0, max=MAX_JITTER, step=1,
                             tooltip="r: each boundary moves by a random integer in [-r, r] rows/columns every step (Eq. 3). 0 = fixed boundaries."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip=("Start of the window where PBC is applied, as a share of the steps this sampler runs "
                                        "(0 = its first step): step i of n is patched when start_percent <= i/n < end_percent. "
                                        "Always on the steps of the run itself: a full pass, a hires-fix second pass at denoise < 1, "
                                        "img2img, KSamplerAdvanced's step range or custom SIGMAS.")),
                io.Float.Input("end_percent", default=0.5, min=0.0, max=1.0, step=0.001,
                               tooltip=("End of the window, as a share of the steps this sampler runs: 0.5 = the first half of "
                                        "them, as in the paper (25 of 50 DDIM steps; 10 of the 20 steps of a denoise-0.5 pass); "
                                        "1.0 = up to the last step. Chained with another PBC or Re-dilation patcher whose window "
                                        "overlaps, the later node's patch replaces the earlier one's on the convs both patch, in "
                                        "the steps both cover (a warning says so).")),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8,
                             tooltip="Training resolution in pixels; 0 = auto (SD1.x 512, SD2.x 512/768, SDXL 1024). Boundaries are added only along axes larger than this."),
                io.Int.Input("jitter_seed", default=0, min=0, max=MAX_SEED,
                             tooltip="Seed of the boundary jitter; the same seed gives the same boundaries at every step of a rerun."),
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
