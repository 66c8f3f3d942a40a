"""Host test (opt-in): the pack's RoPE tiny DiT inside real ComfyUI — through the RPE-2D DiT Loader
(no warning logged), KSampler at 1x, 2x and non-square, and the DiT Position Mode node; and every
bundled DiT loads and samples with no warning logged.

Run:  COMFYUI_PATH=/path/to/ComfyUI <ComfyUI's python> -m pytest tests/host/test_rope_dit_host.py -q
"""
import logging
import os

import pytest

from conftest import load_pack

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="host test: set COMFYUI_PATH to a ComfyUI "
                                "checkout (and run with ComfyUI's Python) to run it")

TRAINED = "tiny-rope-trained.safetensors"     # written by train-dit (2 steps, RPE-2D positions)
RANDOM = "tiny-rope-random.safetensors"       # random weights (fixed positions), so modes show


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    import torch
    from safetensors.torch import save_file
    pack = load_pack()   # conftest has put ComfyUI on sys.path and parsed its arguments
    # ComfyUI's modules that a running ComfyUI has imported at start-up, imported here, so that
    # their import-time messages (e.g. "torchaudio missing" in this environment) do not land in
    # the first load's log capture.
    import comfy.conds  # noqa: F401
    import comfy.model_base  # noqa: F401
    import comfy.sd  # noqa: F401
    import nodes  # noqa: F401  (ComfyUI's nodes.py)
    import folder_paths
    models = tmp_path_factory.mktemp("rope_dit_models")
    folder_paths.add_model_folder_path("diffusion_models", str(models), is_default=True)
    from posenc_lab import train_dit
    assert train_dit.main(["--scenes", "8", "--out", str(models / TRAINED), "--grid", "4",
                           "--patch-size", "2", "--max-positions", "8", "--position-encoding", "rope",
                           "--hidden-size", "32", "--depth", "1", "--num-heads", "2", "--steps", "2",
                           "--batch-size", "2", "--no-progress"]) == 0
    # random weights (the trained file's output layers are still nearly zero): pixel space, 4x4
    # patches of 2 = 8 px at 1x, L = the grid
    from posenc.dit import DiT, DiTConfig
    cfg = DiTConfig(in_channels=3, patch_size=2, hidden_size=32, depth=2, num_heads=2, mlp_hidden=64,
                    num_classes=4, learn_sigma=False, grid=(4, 4), max_positions=(4, 4),
                    position_encoding="rope")
    model = DiT(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(models / RANDOM),
              metadata={**cfg.to_metadata(), "posenc.latent_format": "pixel"})
    return pack


def _sample(pack, model, w, h, label=1, steps=3, seed=0):
    import torch
    import nodes as comfy_nodes   # ComfyUI's nodes.py
    pos, neg = pack.nodes.rpe2d_loader.DiTClassLabel.execute(model, label).result
    latent = {"samples": torch.zeros(1, 3, h, w)}   # pixel space: the latent is the image
    return comfy_nodes.KSampler().sample(model, seed, steps, 2.0, "euler", "normal", pos, neg,
                                         latent)[0]["samples"]


def _warnings(caplog):
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", [TRAINED, RANDOM])
def test_rope_dit_loads_and_samples_with_no_warning(host, name, caplog):
    import torch
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    assert name in loader.INPUT_TYPES()["required"]["dit_name"][1]["options"]
    with caplog.at_level(logging.WARNING):
        model = loader.execute(name, "auto", 0)[0]
        dm = model.model.diffusion_model
        assert dm.config.position_encoding == "rope" and dm.pos_embed is None
        assert dm.latent_downscale == 1 and dm.config.grid == (4, 4)
        for w, h in ((8, 8), (16, 16), (16, 8)):             # 1x, 2x, non-square
            out = _sample(host, model, w, h)
            assert out.shape == (1, 3, h, w) and torch.isfinite(out).all(), (w, h)
    assert not _warnings(caplog), _warnings(caplog)
    if name == TRAINED:
        assert dm.config.position_sampling == "rpe2d" and dm.config.max_positions == (8, 8)


@pytest.mark.parametrize("mode", ["first", "interpolate", "ntk", "yarn", "linspace", "random"])
def test_dit_position_mode_on_a_rope_dit(host, mode, caplog):
    """1x: bit-identical to the unpatched MODEL for every mode.  2x: interpolate, ntk and yarn
    change the picture (interpolate exactly as the loader's own interpolate); first is the model as
    it is; linspace / random need an RPE-2D checkpoint (L = 4 here) and say so."""
    import torch
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    node = host.nodes.dit_position_mode.DiTPositionMode
    with caplog.at_level(logging.WARNING):
        model = loader.execute(RANDOM, "auto", 0)[0]
        patched = node.execute(model, mode, 0, 0)[0]
        assert torch.equal(_sample(host, patched, 8, 8), _sample(host, model, 8, 8))
        plain = _sample(host, model, 16, 16)
        if mode in ("linspace", "random"):
            with pytest.raises(Exception, match="needs 8 distinct positions"):
                _sample(host, patched, 16, 16)
        else:
            two = _sample(host, patched, 16, 16)
            if mode == "first":
                assert torch.equal(two, plain)
            else:
                assert (two - plain).abs().max() > 1e-3, mode
            if mode == "interpolate":
                own = loader.execute(RANDOM, "interpolate", 0)[0]
                assert torch.equal(two, _sample(host, own, 16, 16))
            # non-square: only the wide axis changes; at 1x on both axes nothing did
            assert _sample(host, patched, 16, 8).shape == (1, 3, 8, 16)
        assert torch.equal(_sample(host, model, 16, 16), plain)      # the original untouched
    assert not _warnings(caplog), _warnings(caplog)


def test_yarn_on_a_rope_dit_gets_the_temperature(host):
    """The node's yarn at 2x samples as the DiT whose rotations carry YaRN's scale 0.1 ln 2 + 1, and
    not as the same frequencies without it."""
    import torch
    from posenc.dit import DiT
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    model = loader.execute(RANDOM, "auto", 0)[0]
    patched = host.nodes.dit_position_mode.DiTPositionMode.execute(model, "yarn", 0, 0)[0]
    got = _sample(host, patched, 16, 16)
    dm = model.model.diffusion_model
    rot = DiT.rope_rotations(dm, (8, 8), mode="yarn")
    det = rot[..., 0, 0] * rot[..., 1, 1] - rot[..., 0, 1] * rot[..., 1, 0]
    m = 0.1 * torch.log(torch.tensor(2.0)) + 1
    torch.testing.assert_close(det, torch.full_like(det, float(m * m)), atol=1e-6, rtol=0)
    dm.rope_rotations = lambda *a, **k: rot / m               # the blend without the temperature
    try:
        no_temp = _sample(host, patched, 16, 16)
    finally:
        del dm.rope_rotations
    assert (got - no_temp).abs().max() > 1e-4
    assert torch.equal(_sample(host, patched, 16, 16), got)


def test_every_bundled_dit_loads_and_samples_with_no_warning(host, caplog):
    """Each models/tiny_dit_*.safetensors through the loader by its listed name, and one short
    KSampler run at its training size: nothing at WARNING or above."""
    import torch
    from posenc.checkpoint_files import BUNDLED_DIR
    loader = host.nodes.rpe2d_loader.RPE2DDiTLoader
    paths = sorted(BUNDLED_DIR.glob("tiny_dit_*.safetensors"))
    assert paths
    for path in paths:
        name = host.nodes.rpe2d_loader.BUNDLED_PREFIX + path.name
        assert name in loader.INPUT_TYPES()["required"]["dit_name"][1]["options"]
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            model = loader.execute(name, "auto", 0)[0]
            dm = model.model.diffusion_model
            size = dm.config.grid[0] * dm.config.patch_size * dm.latent_downscale
            out = _sample(host, model, size, size, steps=2)
            assert torch.isfinite(out).all()
        assert not _warnings(caplog), (name, _warnings(caplog))
