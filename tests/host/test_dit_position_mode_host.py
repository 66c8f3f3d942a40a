"""Host test (opt-in): the DiT Position Mode node on Flux, Chroma, SD3 and PixArt models built by real ComfyUI
(comfy.supported_models / comfy.model_base at toy width and depth, random weights), sampled by
ComfyUI's sampler.

Run:  COMFYUI_PATH=/path/to/ComfyUI <ComfyUI's python> -m pytest tests/host/test_dit_position_mode_host.py -q
"""
import os

import pytest
import torch

from conftest import load_pack
from host import dit_toys

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="host test: set COMFYUI_PATH")

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
    """Flux and Chroma: tests/host/dit_toys.py's toys (fitted to this ComfyUI's parameters); SD3 here."""
    import comfy.supported_models as sm
    from comfy.ldm.modules.diffusionmodules.mmdit import get_2d_sincos_pos_embed
    if kind != "SD3":
        return dit_toys.build(kind, seed)
    unet = dict(SD3, dtype=torch.float32)
    config = getattr(sm, kind)(unet)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    dit_toys.random_weights(model.diffusion_model, seed)
    with torch.no_grad():
        table = get_2d_sincos_pos_embed(64, SD3_TABLE, scaling_factor=SD3_SCALE)
        model.diffusion_model.pos_embed.copy_(torch.from_numpy(table).float().unsqueeze(0))
    return dit_toys.patcher(model)


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
    # the same reference beside the 24-row image: its rows are the model's own (references are
    # never rescaled), the image's are interpolated
    both = torch.cat([ids[0], ref])[None]
    pe2 = emb(both)
    torch.testing.assert_close(pe2[0, 0, -64:], model.model.diffusion_model.pe_embedder(both)[0, 0, -64:], atol=0, rtol=0)
    torch.testing.assert_close(pe2[0, 0, 5:-64, 2:9], want_rows[0], atol=1e-6, rtol=0)


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
    with pytest.raises(ValueError, match=r"SD15, is not a supported DiT; supported: Flux.*PixArt"):
        node(pack, build_unet("SD15"), "interpolate")
    with pytest.raises(ValueError, match="mode 'random' needs a DiT trained with RPE-2D"):
        node(pack, build("SD3"), "random")


# --- PixArt ----------------------------------------------------------------------------------------
# PixArt-alpha's 512 px geometry (comfy/model_detection.py sets pe_interpolation = input_size // 64 =
# 1 for it): hidden 48 (3 x 16 for the size micro-conditioning), 2 heads, one block.  ComfyUI's
# PixArt spaces positions by round(mean side / 64) latent cells, which is 0 below 256 px, so the toy
# runs at PixArt's own sizes: base 512 px = 32 tokens per axis, 2x = 1024 px.
PIXART = {"image_model": "pixart_alpha", "micro_condition": True, "patch_size": 2, "in_channels": 4,
          "hidden_size": 48, "num_heads": 2, "depth": 1, "caption_channels": 32, "model_max_length": 8,
          "input_size": 64, "pe_interpolation": 1}
PIXART_BASE = 512


def build_pixart(seed=0, zero_patch_embed=False, **unet):
    import comfy.model_patcher
    import comfy.supported_models as sm
    config = sm.PixArtAlpha(dict(PIXART, dtype=torch.float32, **unet))
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            if "norm" in name and p.dim() == 1:
                p.fill_(1.0)
            elif zero_patch_embed and name.startswith("x_embedder."):
                p.zero_()                 # x_embedder(x) = 0: the first block sees the position table
            else:
                p.copy_(torch.randn(p.shape, generator=g) / max(1, p[0].numel()) ** 0.5)
    dev = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=dev, offload_device=dev)


def sample_pixart(model, width, height, steps=2, seed=0):
    import comfy.sample
    g = torch.Generator().manual_seed(1)
    cond = [[torch.randn(1, 6, 32, generator=g), {}]]
    uncond = [[torch.randn(1, 6, 32, generator=g), {}]]
    latent = torch.zeros(1, 4, height // 8, width // 8)
    noise = comfy.sample.prepare_noise(latent, seed)
    return comfy.sample.sample(model, noise, steps, 2.0, "euler", "simple", cond, uncond, latent,
                               disable_pbar=True, seed=seed)


def first_block_input(model, width, height):
    """What PixArt's first block receives for a latent of width x height px (the patch embedding plus
    the position table), through ComfyUI's patching of `model`."""
    import comfy.model_management
    seen = []
    dm = model.model.diffusion_model
    hook = dm.blocks[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    try:
        comfy.model_management.load_models_gpu([model])
        x = torch.randn(1, 4, height // 8, width // 8, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            dm(x, torch.tensor([500.0]), torch.randn(1, 6, 32, generator=torch.Generator().manual_seed(3)))
    finally:
        hook.remove()
    return seen[0][0]


def test_pixart_table_as_comfyui_adds_it(pack):
    """The node's copy of forward_orig's arguments gives, bit for bit, the table PixArt adds (with
    a zero patch embedding the first block sees the table alone), at the base, at 2x, at a tall and
    an odd size, with a fixed and a size-dependent pe_interpolation."""
    mod = pack.nodes.families.pixart
    for unet in ({}, {"pe_interpolation": None}):
        model = build_pixart(zero_patch_embed=True, **unet)
        dm = model.model.diffusion_model
        for w, h in ((512, 512), (1024, 1024), (512, 1536), (640, 384)):
            table = mod.pixart_own_table(dm, h // 8, w // 8, torch.device("cpu"), torch.float32)
            assert torch.equal(first_block_input(model, w, h), table), (unet, w, h)


def test_pixart_identity_at_base_changed_above_original_untouched(pack):
    model = build_pixart()
    one, small = sample_pixart(model, 512, 512), sample_pixart(model, 512, 384)
    two, tall = sample_pixart(model, 1024, 1024), sample_pixart(model, 512, 1536)
    for mode in ("first", "interpolate", "ntk", "yarn"):
        patched = node(pack, model, mode, base=0)                  # auto: 512 x pe_interpolation = 512
        assert set(patched.object_patches) == {"diffusion_model.x_embedder.forward"}
        assert torch.equal(sample_pixart(patched, 512, 512), one), mode
        assert torch.equal(sample_pixart(patched, 512, 384), small), mode
        if mode == "first":      # a fixed pe_interpolation at a square size: PixArt's own positions
            torch.testing.assert_close(first_block_input(patched, 1024, 1024),
                                       first_block_input(model, 1024, 1024), atol=1e-5, rtol=0)
            continue
        assert (sample_pixart(patched, 1024, 1024) - two).abs().max() > 1e-3, mode
        assert (sample_pixart(patched, 512, 1536) - tall).abs().max() > 1e-3, mode
    assert not model.object_patches and torch.equal(sample_pixart(model, 1024, 1024), two)


def test_pixart_modes_per_axis(pack):
    """512 wide x 1536 tall (32 x 96 tokens, L = 32): the rows get the mode at PixArt's trained
    spacing c = 1 (interpolate: i * 31/95), the columns keep PixArt's own channels, which ComfyUI
    spaces by the mean side (base_size 64, pe 1: 64/32 = 2 per column)."""
    from comfy.ldm.modules.diffusionmodules.mmdit import get_1d_sincos_pos_embed_from_grid_torch as one_d
    model = build_pixart(zero_patch_embed=True)
    own = first_block_input(model, 512, 1536).reshape(96, 32, 48)
    for mode in ("interpolate", "ntk", "first"):
        got = first_block_input(node(pack, model, mode, base=0), 512, 1536).reshape(96, 32, 48)
        torch.testing.assert_close(got[..., :24], own[..., :24], atol=1e-6, rtol=0)     # columns
        assert torch.equal(own[0, :, :24], one_d(24, torch.arange(32.0) * 2))
        rows = torch.arange(96, dtype=torch.float64)
        if mode == "interpolate":
            want = one_d(24, rows * 31 / 95, dtype=torch.float64)
        elif mode == "first":
            want = one_d(24, rows, dtype=torch.float64)
        else:   # ntk: base 10000 * 3^(24/22), omega_k = base'^(-k/12)
            base = 10000 * 3 ** (24 / 22)
            ang = rows[:, None] / base ** (torch.arange(12, dtype=torch.float64) / 12)
            want = torch.cat([ang.sin(), ang.cos()], -1)
        torch.testing.assert_close(got[:, 0, 24:], want.float(), atol=1e-5, rtol=0)
    # the size-dependent pe_interpolation (a checkpoint without a stored pos_embed): at 1024 x 1024
    # PixArt itself squeezes the positions (pe 2: i / 2); first extrapolates at the base's spacing
    model = build_pixart(zero_patch_embed=True, pe_interpolation=None)
    own = first_block_input(model, 1024, 1024).reshape(64, 64, 48)
    assert torch.equal(own[0, :, :24], one_d(24, torch.arange(64.0) / 2))
    got = first_block_input(node(pack, model, "first", base=512), 1024, 1024).reshape(64, 64, 48)
    torch.testing.assert_close(got[0, :, :24], one_d(24, torch.arange(64.0)), atol=1e-5, rtol=0)


def test_pixart_chains_and_composes_with_lora(pack):
    model = build_pixart()
    size = (1024, 1024)
    later = node(pack, node(pack, model, "ntk", base=0), "interpolate", base=0)   # the later one wins
    assert torch.equal(sample_pixart(later, *size), sample_pixart(node(pack, model, "interpolate", base=0), *size))
    for key in ("diffusion_model.blocks.0.attn.qkv.weight", "diffusion_model.x_embedder.proj.weight"):
        lora = model.clone()
        lora.add_patches({key: (torch.randn_like(model.get_model_object(key)) * 0.5,)}, 1.0)
        both = sample_pixart(node(pack, lora, "yarn", base=0), *size)
        assert (both - sample_pixart(node(pack, model, "yarn", base=0), *size)).abs().max() > 1e-3, key
        assert (both - sample_pixart(lora, *size)).abs().max() > 1e-3, key
        assert torch.equal(sample_pixart(node(pack, lora, "yarn", base=0), 512, 512), sample_pixart(lora, 512, 512))


def test_pixart_refusals(pack):
    model = build_pixart()
    with pytest.raises(ValueError, match="mode 'linspace' needs a DiT trained with RPE-2D"):
        node(pack, model, "linspace", base=0)
    # ComfyUI's PixArt rounds its base_size to 0 below 33 latent cells: no positions to scale
    with pytest.raises(ValueError, match=r"no usable positions at a base of 16 latent cells.*set base_resolution"):
        node(pack, model, "interpolate", base=128)
