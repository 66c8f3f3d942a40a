"""ComfyUI loader and class-label nodes for the bundled reference models (pixel space).

The loader wraps posenc's ReferenceUNet as the diffusion model of a ComfyUI MODEL:
* model sampling: ComfyUI's default discrete eps schedule with SD's betas, which the reference
  models were trained on (posenc/schedule.py), so every ComfyUI sampler and scheduler works;
* latent format: 3-channel pixels in [-1, 1] (ComfyUI's `pixel_space` VAE and a 3-channel empty
  latent such as "EmptyChromaRadianceLatentImage" at the pixel size, e.g. 32x32 or 128x128);
* the diffusion model keeps ``base_resolution`` (32) and ``latent_downscale`` (1), so the PBC
  Model Patcher knows its training size without being told;
* its forward runs ComfyUI's DIFFUSION_MODEL wrappers like SD's UNetModel does, so wrapper-based
  patches (PBC's) apply.

The class label travels in the conditioning (``reference_class``) and reaches the model as ``y``;
"unconditional" gives the null label that classifier-free guidance needs on the negative side.
comfy is imported lazily, inside the functions that need it; comfy_api (the node schemas) at the
top.
"""
from __future__ import annotations

from pathlib import Path

import torch
from comfy_api.latest import io

from ..posenc.checkpoint_files import BUNDLED_DIR, BUNDLED_UNET
from ..posenc.reference_unet import ReferenceUNet, load_reference_unet, read_metadata
from .choices import check_choice
from .latent_channels import strict_latent_format
from .model_info import DIT_CLASS_KEY, REFERENCE_CLASS_KEY
from .search import schema

COND_KEY = REFERENCE_CLASS_KEY
UNCONDITIONAL = "unconditional"


def reference_classes() -> list:
    """Class names of the bundled reference U-Net, from its checkpoint metadata."""
    try:
        return list(read_metadata(BUNDLED_UNET)["classes"])
    except (OSError, ValueError, KeyError):
        return []


def bundled_models() -> list:
    """File names of the reference U-Nets in the pack's models/ folder."""
    if not BUNDLED_DIR.is_dir():
        return []
    out = []
    for p in sorted(BUNDLED_DIR.glob("*.safetensors")):
        try:
            read_metadata(p)
        except (ValueError, OSError):  # unreadable, not a reference U-Net, not a regular file
            continue
        out.append(p.name)
    return out


class ComfyReferenceUNet(ReferenceUNet):
    """ReferenceUNet with UNetModel's calling convention and DIFFUSION_MODEL wrapper support."""

    def forward(self, x, timesteps=None, context=None, y=None, control=None,
                transformer_options={}, **kwargs):
        import comfy.patcher_extension as pe

        return pe.WrapperExecutor.new_class_executor(
            self._forward, self,
            pe.get_all_wrappers(pe.WrappersMP.DIFFUSION_MODEL, transformer_options),
        ).execute(x, timesteps, context, y, control, transformer_options, **kwargs)

    def _forward(self, x, timesteps=None, context=None, y=None, control=None,
                 transformer_options={}, **kwargs):
        return ReferenceUNet.forward(self, x, timesteps, y, transformer_options)


def _model_classes():
    """ComfyUI model config and BaseModel subclass for the reference U-Net (built lazily)."""
    import comfy.conds
    import comfy.latent_formats
    import comfy.model_base
    import comfy.supported_models_base
    from ..posenc import schedule

    class ReferenceUNetConfig(comfy.supported_models_base.BASE):
        unet_config = {"disable_unet_model_creation": True}
        unet_extra_config = {}
        latent_format = comfy.latent_formats.ChromaRadiance   # 3 channels, identity scaling
        sampling_settings = {"beta_schedule": "linear",        # ComfyUI's "linear" = SD's
                             "linear_start": schedule.BETA_START,  # scaled-linear betas
                             "linear_end": schedule.BETA_END,
                             "timesteps": schedule.NUM_TIMESTEPS}
        supported_inference_dtypes = [torch.float32]
        memory_usage_factor = 1.0

    class ReferenceModel(comfy.model_base.BaseModel):
        def extra_conds(self, **kwargs):
            out = super().extra_conds(**kwargs)
            label = kwargs.get(COND_KEY, None)
            if label is None:   # without a label the model would sample its null class silently
                got = ("'DiT Class Label' conditioning (that is for the RPE-2D DiT Loader's models)"
                       if DIT_CLASS_KEY in kwargs else "conditioning without a class label")
                raise ValueError(f"Reference model: got {got}; connect 'Reference Class Label' to "
                                 f"KSampler's positive (a class) and negative ('unconditional')")
            out["y"] = comfy.conds.CONDRegular(torch.tensor([float(label)]))
            return out

        def memory_required(self, input_shape, cond_shapes={}):
            # Pixel-space activations (a few hundred floats per pixel) plus attention at 1/16 area;
            # ComfyUI's default formula is calibrated for 1/8-scale latents and is far too high.
            b, area = input_shape[0], input_shape[-1] * input_shape[-2]
            return b * (area * 4 * 512 + (area // 16) ** 2 * 4 * 4)

    return ReferenceUNetConfig, ReferenceModel


def load_reference_model(path):
    """A ComfyUI ModelPatcher around the reference U-Net stored at path."""
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher

    diffusion_model = load_reference_unet(path, model_class=ComfyReferenceUNet)
    diffusion_model.requires_grad_(False)
    config_cls, model_cls = _model_classes()
    config = config_cls({"disable_unet_model_creation": True})
    config.latent_format = strict_latent_format(type(config.latent_format), "The reference U-Net (pixel space)")
    model = model_cls(config, model_type=comfy.model_base.ModelType.EPS)
    model.diffusion_model = diffusion_model
    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    model = model.to(offload_device)
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device,
                                            offload_device=offload_device)


class ReferenceModelLoader(io.ComfyNode):
    SEARCH_ALIASES = ["tiny model", "reference U-Net", "CPU model", "test model", "hires test"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="ReferenceModelLoader",
            display_name="Reference Model Loader (posenc)",
            category="loaders",
            description=("Loads a tiny bundled reference model that samples on a CPU in seconds. Trained "
                         "at 32x32: ask it for 128x128 to see repeated suns and horizons, and compare "
                         "PBC. Use 'Reference Class Label' for the conditioning."),
            inputs=[
                io.Combo.Input("model_name", options=bundled_models() or ["reference_unet.safetensors"],
                               tooltip="A bundled reference U-Net, trained at 32x32 on "
                                       "procedural scenes: reference_unet (the default), or "
                                       "reference_unet_b, another architecture to check a result on."),
            ],
            outputs=[io.Model.Output(display_name="model",
                                     tooltip="Pixel-space model: decode with the 'pixel_space' VAE, start from a "
                                             "3-channel empty latent at pixel size (multiples of 4).")],
        )

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        check_choice("Reference Model Loader", "model_name", model_name, bundled_models())
        return io.NodeOutput(load_reference_model(Path(BUNDLED_DIR) / model_name))


class ReferenceClassLabel(io.ComfyNode):
    SEARCH_ALIASES = ["class label", "scene class", "reference conditioning"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="ReferenceClassLabel",
            display_name="Reference Class Label",
            category="conditioning",
            description="Class-label conditioning for the bundled class-conditional reference models.",
            inputs=[
                io.Combo.Input("class_label", options=reference_classes() + [UNCONDITIONAL],
                               default=(reference_classes() or [UNCONDITIONAL])[0],
                               tooltip="Scene class (default day). 'unconditional' is the null label: "
                                       "use it on the negative side for classifier-free guidance (cfg > 1)."),
            ],
            outputs=[io.Conditioning.Output(
                tooltip="Conditioning for KSampler with a reference model (positive or negative).")],
        )

    @classmethod
    def execute(cls, class_label) -> io.NodeOutput:
        classes = reference_classes()
        check_choice("Reference Class Label", "class_label", class_label, classes + [UNCONDITIONAL])
        index = len(classes) if class_label == UNCONDITIONAL else classes.index(class_label)
        # The tensor slot is unused by the reference models (they have no cross-attention).
        return io.NodeOutput([[torch.zeros((1, 1, 1)), {COND_KEY: index}]])

