"""Toy-width DiTs of every family the DiT Position Mode node supports, built by real ComfyUI's own
config classes (comfy.supported_models) with random weights, and a seeded sampler call for each.
Host tests only.  A family whose config class this ComfyUI lacks is reported by ``available``.

Each toy: the config class name, the unet_config (the real model's keys at toy width), the latent
(channels, pixels per cell, frames or None) and the text width.  Builders fill in keys that only
some ComfyUI versions know (Flux's ``txt_ids_dims``) by looking at the model's own parameters.
"""
from __future__ import annotations

import dataclasses
import inspect

import torch

TOYS = {
    # Flux.1: hidden 64, 2 heads of 32 = axes_dim 4 + 14 + 14
    "Flux": ("Flux", {"image_model": "flux", "guidance_embed": True, "in_channels": 16, "out_channels": 16,
                      "vec_in_dim": 32, "context_in_dim": 64, "hidden_size": 64, "mlp_ratio": 2.0, "num_heads": 2,
                      "depth": 1, "depth_single_blocks": 1, "axes_dim": [4, 14, 14], "theta": 10000,
                      "patch_size": 2, "qkv_bias": True, "txt_ids_dims": []},
             (16, 8, None), 64),
    # Chroma: Flux's blocks and RoPE embedder, a small modulation approximator; latents patchified 2x2
    "Chroma": ("Chroma", {"image_model": "chroma", "in_channels": 64, "out_channels": 64, "context_in_dim": 64,
                          "hidden_size": 64, "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
                          "axes_dim": [4, 14, 14], "theta": 10000, "patch_size": 2, "qkv_bias": True, "in_dim": 64,
                          "out_dim": 64, "hidden_dim": 64, "n_layers": 1, "txt_ids_dims": [], "vec_in_dim": None},
               (16, 8, None), 64),
    # Flux.2: four axes of 8 (head 32), patch 1 on a 128-channel latent at 16 px per cell
    "Flux2": ("Flux2", {"image_model": "flux2", "guidance_embed": True, "in_channels": 128, "out_channels": 128,
                        "vec_in_dim": None, "context_in_dim": 64, "hidden_size": 64, "mlp_ratio": 2.0,
                        "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 8, 8, 8],
                        "theta": 2000, "patch_size": 1, "qkv_bias": False, "txt_ids_dims": [3],
                        "global_modulation": True, "mlp_silu_act": True, "ops_bias": False,
                        "default_ref_method": "index", "ref_index_scale": 10.0},
              (128, 16, None), 64),
    # Qwen-Image: 2 heads of 32, axes 8 + 12 + 12
    "QwenImage": ("QwenImage", {"image_model": "qwen_image", "patch_size": 2, "in_channels": 64,
                                "out_channels": 16, "num_layers": 1, "attention_head_dim": 32,
                                "num_attention_heads": 2, "joint_attention_dim": 64,
                                "axes_dims_rope": (8, 12, 12)},
                  (16, 8, 1), 64),
    # Qwen-Image-Layered: the same with its layer/time flag embedding (use_additional_t_cond) and
    # references at index -1, -2, ... (model_detection's Layered keys); its latent holds the image and
    # its layers as frames (EmptyQwenImageLayeredLatentImage: layers + 1), here 3
    "QwenImageLayered": ("QwenImage", {"image_model": "qwen_image", "patch_size": 2, "in_channels": 64,
                                       "out_channels": 16, "num_layers": 1, "attention_head_dim": 32,
                                       "num_attention_heads": 2, "joint_attention_dim": 64,
                                       "axes_dims_rope": (8, 12, 12), "use_additional_t_cond": True,
                                       "default_ref_method": "negative_index"},
                         (16, 8, 3), 64),
    # Lumina 2: dim 64, 2 heads of 32, axes 8 + 12 + 12
    "Lumina2": ("Lumina2", {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 64,
                            "cap_feat_dim": 64, "n_layers": 1, "n_refiner_layers": 1, "n_heads": 2,
                            "n_kv_heads": 2, "multiple_of": 16, "ffn_dim_multiplier": 2.0, "qk_norm": True,
                            "axes_dims": [8, 12, 12], "axes_lens": [300, 512, 512], "rope_theta": 10000.0},
                (16, 8, None), 64),
    # Z-Image: Lumina 2's NextDiT with Z-Image's modulation (whose width is min(dim, 256): dim 256, 8
    # heads of 32) and token padding
    "ZImage": ("ZImage", {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 256,
                          "cap_feat_dim": 64, "n_layers": 1, "n_refiner_layers": 1, "n_heads": 8, "n_kv_heads": 8,
                          "multiple_of": 16, "ffn_dim_multiplier": 2.0, "qk_norm": True, "axes_dims": [8, 12, 12],
                          "axes_lens": [1536, 512, 512], "rope_theta": 256.0, "z_image_modulation": True,
                          "time_scale": 1000.0, "pad_tokens_multiple": 32},
               (16, 8, None), 64),
    # Z-Image omni (edit): the same with a SigLIP projection (siglip_feat_dim), whose features of a
    # reference image the model embeds in a call of their own
    "ZImageOmni": ("ZImage", {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 256,
                              "cap_feat_dim": 64, "n_layers": 1, "n_refiner_layers": 1, "n_heads": 8,
                              "n_kv_heads": 8, "multiple_of": 16, "ffn_dim_multiplier": 2.0, "qk_norm": True,
                              "axes_dims": [8, 12, 12], "axes_lens": [1536, 512, 512], "rope_theta": 256.0,
                              "z_image_modulation": True, "time_scale": 1000.0, "pad_tokens_multiple": 32,
                              "siglip_feat_dim": 32},
                   (16, 8, None), 64),
    # WAN 2.1 text-to-video: dim 64, 2 heads of 32 = axes 12 (time) + 10 + 10
    "WAN21_T2V": ("WAN21_T2V", {"image_model": "wan2.1", "model_type": "t2v", "patch_size": (1, 2, 2),
                                "text_len": 8, "in_dim": 16, "dim": 64, "ffn_dim": 128, "freq_dim": 32,
                                "text_dim": 64, "out_dim": 16, "num_heads": 2, "num_layers": 1},
                  (16, 8, 3), 64),
    # HiDream I1: 2 heads of 32 = axes 8 + 12 + 12, one double and one single block, 2 experts of which
    # 1 active, Llama layers 0 and 1 (one per block) beside the T5 context
    "HiDream": ("HiDream", {"image_model": "hidream", "patch_size": 2, "in_channels": 16, "out_channels": 16,
                            "num_layers": 1, "num_single_layers": 1, "attention_head_dim": 32,
                            "num_attention_heads": 2, "caption_channels": [64, 64], "text_emb_dim": 32,
                            "num_routed_experts": 2, "num_activated_experts": 1, "axes_dims_rope": [8, 12, 12],
                            "max_resolution": [128, 128], "llama_layers": [0, 1]},
                (16, 8, None), 64),
    # HunyuanVideo 1.0 text-to-video: 2 heads of 32 = axes 8 (time) + 12 + 12, patch (1, 2, 2)
    "HunyuanVideo": ("HunyuanVideo", {"image_model": "hunyuan_video", "in_channels": 16, "out_channels": 16,
                                      "vec_in_dim": 32, "context_in_dim": 64, "hidden_size": 64, "mlp_ratio": 2.0,
                                      "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 12, 12],
                                      "theta": 256, "patch_size": [1, 2, 2], "qkv_bias": True,
                                      "guidance_embed": True, "byt5": False, "meanflow": False,
                                      "use_cond_type_embedding": False, "vision_in_dim": None,
                                      "meanflow_sum": False},
                     (16, 8, 3), 64),
    # HunyuanImage 2.1: 2-D ids (row, column), axes 16 + 16, patch (1, 1) on a 64-channel latent at 32 px per cell
    "HunyuanImage21": ("HunyuanImage21", {"image_model": "hunyuan_video", "in_channels": 64, "out_channels": 64,
                                          "vec_in_dim": None, "context_in_dim": 64, "hidden_size": 64,
                                          "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
                                          "axes_dim": [16, 16], "theta": 256, "patch_size": [1, 1],
                                          "qkv_bias": True, "guidance_embed": False, "byt5": False,
                                          "meanflow": False, "use_cond_type_embedding": False,
                                          "vision_in_dim": None, "meanflow_sum": False},
                       (64, 32, None), 64),
    # HunyuanVideo 1.5: patch (1, 1, 1) on a 32-channel latent at 16 px per cell; input = noise + image
    # (zeros for text-to-video) + mask; a vision projection and the condition-type embedding
    "HunyuanVideo15": ("HunyuanVideo15", {"image_model": "hunyuan_video", "in_channels": 65, "out_channels": 32,
                                          "vec_in_dim": None, "context_in_dim": 64, "hidden_size": 64,
                                          "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
                                          "axes_dim": [8, 12, 12], "theta": 256, "patch_size": [1, 1, 1],
                                          "qkv_bias": True, "guidance_embed": False, "byt5": False,
                                          "meanflow": False, "use_cond_type_embedding": True,
                                          "vision_in_dim": 32, "meanflow_sum": False},
                       (32, 16, 3), 64),
    # The HunyuanImage 2.1 refiner (built only to be refused by name)
    "HunyuanImage21Refiner": ("HunyuanImage21Refiner",
                              {"image_model": "hunyuan_video", "in_channels": 128, "out_channels": 64,
                               "vec_in_dim": None, "context_in_dim": 64, "hidden_size": 64, "mlp_ratio": 2.0,
                               "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 12, 12],
                               "theta": 256, "patch_size": [1, 1, 1], "qkv_bias": True, "guidance_embed": False,
                               "byt5": False, "meanflow": False, "use_cond_type_embedding": False,
                               "vision_in_dim": None, "meanflow_sum": False},
                              (64, 16, 1), 64),
}


def available(kind) -> bool:
    return missing(kind) is None


def missing(kind) -> str | None:
    """What this ComfyUI lacks to build ``kind`` (said in the skip message), else None: the config
    class, or for Qwen-Image-Layered the model's ``use_additional_t_cond`` (0.3.64's Qwen-Image has
    the config class but no Layered model and one frame only)."""
    import comfy.supported_models as sm
    if not hasattr(sm, TOYS[kind][0]):
        return f"this ComfyUI has no {TOYS[kind][0]} config class"
    if kind == "QwenImageLayered":
        from comfy.ldm.qwen_image.model import QwenImageTransformer2DModel
        if "use_additional_t_cond" not in inspect.signature(QwenImageTransformer2DModel.__init__).parameters:
            return "this ComfyUI's QwenImageTransformer2DModel has no use_additional_t_cond (Qwen-Image-Layered)"
    return None


def _fit_to_this_comfyui(config_cls, unet: dict) -> dict:
    """Drop the keys this ComfyUI's model does not take (0.3.64: Flux's FluxParams has no
    txt_ids_dims, Chroma's ChromaParams neither it nor
    vec_in_dim, Lumina 2's NextDiT no rope_theta, HunyuanVideoParams none of 1.5's keys): what the
    model would be built with there."""
    if unet.get("image_model") in ("flux", "flux2"):
        from comfy.ldm.flux.model import FluxParams
        known = {f.name for f in dataclasses.fields(FluxParams)}
    elif unet.get("image_model") == "chroma":
        from comfy.ldm.chroma.model import ChromaParams
        known = {f.name for f in dataclasses.fields(ChromaParams)}
    elif unet.get("image_model") == "lumina2":
        from comfy.ldm.lumina.model import NextDiT
        known = set(inspect.signature(NextDiT.__init__).parameters)
    elif unet.get("image_model") == "hunyuan_video":
        from comfy.ldm.hunyuan_video.model import HunyuanVideoParams
        known = {f.name for f in dataclasses.fields(HunyuanVideoParams)}
    else:
        return unet
    return {k: v for k, v in unet.items() if k in known or k == "image_model"}


def random_weights(diffusion_model, seed=0) -> None:
    """Seeded weights (ComfyUI skips weight init): norms 1, the rest N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in diffusion_model.named_parameters():
            if "norm" in pname and p.dim() == 1:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / max(1, p[0].numel()) ** 0.5)


def patcher(model):
    import comfy.model_patcher
    dev = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=dev, offload_device=dev)


def build(kind, seed=0):
    import comfy.supported_models as sm
    name, unet, _, _ = TOYS[kind]
    config_cls = getattr(sm, name)
    config = config_cls(dict(_fit_to_this_comfyui(config_cls, unet), dtype=torch.float32))
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    random_weights(model.diffusion_model, seed)
    return patcher(model)


def latent(kind, width, height):
    channels, per_cell, frames = TOYS[kind][2]
    shape = (1, channels, height // per_cell, width // per_cell)
    return torch.zeros(shape if frames is None else shape[:2] + (frames,) + shape[2:])


def conditioning(kind, seed, extra=None):
    g = torch.Generator().manual_seed(seed)
    d = dict(extra or {})
    if kind in ("Flux", "Chroma", "HiDream", "HunyuanVideo", "HunyuanVideo15"):  # 0.3.64's Chroma reads it too;
        d["pooled_output"] = torch.randn(1, 32, generator=g)                    # HunyuanVideo's encode_adm always
    if kind == "HiDream":               # the Llama layers HiDream's blocks read (llama_layers 0 and 1)
        d["conditioning_llama3"] = torch.randn(1, 2, 6, 64, generator=g)
    if kind in ("Lumina2", "ZImage", "ZImageOmni"):      # 0.3.64's Lumina 2 takes num_tokens from the mask only
        d["attention_mask"] = torch.ones(1, 6, dtype=torch.long)
    return [[torch.randn(1, 6, TOYS[kind][3], generator=g), d]]


def sample(model, kind, width, height, steps=2, seed=0, extra=None, sigmas=None):
    """ComfyUI's sampler (euler, simple) with cond and uncond, as KSampler runs it; ``extra`` goes
    into both conditionings (e.g. reference_latents)."""
    import comfy.sample
    lat = latent(kind, width, height)
    noise = comfy.sample.prepare_noise(lat, seed)
    return comfy.sample.sample(model, noise, steps, 2.0, "euler", "simple", conditioning(kind, 1, extra),
                               conditioning(kind, 2, extra), lat, disable_pbar=True, seed=seed, sigmas=sigmas)
