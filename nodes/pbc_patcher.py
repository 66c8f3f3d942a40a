"""PBC Model Patcher: progressive virtual boundaries in the convolutions of an SD U-Net."""
from comfy_api.latest import io

from ..posenc.pbc import PBCRuntime, PBCSettings, spatial_convs
from ..posenc.boundaries import MAX_BOUNDARIES
from .model_info import diffusion_model_of, latent_downscale, require_unet, resolve_base_resolution

WRAPPER_KEY = "posenc_pbc"


def _transformer_options(args, kwargs):
    # DIFFUSION_MODEL wrappers receive (x, timesteps, context, y, control, transformer_options, ...)
    if "transformer_options" in kwargs:
        return kwargs["transformer_options"]
    return args[4] if len(args) > 4 else {}


class PBCModelPatcher(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="PBCModelPatcher",
            display_name="PBC Model Patcher",
            category="model_patches/unet",
            description=("Progressive Boundary Complement (Zhou et al. 2025): adds virtual boundaries with "
                         "valued padding inside the U-Net's convolutions so that position information reaches "
                         "the middle of large feature maps. Training-free; use above the model's training size."),
            inputs=[
                io.Model.Input("model", tooltip="An SD 1.x, SD 2.x or SDXL-family U-Net (or a bundled reference model)."),
                io.Int.Input("boundaries", default=31, min=1, max=MAX_BOUNDARIES, step=1,
                             tooltip="N, the number of virtual boundaries, with lambda_n = n/(N+1) (Eq. 4). The paper uses 31."),
                io.Int.Input("jitter", default=1, min=0, max=16, step=1,
                             tooltip="r: each boundary moves by a random integer in [-r, r] rows/columns every step (Eq. 3). 0 = fixed boundaries."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Start of the sampling window where PBC is applied (0 = first step)."),
                io.Float.Input("end_percent", default=0.5, min=0.0, max=1.0, step=0.001,
                               tooltip="End of the window; 0.5 = the first half of the steps, as in the paper (25 of 50 DDIM steps)."),
                io.Int.Input("base_resolution", default=0, min=0, max=16384, step=8,
                             tooltip="Training resolution in pixels; 0 = auto (SD1.x 512, SD2.x 512/768, SDXL 1024). Boundaries are added only along axes larger than this."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff,
                             tooltip="Seed of the boundary jitter; the same seed gives the same boundaries at every step of a rerun."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, boundaries, jitter, start_percent, end_percent, base_resolution, seed) -> io.NodeOutput:
        if not 0.0 <= start_percent <= end_percent <= 1.0:
            raise ValueError(f"PBC: need 0 <= start_percent <= end_percent <= 1 (got {start_percent}, {end_percent})")
        convs = spatial_convs(diffusion_model_of(model))
        require_unet(model, len(convs))
        base = resolve_base_resolution(model, base_resolution) // latent_downscale(model)
        sampling = model.get_model_object("model_sampling")
        runtime = PBCRuntime(PBCSettings(
            boundaries=boundaries, jitter=jitter, seed=seed, base_height=base, base_width=base,
            sigma_start=float(sampling.percent_to_sigma(start_percent)),
            sigma_end=float(sampling.percent_to_sigma(end_percent))))

        m = model.clone()
        for name, _, spec in convs:
            path = f"diffusion_model.{name}._conv_forward"
            m.add_object_patch(path, runtime.conv_forward(spec, m.get_model_object(path)))

        def pbc_wrapper(executor, x, *args, **kwargs):
            sigmas = _transformer_options(args, kwargs).get("sigmas")
            if sigmas is None:  # called outside a sampler: leave the model as it is
                return executor(x, *args, **kwargs)
            with runtime.step(x.shape[-2], x.shape[-1], float(sigmas.max())):
                return executor(x, *args, **kwargs)

        from comfy.patcher_extension import WrappersMP
        m.add_wrapper_with_key(WrappersMP.DIFFUSION_MODEL, WRAPPER_KEY, pbc_wrapper)
        return io.NodeOutput(m)
