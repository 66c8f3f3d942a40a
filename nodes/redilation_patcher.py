"""Re-dilation Patcher: ScaleCrafter-style dilated convolutions in an SD U-Net, so users can set it
next to the PBC Model Patcher in one graph.  The method lives in posenc/redilation.py."""
from comfy_api.latest import io

from ..posenc.redilation import RedilationRuntime, RedilationSettings, dilatable_convs
from .model_info import diffusion_model_of, latent_downscale, require_unet, resolve_base_resolution
from .pbc_patcher import _transformer_options

WRAPPER_KEY = "posenc_redilation"


class RedilationPatcher(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RedilationPatcher",
            display_name="Re-dilation Patcher",
            category="model_patches/unet",
            description=("Re-dilation in the style of ScaleCrafter (He et al., ICLR 2024): above the training "
                         "size, the U-Net's 3x3 convolutions are dilated by the scale factor per axis during "
                         "the early steps, so each conv sees the receptive field it had in training. Set it "
                         "beside the PBC Model Patcher to compare the two."),
            inputs=[
                io.Model.Input("model", tooltip="An SD 1.x, SD 2.x or SDXL-family U-Net (or a bundled reference model)."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Start of the sampling window with dilated convs (0 = first step)."),
                io.Float.Input("end_percent", default=0.5, min=0.0, max=1.0, step=0.001,
                               tooltip="End of the window; 0.5 = the first half of the steps, where the layout forms (the same window as the PBC Model Patcher's default). Later steps use the plain convs to draw detail."),
                io.Int.Input("base_resolution", default=0, min=0, max=16384, step=8,
                             tooltip="Training resolution in pixels; 0 = auto (SD1.x 512, SD2.x 512/768, SDXL 1024, the reference models their own). Each axis is dilated by round(size / base), so at or below the base nothing changes."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, start_percent, end_percent, base_resolution) -> io.NodeOutput:
        if not 0.0 <= start_percent <= end_percent <= 1.0:
            raise ValueError(f"Re-dilation: need 0 <= start_percent <= end_percent <= 1 "
                             f"(got {start_percent}, {end_percent})")
        convs = dilatable_convs(diffusion_model_of(model))
        require_unet(model, len(convs), method="Re-dilation")
        base = resolve_base_resolution(model, base_resolution) // latent_downscale(model)
        sampling = model.get_model_object("model_sampling")
        runtime = RedilationRuntime(RedilationSettings(
            base_height=base, base_width=base,
            sigma_start=float(sampling.percent_to_sigma(start_percent)),
            sigma_end=float(sampling.percent_to_sigma(end_percent))))

        m = model.clone()
        for name, conv in convs:
            path = f"diffusion_model.{name}._conv_forward"
            fn = runtime.conv_forward(conv, m.get_model_object(path))
            fn.redilation_runtime = runtime
            m.add_object_patch(path, fn)

        def redilation_wrapper(executor, x, *args, **kwargs):
            sigmas = _transformer_options(args, kwargs).get("sigmas")
            if sigmas is None:  # called outside a sampler: leave the model as it is
                return executor(x, *args, **kwargs)
            with runtime.step(x.shape[-2], x.shape[-1], float(sigmas.max())):
                return executor(x, *args, **kwargs)

        from comfy.patcher_extension import WrappersMP
        m.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, WRAPPER_KEY, redilation_wrapper)
        return io.NodeOutput(m)
