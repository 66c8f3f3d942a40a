"""Re-dilation Patcher: ScaleCrafter-style dilated convolutions in an SD U-Net, so users can set it
next to the PBC Model Patcher in one graph.  The method lives in posenc/redilation.py."""
from comfy_api.latest import io

from ..posenc.limits import MAX_SIZE
from ..posenc.redilation import RedilationRuntime, RedilationSettings
from .model_patching import base_latent_size, patch_model, step_window
from .search import schema


class RedilationPatcher(io.ComfyNode):
    SEARCH_ALIASES = ["ScaleCrafter", "dilation", "dilated convolution", "hires", "high res", "high resolution", "upscale", "repetition"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="RedilationPatcher",
            display_name="Re-dilation Patcher (ScaleCrafter)",
            category="model_patches/unet",
            description=("Re-dilation in the style of ScaleCrafter (He et al., ICLR 2024): above the training "
                         "size, the U-Net's 3x3 convolutions are dilated by the scale factor per axis during "
                         "the early steps, so each conv sees the receptive field it had in training. Set it "
                         "beside the PBC Model Patcher to compare the two."),
            inputs=[
                io.Model.Input("model", tooltip="An SD 1.x, SD 2.x or SDXL-family U-Net (or a bundled reference model)."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip=("Where dilation starts, as a share of the steps this sampler runs. Default 0.0 = its "
                                        "first step, in a full pass, a hires-fix second pass, img2img or custom sigmas alike.")),
                io.Float.Input("end_percent", default=0.5, min=0.0, max=1.0, step=0.001,
                               tooltip=("Where dilation stops, as a share of the steps this sampler runs. Default 0.5 = the "
                                        "first half, where the layout forms, of a full pass, a hires-fix pass or img2img.")),
                io.Int.Input("base_resolution", default=0, min=0, max=MAX_SIZE, step=8,
                             tooltip=("The model's training size in pixels. Default 0 = auto (SD 1.x 512, SD 2.x 512 or 768, "
                                      "SDXL 1024). Each axis is dilated by round(size / base): at the base, not at all.")),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, start_percent, end_percent, base_resolution) -> io.NodeOutput:
        window = step_window(start_percent, end_percent, "Re-dilation")
        base = base_latent_size(model, base_resolution, RedilationRuntime, "Re-dilation")
        runtime = RedilationRuntime(RedilationSettings(base_height=base, base_width=base, **window))
        return io.NodeOutput(patch_model(model, runtime, "posenc_redilation"))
