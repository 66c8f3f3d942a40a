"""Host test (opt-in): the RPE-2D DiT Loader inside real ComfyUI, sampling with KSampler.

Run:  COMFYUI_PATH=/path/to/ComfyUI <ComfyUI's python> -m pytest tests/host -q
Skipped unless COMFYUI_PATH points at a ComfyUI checkout.
"""
import os

import pytest

from conftest import load_pack

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="host test: set COMFYUI_PATH to a ComfyUI "
                                "checkout (and run with ComfyUI's Python) to run it")



def _host():
    return load_pack()   # conftest has put ComfyUI on sys.path and parsed its arguments


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if not COMFYUI_PATH:
        pytest.skip("COMFYUI_PATH not set")
    import torch
    pack = _host()
    import folder_paths
    models = tmp_path_factory.mktemp("dit_models")
    folder_paths.add_model_folder_path("diffusion_models", str(models), is_default=True)
    from test_dit_loading import official_state_dict
    from safetensors.torch import save_file
    save_file(official_state_dict(D=64, depth=2, classes=10, grid=4), str(models / "tiny-official-dit.safetensors"))
    torch.save(official_state_dict(D=64, depth=1, classes=10, grid=4, seed=3), str(models / "tiny-official-dit.pt"))
    # one of ours: RPE-2D positions, crop micro-conditioning, pixel space (3 channels)
    from posenc_lab import train_dit
    g = torch.Generator().manual_seed(0)
    train_dit.train(train_dit.TrainConfig(
        out=str(models / "tiny-rpe2d.safetensors"), grid=(4, 4), max_positions=(16, 16),
        hidden_size=32, depth=1, num_heads=2, steps=2, batch_size=2, progress=False),
        (torch.rand(4, 3, 8, 8, generator=g) * 2 - 1, torch.tensor([0, 1, 2, 1])))
    return pack


def _mode(model):
    from posenc.position_modes import POSITION_MODE_KEY
    return model.model_options["transformer_options"][POSITION_MODE_KEY]


def _sample(pack, model, w, h, label=3, steps=3):
    import torch
    import nodes as comfy_nodes  # ComfyUI's nodes.py (the test's host, not the pack)
    pos, neg = pack.nodes.rpe2d_loader.DiTClassLabel.execute(model, label).result
    f = model.model.diffusion_model.latent_downscale
    if f == 8:
        latent = comfy_nodes.EmptyLatentImage().generate(w, h, 1)[0]
    else:  # pixel space: the latent is the image
        latent = {"samples": torch.zeros(1, 3, h, w)}
    return comfy_nodes.KSampler().sample(model, 1, steps, 2.0, "euler", "normal", pos, neg, latent)[0]["samples"]


@pytest.mark.parametrize("name", ["tiny-official-dit.safetensors", "tiny-official-dit.pt"])
def test_loader_lists_and_samples_at_1x_2x_and_non_square(host, name):
    import torch
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    assert name in loader.INPUT_TYPES()["required"]["dit_name"][1]["options"]
    for mode in ("auto", "interpolate", "ntk"):
        model = loader.execute(name, mode, 0)[0]
        dm = model.model.diffusion_model
        assert dm.config.grid == (4, 4) and dm.config.learn_sigma  # 8x8 latent = 64 px at 1x
        for w, h in ((64, 64), (128, 128), (192, 64)):
            out = _sample(host, model, w, h)
            assert out.shape == (1, 4, h // 8, w // 8) and torch.isfinite(out).all(), (mode, w, h)


def test_bad_inputs_fail_clearly(host):
    import comfy.model_management  # noqa
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    model = loader.execute("tiny-official-dit.safetensors", "auto", 0)[0]
    with pytest.raises(ValueError, match="class label 10 out of range"):
        host.nodes.rpe2d_loader.DiTClassLabel.execute(model, 10)
    with pytest.raises(Exception, match="not a multiple of 16"):
        _sample(host, model, 72, 64)
    lin = loader.execute("tiny-official-dit.safetensors", "linspace", 0)[0]
    with pytest.raises(Exception, match="distinct positions"):
        _sample(host, lin, 128, 128)  # a vanilla model knows only L = 4 positions


def test_loader_does_not_leak_between_models(host):
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    a = loader.execute("tiny-official-dit.safetensors", "first", 0)[0]
    b = loader.execute("tiny-official-dit.safetensors", "interpolate", 0)[0]
    assert a.model is not b.model
    assert _mode(a) == {"mode": "first", "seed": 0} and _mode(b) == {"mode": "interpolate", "seed": 0}


def test_position_mode_is_a_model_patch_through_ksampler(host):
    """Clones of one loaded MODEL with other modes (model_options["transformer_options"]) sample
    at 2x exactly like a MODEL loaded with that mode; the original keeps its own."""
    import torch
    loader, rpe2d = host.nodes.rpe2d_loader.RPE2DDiTLoader, host.nodes.rpe2d_loader
    model = loader.execute("tiny-official-dit.safetensors", "first", 0)[0]
    first = _sample(host, model, 128, 128)
    clone = rpe2d.set_position_mode(model.clone(), "interpolate")
    assert clone.model.diffusion_model is model.model.diffusion_model
    got = _sample(host, clone, 128, 128)
    assert (got - first).abs().max() > 1e-3
    loaded = loader.execute("tiny-official-dit.safetensors", "interpolate", 0)[0]
    assert torch.equal(got, _sample(host, loaded, 128, 128))
    assert torch.equal(_sample(host, model, 128, 128), first) and _mode(model)["mode"] == "first"


def test_class_label_reaches_the_model(host):
    import torch
    model = host.nodes.rpe2d_loader.RPE2DDiTLoader.execute("tiny-official-dit.safetensors", "auto", 0)[0]
    a, b, c = (_sample(host, model, 64, 64, label=k) for k in (3, 3, 5))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_our_rpe2d_pixel_checkpoint_samples_at_1x_2x_non_square(host):
    import torch
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    for mode in ("auto", "random"):
        model = loader.execute("tiny-rpe2d.safetensors", mode, 7)[0]
        dm = model.model.diffusion_model
        assert dm.config.position_sampling == "rpe2d" and dm.config.micro_conditioning
        assert dm.latent_downscale == 1 and dm.config.max_positions == (16, 16)
        assert _mode(model) == ({"mode": "linspace", "seed": 7} if mode == "auto" else {"mode": "random", "seed": 7})
        for w, h in ((8, 8), (16, 16), (24, 8)):
            out = _sample(host, model, w, h, label=1)
            assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()


BUNDLED = ("posenc-bundled/tiny_dit_vanilla.safetensors", "posenc-bundled/tiny_dit_rpe2d.safetensors")
BUNDLED_ROPE = ("posenc-bundled/tiny_dit_rope.safetensors", "posenc-bundled/tiny_dit_rope_rpe2d.safetensors")


@pytest.mark.parametrize("name", BUNDLED + BUNDLED_ROPE)
def test_bundled_tiny_dits_through_ksampler_at_1x_2x_non_square(host, name):
    """The bundled tiny DiTs load by name through the node and sample with ComfyUI's own sampler;
    at 1x they draw valid scenes in the class palette (an independent check that the loader's
    schedule, latent format and class conditioning match how they were trained: a wrong
    schedule or a wrong label gives noise or the wrong palette; models/tiny_dits.md: 83-92%
    layout-valid with the pack's own DDIM sampler)."""
    import torch
    import nodes as comfy_nodes
    from posenc_lab.layout_metrics import layout_metrics
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    assert name in loader.INPUT_TYPES()["required"]["dit_name"][1]["options"]
    model = loader.execute(name, "auto", 0)[0]
    dm = model.model.diffusion_model
    assert dm.latent_downscale == 1 and dm.config.grid == (16, 16) and dm.config.patch_size == 2
    assert dm.config.position_encoding == ("rope" if name in BUNDLED_ROPE else "sincos")
    assert _mode(model)["mode"] == ("linspace" if "rpe2d" in name else "first")
    labels = [0, 1, 2, 3, 0, 1, 2, 3]
    images = []
    for i, label in enumerate(labels):
        pos, neg = host.nodes.rpe2d_loader.DiTClassLabel.execute(model, label).result
        latent = {"samples": torch.zeros(1, 3, 32, 32)}
        out = comfy_nodes.KSampler().sample(model, 100 + i, 20, 1.0, "euler", "normal", pos, neg,
                                            latent)[0]["samples"]
        images.append(out)
    x = torch.cat(images)
    # ComfyUI's pixel_space VAE decodes [-1, 1] to [0, 1] as (x + 1) / 2.
    report = layout_metrics(((x + 1) / 2).clamp(0, 1), torch.tensor(labels))
    assert report.valid.sum() >= 6, report.summary()
    assert report.palette_outside.mean() < 0.05, report.summary()
    for w, h in ((64, 64), (64, 32)):
        out = _sample(host, model, w, h, label=1, steps=4)
        assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()


def test_dit_position_mode_node_on_a_loaded_dit(host):
    """One load, the mode from the DiT Position Mode node: at 2x (both axes above the 4x4 grid) it
    samples as the loader's own `interpolate`, at 1x as the loaded model, the original untouched."""
    import torch
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    node = host.nodes.dit_position_mode.DiTPositionMode
    model = loader.execute("tiny-official-dit.safetensors", "auto", 0)[0]
    patched = node.execute(model, "interpolate", 0, 0)[0]
    assert _mode(model) == {"mode": "first", "seed": 0}
    assert torch.equal(_sample(host, patched, 64, 64), _sample(host, model, 64, 64))
    two = _sample(host, patched, 128, 128)
    assert torch.equal(two, _sample(host, loader.execute("tiny-official-dit.safetensors", "interpolate", 0)[0], 128, 128))
    assert (two - _sample(host, model, 128, 128)).abs().max() > 1e-3


# Wrong wiring fails with a message naming what to connect (issue #15 item 5), through
# ComfyUI's own KSampler node.

def _ksample(model, pos, neg, latent, steps=2):
    import nodes as comfy_nodes
    return comfy_nodes.KSampler().sample(model, 0, steps, 1.0, "euler", "normal", pos, neg, latent)[0]


def test_reference_class_label_into_a_dit_is_refused(host):
    import torch
    model = host.nodes.rpe2d_loader.RPE2DDiTLoader.execute(BUNDLED[0], "auto", 0)[0]
    (day,) = host.nodes.reference_models.ReferenceClassLabel.execute("day").result
    latent = {"samples": torch.zeros(1, 3, 32, 32)}
    with pytest.raises(ValueError, match="RPE-2D DiT: got 'Reference Class Label' conditioning.*"
                                         "connect 'DiT Class Label'"):
        _ksample(model, day, day, latent)
    # conditioning with no label at all (a text encoder's, say) would sample the null class
    plain = [[torch.zeros(1, 1, 1), {}]]
    with pytest.raises(ValueError, match="conditioning without a class label.*'DiT Class Label'"):
        _ksample(model, plain, plain, latent)


def test_sd_empty_latent_into_a_pixel_space_dit_is_refused(host):
    """ComfyUI reshapes an all-zero latent to the model's channels before the model sees it: an
    SD Empty Latent Image of 256x256 used to become a silent 32x32 pixel image."""
    import nodes as comfy_nodes
    LatentChannelsError = host.nodes.latent_channels.LatentChannelsError
    model = host.nodes.rpe2d_loader.RPE2DDiTLoader.execute(BUNDLED[0], "auto", 0)[0]
    pos, neg = host.nodes.rpe2d_loader.DiTClassLabel.execute(model, 1).result
    sd_latent = comfy_nodes.EmptyLatentImage().generate(256, 256, 1)[0]
    with pytest.raises(LatentChannelsError, match="takes a 3-channel latent; this one has 4 channels.*"
                                                  "EmptyChromaRadianceLatentImage"):
        _ksample(model, pos, neg, sd_latent)
    # and an official (SD-latent) DiT given a pixel latent
    official = host.nodes.rpe2d_loader.RPE2DDiTLoader.execute("tiny-official-dit.safetensors", "auto", 0)[0]
    pos, neg = host.nodes.rpe2d_loader.DiTClassLabel.execute(official, 1).result
    from comfy_extras.nodes_chroma_radiance import EmptyChromaRadianceLatentImage
    pixel_latent = EmptyChromaRadianceLatentImage.execute(width=64, height=64, batch_size=1).result[0]
    with pytest.raises(LatentChannelsError, match="takes a 4-channel latent; this one has 3.*'Empty Latent Image'"):
        _ksample(official, pos, neg, pixel_latent)


def test_the_boundary_visualizer_refuses_a_dit(host):
    model = host.nodes.rpe2d_loader.RPE2DDiTLoader.execute(BUNDLED[0], "auto", 0)[0]
    with pytest.raises(ValueError, match="Boundary Visualizer: PBC applies to convolutional U-Nets.*"
                                         "a transformer.*It is a DiT from the RPE-2D DiT Loader.*DiT Position "
                                         "Mode.*Connect the U-Net MODEL"):
        host.nodes.boundary_visualizer.BoundaryVisualizer.execute(
            width=64, height=64, base_resolution=0, boundaries=3, jitter=0, jitter_seed=0, model=model)
    with pytest.raises(ValueError, match="PBC applies to convolutional U-Nets"):   # as PBC itself
        host.nodes.pbc_patcher.PBCModelPatcher.execute(model, 3, 0, 0.0, 1.0, 0, 0)


def test_bundled_dits_load_without_a_warning(host, caplog):
    """Every bundled DiT loads with nothing logged at WARNING or above: the float16 sin-cos ones
    store the sin-cos rounded to float16 (2.4e-4 off), which must not read as a trained table,
    and the RoPE ones store no table at all."""
    import logging
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    with caplog.at_level(logging.WARNING):
        for name in BUNDLED + BUNDLED_ROPE:
            loader.execute(name, "auto", 0)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_pixel_dit_gives_comfyui_a_real_memory_estimate(host):
    """ComfyUI's default formula (BaseModel.memory_required, made for SD latents) asks for ~5 GB
    per 128x128 pixel-space image; the DiT's own estimate is its activation peak (at patch 2,
    4096 tokens: about 50 MB with a fused attention kernel, about 1.1 GB if the kernel keeps the
    score matrices)."""
    import comfy.model_base
    from posenc.dit import forward_memory_bytes
    model = host.nodes.rpe2d_loader.RPE2DDiTLoader.execute(BUNDLED[0], "auto", 0)[0].model
    shape = [2, 3, 128, 128]                       # cond + uncond, as sampler_helpers asks
    default = comfy.model_base.BaseModel.memory_required(model, shape)
    got = model.memory_required(shape)
    assert default > 4 * 2 ** 30
    cfg = model.diffusion_model.config
    lean = forward_memory_bytes(cfg, 2, 128, 128, 4, attention_scores=False)
    assert lean <= got <= forward_memory_bytes(cfg, 2, 128, 128, 4, attention_scores=True) < default / 4
    assert lean < 100 * 2 ** 20
