"""RPE-2D DiT Loader and DiT Class Label: DiT checkpoints as a ComfyUI MODEL at any size.

Wiring only; the DiT, its positions and the file checks live in posenc/dit.py and posenc/position_modes.py.
comfy.* is imported inside functions (comfy_api, for the node schemas, at the top).
"""
from __future__ import annotations

import logging
import os

import torch
from comfy_api.latest import io

from ..posenc import position_modes
from ..posenc.dit import DiT, default_position_mode, forward_memory_bytes, load_dit
from ..posenc.reference_unet import ReferenceUNet
from ..posenc.position_modes import POSITION_MODE_KEY
from ..posenc.checkpoint_files import BUNDLED_DIR, CheckpointError, not_a_regular_file, read_header
from .choices import check_choice
from .latent_channels import strict_latent_format
from .model_info import DIT_CLASS_KEY, REFERENCE_CLASS_KEY, diffusion_model_of, model_kind_name
from .search import schema

MODES = ("auto",) + position_modes.LOADER_MODES
LABEL_KEY = DIT_CLASS_KEY
FOLDERS = ("diffusion_models", "checkpoints")
BUNDLED_PREFIX = "posenc-bundled/"  # the pack's own tiny DiTs (models/tiny_dit_*.safetensors)

# DiT's training schedule (guided-diffusion "linear" betas 1e-4..0.02, 1000 steps) in ComfyUI's
# terms; see posenc_lab/dit_diffusion.py.
SAMPLING_SETTINGS = {"beta_schedule": "sqrt_linear", "linear_start": 1e-4, "linear_end": 0.02,
                     "timesteps": 1000}


class ComfyDiT(DiT):
    """The DiT with ComfyUI's diffusion-model call signature; the state dict keeps the official
    names (``diffusion_model.blocks.0.attn.qkv.weight`` ...), so weight patches (LoRA) apply.
    The position mode is not the module's: it comes with each call, in transformer_options
    (set_position_mode), so clones of one MODEL can sample with different modes."""

    latent_downscale = 8

    @property
    def dtype(self):
        return self.x_embedder.proj.weight.dtype

    def forward(self, x, timesteps, context=None, y=None, control=None, transformer_options={}, **kwargs):
        import comfy.patcher_extension as pe
        return pe.WrapperExecutor.new_class_executor(
            self._forward, self,
            pe.get_all_wrappers(pe.WrappersMP.DIFFUSION_MODEL, transformer_options),
        ).execute(x, timesteps, context, y, control, transformer_options, **kwargs)

    def _forward(self, x, timesteps, context=None, y=None, control=None, transformer_options={}, **kwargs):
        H, W = x.shape[-2:]
        p, f = self.patch_size, self.latent_downscale
        if H % p or W % p:
            raise ValueError(f"RPE-2D DiT: image size {W * f}x{H * f} is not a multiple of "
                             f"{p * f} (patch size {p} x VAE factor {f}); latent {W}x{H}")
        opts = transformer_options.get(POSITION_MODE_KEY)
        if opts is None:  # a MODEL the loader did not make, or a call from outside a sampler
            mode, seed = default_position_mode(self.config), 0
        elif "base_grid" in opts:  # the DiT Position Mode node: its mode only on axes above the base
            default = opts.get("default") or {}
            own = default.get("mode") or default_position_mode(self.config)
            mode = position_modes.axis_modes((H // p, W // p), opts["base_grid"], opts["mode"], own)
            seed = opts["seed"] if opts["mode"] in mode else default.get("seed", 0)
        else:
            mode, seed = opts["mode"], opts["seed"]
        out = DiT.forward(self, x, timesteps, y, mode=mode, seed=seed)
        return out[:, :self.in_channels]  # learned sigma: the sampler uses the noise channels


def _comfy_model_classes():
    """Model-config and model classes, made on first use (they subclass comfy classes)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    import comfy.conds
    import comfy.latent_formats
    import comfy.model_base
    import comfy.supported_models_base

    class RPE2DDiTConfig(comfy.supported_models_base.BASE):
        unet_config = {"disable_unet_model_creation": True}
        unet_extra_config = {}
        sampling_settings = SAMPLING_SETTINGS
        latent_format = comfy.latent_formats.SD15
        memory_usage_factor = 2.0

    class RPE2DDiTModel(comfy.model_base.BaseModel):
        def __init__(self, model_config, diffusion_model, device=None):
            super().__init__(model_config, comfy.model_base.ModelType.EPS, device=device)
            self.diffusion_model = diffusion_model

        def memory_required(self, input_shape, cond_shapes={}):
            # The DiT's own activation peak (posenc/dit.py forward_memory_bytes); ComfyUI's
            # default formula is calibrated for SD's U-Net on 1/8-scale latents and asks for
            # about 5 GB for a pixel-space 128x128 image.  Attention scores count unless
            # ComfyUI's own memory formula (BaseModel.memory_required) would assume a
            # flash / xformers kernel.
            import comfy.model_management as mm
            dtype = self.manual_cast_dtype or self.get_dtype()
            b, h, w = input_shape[0], input_shape[-2], input_shape[-1]
            lean = mm.xformers_enabled() or mm.pytorch_attention_flash_attention()
            return forward_memory_bytes(self.diffusion_model.config, b, h, w,
                                        torch.empty((), dtype=dtype).element_size(),
                                        attention_scores=not lean)

        def extra_conds(self, **kwargs):
            out = {}
            label = kwargs.get(LABEL_KEY, None)
            wrong = REFERENCE_CLASS_KEY in kwargs
            if wrong or (label is None and self.diffusion_model.config.num_classes):
                # without a label a class-conditional DiT would sample its null class silently
                got = ("'Reference Class Label' conditioning (that is for the Reference Model "
                       "Loader's U-Net)" if wrong else "conditioning without a class label")
                raise ValueError(f"RPE-2D DiT: got {got}; connect 'DiT Class Label' (fed by this "
                                 f"MODEL) to KSampler's positive and negative")
            if label is not None:
                out["y"] = comfy.conds.CONDRegular(torch.tensor([int(label)], dtype=torch.long))
            return out

    _CLASSES = (RPE2DDiTConfig, RPE2DDiTModel)
    return _CLASSES


_CLASSES = None


def latent_format_for(info, source="checkpoint"):
    import comfy.latent_formats as lf
    name = info["metadata"].get("posenc.latent_format")
    channels = info["config"].in_channels
    if name is None:
        name = "pixel" if channels == 3 else "sd1"
    if name == "pixel":
        if channels != 3:
            raise ValueError(f"RPE-2D DiT: metadata says pixel space but the model has {channels} channels "
                             f"(file: {source})")
        # 3 channels, identity scaling: ComfyUI's pixel_space VAE
        return strict_latent_format(lf.ChromaRadiance, "This DiT (pixel space)"), 1
    if name == "sd1":
        if channels != 4:
            raise ValueError(f"RPE-2D DiT: an SD-VAE latent has 4 channels, the model has {channels} "
                             f"(file: {source})")
        return strict_latent_format(lf.SD15, "This DiT"), 8  # official DiT: sd-vae-ft-ema/mse, 0.18215
    raise ValueError(f"RPE-2D DiT: unknown latent format {name!r} in the checkpoint metadata "
                     f"(file: {source})")


def set_position_mode(model, mode, seed=0):
    """Give a MODEL (a ModelPatcher; clone it first to leave the original as it is) its position
    mode: model_options["transformer_options"] reaches the diffusion model in every sampler call."""
    if mode not in position_modes.POSITION_MODES:
        raise ValueError(f"RPE-2D DiT Loader: unknown position mode {mode!r}")
    model.model_options.setdefault("transformer_options", {})[POSITION_MODE_KEY] = {
        "mode": mode, "seed": int(seed)}
    return model


def model_from_file(path, position_mode="auto", seed=0):
    """A ComfyUI ModelPatcher for a DiT file (official layout or ours)."""
    import comfy.model_management as mm
    import comfy.model_patcher

    load_device = mm.get_torch_device()
    dit, info = load_dit(path, cls=ComfyDiT)
    cfg = info["config"]
    if info["pos_embed_is_sincos"] is False:   # (None: a RoPE DiT, which stores no table)
        logging.warning("RPE-2D DiT Loader: %s: the stored pos_embed is not DiT's sin-cos of its "
                        "grid; the model is run with sin-cos positions anyway", path)
    mode = default_position_mode(cfg) if position_mode == "auto" else position_mode
    if mode not in position_modes.POSITION_MODES:
        raise ValueError(f"RPE-2D DiT Loader: unknown position mode {position_mode!r}")
    fmt, factor = latent_format_for(info, path)
    dtype = mm.unet_dtype(model_params=sum(p.numel() for p in dit.parameters()))
    dit.to(dtype)
    dit.latent_downscale = factor
    dit.base_resolution = cfg.grid[0] * cfg.patch_size * factor

    Config, Model = _comfy_model_classes()
    model_config = Config({"disable_unet_model_creation": True})
    model_config.latent_format = fmt
    model = Model(model_config, dit, device=mm.unet_offload_device())
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=load_device,
                                               offload_device=mm.unet_offload_device())
    return set_position_mode(patcher, mode, seed), info


def bundled_dits() -> list:
    """Names (with BUNDLED_PREFIX) of the DiT checkpoints in the pack's models/ folder."""
    out = []
    for p in sorted(BUNDLED_DIR.glob("*.safetensors")) if BUNDLED_DIR.is_dir() else []:
        try:
            keys, _ = read_header(p)
        except (ValueError, OSError):  # not a readable safetensors file (or not a file): not listed
            continue
        if "x_embedder.proj.weight" in keys:
            out.append(BUNDLED_PREFIX + p.name)
    return out


def _checkpoint_names():
    import folder_paths
    names = bundled_dits()
    for folder in FOLDERS:
        try:
            names.extend(n for n in folder_paths.get_filename_list(folder) if n not in names)
        except Exception:  # a folder name unknown to this ComfyUI
            pass
    return names


def _resolve(name):
    if name.startswith(BUNDLED_PREFIX):
        path = BUNDLED_DIR / name[len(BUNDLED_PREFIX):]
        if path.is_file() and path.parent == BUNDLED_DIR:
            return str(path)
        raise FileNotFoundError(f"RPE-2D DiT Loader: bundled DiT {name!r} not found in {BUNDLED_DIR}")
    import folder_paths
    for folder in FOLDERS:
        path = folder_paths.get_full_path(folder, name)
        if path:
            return path
    for folder in FOLDERS:  # listed, but not a file ComfyUI resolves: say what is there
        for root in folder_paths.get_folder_paths(folder):
            path = os.path.join(root, name)
            odd = not_a_regular_file(path)
            if odd:
                raise CheckpointError(f"RPE-2D DiT Loader: {name!r} in {root} is {odd}, not a checkpoint file")
    raise FileNotFoundError(f"RPE-2D DiT Loader: {name!r} is in neither models/diffusion_models nor "
                            f"models/checkpoints")


class RPE2DDiTLoader(io.ComfyNode):
    SEARCH_ALIASES = ["DiT", "Diffusion Transformer", "RPE-2D", "RPE2D", "load DiT", "DiT-XL", "hires", "high res", "any resolution", "position encoding"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="RPE2DDiTLoader",
            display_name="DiT Loader (RPE-2D, high res)",
            category="loaders",
            description=("Loads a Diffusion Transformer (official facebookresearch DiT layout) as a MODEL "
                         "that samples at any size and aspect ratio, with RPE-2D position modes. Pair it "
                         "with 'DiT Class Label' for class-conditional DiTs. Files and modes: docs/nodes.md."),
            inputs=[
                io.Combo.Input("dit_name", options=_checkpoint_names(), tooltip="A DiT from models/diffusion_models or models/checkpoints (official DiT-XL/2, or trained with this pack), or a bundled tiny DiT (posenc-bundled/...: pixel space, 32x32)."),
                io.Combo.Input("position_mode", options=list(MODES), default="auto", tooltip="The positions the DiT uses. Default auto: linspace for RPE-2D checkpoints, first (plain extrapolation) for others. Above the trained size, try DiT Position Mode."),
                io.Int.Input("position_seed", default=0, min=0, max=0xffffffffffffffff, tooltip="Seed of the 'random' position mode (default 0); ignored by the other modes."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, dit_name, position_mode, position_seed) -> io.NodeOutput:
        check_choice("RPE-2D DiT Loader", "dit_name", dit_name, _checkpoint_names())
        check_choice("RPE-2D DiT Loader", "position_mode", position_mode, MODES)
        model, _ = model_from_file(_resolve(dit_name), position_mode, position_seed)
        return io.NodeOutput(model)


def _dit_of(model):
    dm = diffusion_model_of(model)
    if isinstance(dm, DiT):
        return dm
    if isinstance(dm, ReferenceUNet):
        raise ValueError("DiT Class Label: this MODEL is a bundled reference U-Net (Reference Model Loader); "
                         "its conditioning comes from 'Reference Class Label' (a class on positive, "
                         "'unconditional' on negative)")
    raise ValueError(f"DiT Class Label: this MODEL, {model_kind_name(model)}, is not a DiT from the RPE-2D DiT "
                     "Loader; connect that loader's MODEL (text-to-image models take CLIP Text Encode "
                     "conditioning instead)")


class DiTClassLabel(io.ComfyNode):
    SEARCH_ALIASES = ["DiT", "class label", "ImageNet class", "class conditioning"]

    @classmethod
    def define_schema(cls):
        return schema(
            search_aliases=cls.SEARCH_ALIASES,
            node_id="DiTClassLabel",
            display_name="DiT Class Label",
            category="conditioning",
            description=("Class conditioning for a class-conditional DiT: positive is the class, negative "
                         "the null (unconditional) class for classifier-free guidance."),
            inputs=[
                io.Model.Input("model", tooltip="The DiT from the RPE-2D DiT Loader (used to check the label range)."),
                io.Int.Input("class_label", default=0, min=0, max=1 << 20, tooltip="Class index (default 0): ImageNet 0-999 for official DiT (207 golden retriever, 980 volcano); 0 day, 1 dusk, 2 night, 3 desert for the tiny DiTs. Unconditional DiTs ignore it."),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"),
                     io.Conditioning.Output(display_name="negative")],
        )

    @classmethod
    def execute(cls, model, class_label) -> io.NodeOutput:
        cfg = _dit_of(model).config
        empty = torch.zeros(1, 1, 1)
        if cfg.num_classes == 0:  # unconditional DiT: conditioning without a label, for KSampler
            logging.info("DiT Class Label: the DiT is unconditional; the class label is ignored")
            return io.NodeOutput([[empty, {}]], [[empty, {}]])
        if not 0 <= class_label < cfg.num_classes:
            raise ValueError(f"DiT Class Label: class label {class_label} out of range: this DiT has "
                             f"{cfg.num_classes} classes (0..{cfg.num_classes - 1})")
        null = cfg.num_classes if cfg.class_dropout else class_label
        if not cfg.class_dropout:
            logging.warning("DiT Class Label: the model has no null class; negative = positive")
        return io.NodeOutput([[empty, {LABEL_KEY: int(class_label)}]], [[empty, {LABEL_KEY: int(null)}]])

