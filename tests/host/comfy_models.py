"""Small U-Nets with the real SD 1.5 and SDXL topologies, built by real ComfyUI (random weights,
reduced channels), and a seeded KSampler call.  Host tests only."""
import copy

import torch

SD15_UNET = {'use_checkpoint': False, 'image_size': 32, 'out_channels': 4, 'use_spatial_transformer': True,
             'legacy': False, 'adm_in_channels': None, 'in_channels': 4, 'model_channels': 32,
             'num_res_blocks': [2, 2, 2, 2], 'transformer_depth': [1, 1, 1, 1, 1, 1, 0, 0],
             'channel_mult': [1, 2, 4, 4], 'transformer_depth_middle': 1, 'use_linear_in_transformer': False,
             'context_dim': 64, 'num_heads': 4, 'transformer_depth_output': [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
             'use_temporal_attention': False, 'use_temporal_resblock': False}
SDXL_UNET = {'use_checkpoint': False, 'image_size': 32, 'out_channels': 4, 'use_spatial_transformer': True,
             'legacy': False, 'num_classes': 'sequential', 'adm_in_channels': 2816, 'in_channels': 4,
             'model_channels': 32, 'num_res_blocks': [2, 2, 2], 'transformer_depth': [0, 0, 1, 1, 1, 1],
             'channel_mult': [1, 2, 4], 'transformer_depth_middle': 1, 'use_linear_in_transformer': True,
             'context_dim': 64, 'num_head_channels': 16, 'transformer_depth_output': [0, 0, 0, 1, 1, 1, 1, 1, 1],
             'use_temporal_attention': False, 'use_temporal_resblock': False}


def build(kind="SD15", seed=0):
    """A ModelPatcher around a real comfy.model_base model of the given topology."""
    import comfy.model_patcher
    import comfy.supported_models as sm
    unet = copy.deepcopy(SD15_UNET if kind == "SD15" else SDXL_UNET)
    unet["dtype"] = torch.float32
    config = (sm.SD15 if kind == "SD15" else sm.SDXL)(unet)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():   # ComfyUI skips weight init
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name:
                p.fill_(1.0)
            else:
                fan_in = max(1, p[0].numel())
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
    dev = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=dev, offload_device=dev)


def conditioning(kind, seed=0):
    g = torch.Generator().manual_seed(seed)
    ctx = torch.randn(1, 8, 64, generator=g)
    extra = {"pooled_output": torch.randn(1, 1280, generator=g)} if kind == "SDXL" else {}
    return [[ctx, extra]]


def ksample(model, kind, width, height, steps=3, seed=0, cfg=2.0):
    """KSampler (euler, normal) with cond and uncond batched, as ComfyUI runs it."""
    import comfy.sample
    latent = torch.zeros(1, 4, height // 8, width // 8)
    noise = comfy.sample.prepare_noise(latent, seed)
    pos, neg = conditioning(kind, 1), conditioning(kind, 2)
    return comfy.sample.sample(model, noise, steps, cfg, "euler", "normal", pos, neg, latent,
                               disable_pbar=True, seed=seed)
