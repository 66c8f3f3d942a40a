"""Host test (opt-in): the DiT Position Mode node on Flux, Chroma and SD3 models built by real ComfyUI
(comfy.supported_models / comfy.model_base at toy width and depth, random weights), sampled by
ComfyUI's sampler.

Run:  COMFYUI_PATH=/path/to/ComfyUI <ComfyUI's python> -m pytest tests/host/test_dit_position_mode_host.py -q
"""
import os

import pytest
import torch

from conftest import load_pack

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="host test: set COMFYUI_PATH")

# Flux: hidden 64, 2 heads of 32 = axes_dim 4 + 14 + 14; one double and one single block
FLUX = {"image_model": "flux", "guidance_embed": True, "in_channels": 16, "out_channels": 16,
        "vec_in_dim": 32, "context_in_dim": 64, "hidden_size": 64, "mlp_ratio": 2.0, "num_heads": 2,
        "depth": 1, "depth_single_blocks": 1, "axes_dim": [4, 14, 14], "theta": 10000, "patch_size": 2,
        "qkv_bias": True}
# Chroma: Flux's blocks and RoPE embedder, a small modulation approximator; latents patchified 2x2
CHROMA = {"image_model": "chroma", "in_channels": 64, "out_channels": 64, "context_in_dim": 64,
          "hidden_size": 64, "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
          "axes_dim": [4, 14, 14], "theta": 10000, "patch_size": 2, "qkv_bias": True, "in_dim": 64,
          "out_dim": 64, "hidden_dim": 64, "n_layers": 1}
# SD3: depth 1 = hidden 64, one head; a 24x24 pos_embed table (SD3's 192 at 1/8 scale), positions
# index / 3 as SD3's (pos_embed_max_size / base grid = 192 / 64)
SD3_TABLE, SD3_SCALE = 24, 3
SD3 = {"in_channels": 16, "patch_size": 2, "depth": 1, "adm_in_channels": 32, "pos_embed_max_size": SD3_TABLE,
       "num_patches": SD3_TABLE ** 2, "pos_embed_scaling_factor": None,
       "context_embedder_config": {"target": "torch.nn.Linear", "params": {"in_features": 64, "out_features": 64}}}
BASE = 128   # px for the small-size tests: L = 128 / 8 / 2 = 8 tokens per axis


@pytest.fixture(scope="module")
def pack():
    return load_pack()


def build(kind, seed=0):
    import comfy.model_patcher
    import comfy.supported_models as sm
    from comfy.ldm.modules.diffusionmodules.mmdit import get_2d_sincos_pos_embed
    unet = dict({"Flux": FLUX, "Chroma": CHROMA, "SD3": SD3}[kind], dtype=torch.float32)
    config = getattr(sm, kind)(unet)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():   # ComfyUI skips weight init
            if "norm" in name and p.dim() == 1:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / max(1, p[0].numel()) ** 0.5)
        if kind == "SD3":
            table = get_2d_sincos_pos_embed(64, SD3_TABLE, scaling_factor=SD3_SCALE)
            model.diffusion_model.pos_embed.copy_(torch.from_numpy(table).float().unsqueeze(0))
    dev = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=dev, offload_device=dev)


def sample(model, width, height, steps=2, seed=0):
    import comfy.sample
    g = torch.Generator().manual_seed(1)
    cond = [[torch.randn(1, 6, 64, generator=g), {"pooled_output": torch.randn(1, 32, generator=g)}]]
    uncond = [[torch.randn(1, 6, 64, generator=g), {"pooled_output": torch.randn(1, 32, generator=g)}]]
    latent = torch.zeros(1, 16, height // 8, width // 8)
    noise = comfy.sample.prepare_noise(latent, seed)
    return comfy.sample.sample(model, noise, steps, 2.0, "euler", "simple", cond, uncond, latent,
                               disable_pbar=True, seed=seed)


def node(pack, model, mode, base=BASE, position_seed=0):
    return pack.nodes.dit_position_mode.DiTPositionMode.execute(model, mode, base, position_seed).result[0]


@pytest.mark.parametrize("kind", ["Flux", "Chroma", "SD3"])
def test_identity_at_base_changed_above_original_untouched(pack, kind):
    model = build(kind)
    one = sample(model, BASE, BASE)
    two = sample(model, 2 * BASE, 2 * BASE)
    tall = sample(model, BASE, 3 * BASE)      # 1024x3072 at 1/8 scale: rows 3x, columns at the base
    for mode in ("interpolate", "ntk", "yarn"):
        patched = node(pack, model, mode)
        assert torch.equal(sample(patched, BASE, BASE), one), (kind, mode)
        assert (sample(patched, 2 * BASE, 2 * BASE) - two).abs().max() > 1e-3, (kind, mode)
        assert (sample(patched, BASE, 3 * BASE) - tall).abs().max() > 1e-3, (kind, mode)
    assert torch.equal(sample(node(pack, model, "first"), 2 * BASE, 2 * BASE), two)   # first: unchanged
    assert not model.object_patches and torch.equal(sample(model, 2 * BASE, 2 * BASE), two)


@pytest.mark.parametrize("kind", ["Flux", "SD3"])
def test_auto_base_is_1024(pack, kind):
    model = build(kind)
    if kind == "Flux":
        patched = node(pack, model, "interpolate", base=0)
        assert patched.object_patches["diffusion_model.pe_embedder"].L == 64
    # 256 px is below the auto base: bit-identical
    assert torch.equal(sample(node(pack, model, "interpolate", base=0), 256, 256), sample(model, 256, 256))


def test_flux_rope_per_axis(pack):
    """At 128 wide x 384 tall the row axis (24 tokens, L = 8) is interpolated onto 0..7, the column
    axis and the text ids keep Flux's own rotations exactly."""
    from comfy.ldm.flux.math import rope
    model = build("Flux")
    emb = node(pack, model, "interpolate").object_patches["diffusion_model.pe_embedder"]
    rows, cols = torch.meshgrid(torch.arange(24.0), torch.arange(8.0), indexing="ij")
    img = torch.stack([torch.zeros(24 * 8), rows.flatten(), cols.flatten()], -1)
    ids = torch.cat([torch.zeros(5, 3), img])[None]
    pe = emb(ids)
    orig = model.model.diffusion_model.pe_embedder(ids)
    assert pe.shape == orig.shape
    # column dims (the last 14/2 pairs) and the index axis: unchanged
    assert torch.equal(pe[..., :2, :, :], orig[..., :2, :, :]) and torch.equal(pe[..., 9:, :, :], orig[..., 9:, :, :])
    want_rows = rope(img[None, :, 1] * 7 / 23, 14, 10000)                  # p * (L-1)/(n-1)
    torch.testing.assert_close(pe[0, 0, 5:, 2:9], want_rows[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(pe[0, 0, :5], orig[0, 0, :5], atol=0, rtol=0)   # text ids (0) as before
    # a Kontext reference (index 1) placed below an image at the base (8x8): n comes from the
    # image, so nothing changes
    r2, c2 = torch.meshgrid(torch.arange(8.0, 16.0), torch.arange(8.0), indexing="ij")
    ref = torch.stack([torch.ones(64), r2.flatten(), c2.flatten()], -1)
    base_ids = torch.cat([torch.zeros(5, 3), img[:64], ref])[None]
    assert torch.equal(emb(base_ids), model.model.diffusion_model.pe_embedder(base_ids))
    # the same reference beside the 24-row image: squeezed by the image's factor, 15 -> 15 * 7/23
    pe2 = emb(torch.cat([ids[0], ref])[None])
    torch.testing.assert_close(pe2[0, 0, -1, 2:9], rope(torch.tensor([[15 * 7 / 23]]), 14, 10000)[0, 0],
                               atol=1e-6, rtol=0)


def test_sd3_table_modes(pack):
    """SD3's cropped_pos_embed under interpolate: rows inside the trained centre rows of the table
    (indices 8 + i * 7/15 at 16 tokens), the column axis at the base read from the stored table;
    ntk past the table's end, where the unpatched model stops."""
    from comfy.ldm.modules.diffusionmodules.mmdit import get_1d_sincos_pos_embed_from_grid
    model = build("SD3")
    dm = model.model.diffusion_model
    patched = node(pack, model, "interpolate")
    f = patched.object_patches["diffusion_model.cropped_pos_embed"]
    got = f((32, 16))[0].reshape(16, 8, 64)                  # latent 32x16: 16 rows x 8 columns
    want_rows = get_1d_sincos_pos_embed_from_grid(32, (8 + torch.arange(16) * 7 / 15).numpy() / SD3_SCALE)
    torch.testing.assert_close(got[:, 0, 32:], torch.from_numpy(want_rows).float(), atol=1e-5, rtol=0)
    assert torch.equal(got[0, :, :32], dm.cropped_pos_embed((16, 16))[0].reshape(8, 8, 64)[0, :, :32])
    with pytest.raises(AssertionError):
        sample(model, BASE, 4 * BASE)                        # 32 rows > the 24-row table
    out = sample(node(pack, model, "ntk"), BASE, 4 * BASE)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("kind", ["Flux", "SD3"])
def test_composes_with_a_lora_weight_patch(pack, kind):
    model = build(kind)
    key = ("diffusion_model.double_blocks.0.img_attn.qkv.weight" if kind == "Flux"
           else "diffusion_model.joint_blocks.0.x_block.attn.qkv.weight")
    lora = model.clone()
    lora.add_patches({key: (torch.randn_like(model.get_model_object(key)) * 0.5,)}, 1.0)
    size = (2 * BASE, 2 * BASE)
    both = sample(node(pack, lora, "yarn"), *size)
    assert (both - sample(node(pack, model, "yarn"), *size)).abs().max() > 1e-3, "the LoRA patch was lost"
    assert (both - sample(lora, *size)).abs().max() > 1e-3, "the position mode was lost under the LoRA"
    assert torch.equal(sample(node(pack, lora, "yarn"), BASE, BASE), sample(lora, BASE, BASE))


def test_unsupported_family_is_a_clear_error(pack):
    from host.comfy_models import build as build_unet
    with pytest.raises(ValueError, match=r"SD15, is not a supported DiT; supported: Flux"):
        node(pack, build_unet("SD15"), "interpolate")
    with pytest.raises(ValueError, match="mode 'random' needs a DiT trained with RPE-2D"):
        node(pack, build("SD3"), "random")
