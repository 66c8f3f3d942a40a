"""The RPE-2D nodes without ComfyUI: registration, tooltips, label checks, the model adapter."""
from types import SimpleNamespace

import pytest
import torch

from conftest import load_pack, registered_nodes
from posenc.position_modes import POSITION_MODE_KEY


@pytest.fixture(scope="module")
def loader_mod():
    return load_pack().nodes.rpe2d_loader


def comfy_dit(mod, **kw):
    from posenc.dit import DiTConfig
    base = dict(in_channels=4, patch_size=2, hidden_size=32, depth=1, num_heads=2, mlp_hidden=64,
                num_classes=10, learn_sigma=True, grid=(4, 4), max_positions=(4, 4))
    base.update(kw)
    return mod.ComfyDiT(DiTConfig(**base)).eval()


def test_registered_with_display_names_and_tooltips(loader_mod, monkeypatch):
    monkeypatch.setattr(loader_mod, "_checkpoint_names", lambda: ["a.safetensors"])
    nodes = registered_nodes()
    assert nodes["RPE2DDiTLoader"] == (loader_mod.RPE2DDiTLoader, "DiT Loader (RPE-2D, high res)")
    assert nodes["DiTClassLabel"] == (loader_mod.DiTClassLabel, "DiT Class Label")
    assert loader_mod.RPE2DDiTLoader.CATEGORY == "loaders"
    for name in ("RPE2DDiTLoader", "DiTClassLabel"):
        for inp, spec in nodes[name][0].INPUT_TYPES()["required"].items():
            assert spec[1].get("tooltip"), (name, inp)
    required = loader_mod.RPE2DDiTLoader.INPUT_TYPES()["required"]
    assert required["dit_name"][1]["options"] == ["a.safetensors"]   # listed when the schema is built
    modes = required["position_mode"][1]["options"]
    assert set(modes) == {"auto", "linspace", "random", "first", "interpolate", "ntk"}


def test_class_label_node(loader_mod):
    model = SimpleNamespace(model=SimpleNamespace(diffusion_model=comfy_dit(loader_mod)))
    pos, neg = loader_mod.DiTClassLabel.execute(model, 7).result
    assert pos[0][1][loader_mod.LABEL_KEY] == 7 and neg[0][1][loader_mod.LABEL_KEY] == 10  # null class
    with pytest.raises(ValueError, match="class label 10 out of range.*10 classes"):
        loader_mod.DiTClassLabel.execute(model, 10)
    with pytest.raises(ValueError, match="not a DiT"):
        loader_mod.DiTClassLabel.execute(SimpleNamespace(model=SimpleNamespace(diffusion_model=torch.nn.Identity())), 1)
    uncond = SimpleNamespace(model=SimpleNamespace(diffusion_model=comfy_dit(
        loader_mod, num_classes=0, class_dropout=False)))
    pos, neg = loader_mod.DiTClassLabel.execute(uncond, 3).result
    assert loader_mod.LABEL_KEY not in pos[0][1]


def test_adapter_returns_noise_channels_and_checks_size(loader_mod):
    dm = comfy_dit(loader_mod)
    for p in dm.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, t, y = torch.randn(1, 4, 16, 12), torch.tensor([100.0]), torch.tensor([3])
    opts = {POSITION_MODE_KEY: {"mode": "interpolate", "seed": 0}}
    out = dm._forward(x, t, y=y, transformer_options=opts)
    full = super(loader_mod.ComfyDiT, dm).forward(x, t, y, mode="interpolate")
    assert out.shape == (1, 4, 16, 12)
    torch.testing.assert_close(out, full[:, :4])  # learned sigma: only the noise channels
    # without the key (a call from outside a sampler): the checkpoint's default, first for vanilla
    out2 = dm._forward(x, t, y=y, transformer_options={})
    torch.testing.assert_close(out2, super(loader_mod.ComfyDiT, dm).forward(x, t, y, mode="first")[:, :4])
    with pytest.raises(ValueError, match=r"image size 104x128 is not a multiple of 16"):
        dm._forward(torch.randn(1, 4, 16, 13), t, y=y, transformer_options={})


def test_position_mode_is_a_model_patch(loader_mod):
    """The mode travels in the MODEL's model_options["transformer_options"], not on the module:
    two clones of one loaded MODEL sample with their own modes at 2x, the original with its own."""
    from standin.model_patcher import BaseModelStandIn, ModelPatcher
    dm = comfy_dit(loader_mod)                    # vanilla, trained grid 4x4 = L
    for p in dm.parameters():
        torch.nn.init.normal_(p, std=0.1)
    model = loader_mod.set_position_mode(ModelPatcher(BaseModelStandIn(dm, "DiT")), "first")
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))   # 8x8 patches: 2x
    sigmas = [14.6, 6.0, 2.0, 0.5, 0.0]
    before = model.sample(x, sigmas)
    a = loader_mod.set_position_mode(model.clone(), "interpolate")
    b = loader_mod.set_position_mode(model.clone(), "ntk")
    assert a.model.diffusion_model is b.model.diffusion_model is dm
    got_a, got_b = a.sample(x, sigmas), b.sample(x, sigmas)
    for u, v in ((got_a, got_b), (got_a, before), (got_b, before)):
        assert (u - v).abs().max() > 1e-3
    assert torch.equal(model.sample(x, sigmas), before)          # the original is unaffected
    assert model.model_options["transformer_options"][POSITION_MODE_KEY] == {"mode": "first", "seed": 0}
    assert not hasattr(dm, "position_mode") and not hasattr(dm, "position_seed")
    t = torch.full((2,), 6.0)
    for m, mode in ((model, "first"), (a, "interpolate"), (b, "ntk")):   # each call: its own mode
        torch.testing.assert_close(m.diffusion_call(x, 6.0),
                                   super(loader_mod.ComfyDiT, dm).forward(x, t, None, mode=mode)[:, :4])
    with pytest.raises(ValueError, match="unknown position mode 'nearest'"):
        loader_mod.set_position_mode(model.clone(), "nearest")


def test_bundled_dits_are_listed_and_resolved(loader_mod, monkeypatch, tmp_path):
    from safetensors.torch import save_file
    dit = comfy_dit(loader_mod)
    save_file({k: v.contiguous() for k, v in dit.state_dict().items()},
              str(tmp_path / "tiny_dit_x.safetensors"))
    save_file({"input_blocks.0.0.weight": torch.zeros(1)}, str(tmp_path / "unet.safetensors"))
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setattr(loader_mod, "BUNDLED_DIR", tmp_path)
    assert loader_mod.bundled_dits() == ["posenc-bundled/tiny_dit_x.safetensors"]
    assert loader_mod._resolve("posenc-bundled/tiny_dit_x.safetensors") == str(
        tmp_path / "tiny_dit_x.safetensors")
    for bad in ("posenc-bundled/missing.safetensors", "posenc-bundled/../tiny_dit_x.safetensors"):
        with pytest.raises(FileNotFoundError, match="bundled DiT"):
            loader_mod._resolve(bad)


# ComfyUI 0.3.64 passes a V3 combo's value to the node unchecked (issue 34's soak found the loaders
# taking '../x', '/abs/x' and a position mode they do not offer): the nodes check their own combos.

def test_loaders_refuse_values_not_in_their_combos(loader_mod, monkeypatch):
    ref = load_pack().nodes.reference_models
    assert "reference_unet.safetensors" in ref.bundled_models()
    monkeypatch.setattr(ref, "load_reference_model", lambda *a: pytest.fail("a value outside the combo was loaded"))
    for bad in ("../reference_unet.safetensors", str(ref.BUNDLED_DIR / "reference_unet.safetensors"),
                "models/../reference_unet.safetensors", "nope.safetensors"):
        with pytest.raises(ValueError, match=r"Reference Model Loader: model_name .* is not one of its choices "
                                             r"\(reference_unet\.safetensors"):
            ref.ReferenceModelLoader.execute(bad)
    with pytest.raises(ValueError, match="class_label 'sunrise' is not one of its choices"):
        ref.ReferenceClassLabel.execute("sunrise")
    name = "posenc-bundled/tiny_dit_vanilla.safetensors"
    monkeypatch.setattr(loader_mod, "_checkpoint_names", lambda: [name])
    monkeypatch.setattr(loader_mod, "model_from_file", lambda *a: pytest.fail("a value outside the combo was loaded"))
    with pytest.raises(ValueError, match=r"RPE-2D DiT Loader: position_mode 'yarn' is not one of its choices \(auto, "):
        loader_mod.RPE2DDiTLoader.execute(name, "yarn", 0)
    for bad in ("posenc-bundled/../reference_unet.safetensors", "/etc/passwd", "../x.safetensors"):
        with pytest.raises(ValueError, match=r"RPE-2D DiT Loader: dit_name .* is not one of its choices"):
            loader_mod.RPE2DDiTLoader.execute(bad, "auto", 0)


def test_a_fifo_or_broken_link_in_a_models_folder(loader_mod, monkeypatch, tmp_path):
    """Listed by ComfyUI (it lists names), resolved by nobody: the loader says what is there, and the
    pack's own models/ folder lists neither (reading a FIFO would block the server)."""
    import os
    import folder_paths
    os.mkfifo(tmp_path / "pipe.safetensors")
    (tmp_path / "gone.safetensors").symlink_to(tmp_path / "nowhere.safetensors")
    monkeypatch.setattr(folder_paths, "get_full_path", lambda folder, name: None)
    monkeypatch.setattr(folder_paths, "get_folder_paths", lambda folder: [str(tmp_path)])
    with pytest.raises(ValueError, match=r"'pipe\.safetensors' in .* is a FIFO \(named pipe\)"):
        loader_mod._resolve("pipe.safetensors")
    with pytest.raises(ValueError, match=r"'gone\.safetensors' in .* is a broken symbolic link"):
        loader_mod._resolve("gone.safetensors")
    ref = load_pack().nodes.reference_models
    for mod in (loader_mod, ref):
        monkeypatch.setattr(mod, "BUNDLED_DIR", tmp_path)
    assert loader_mod.bundled_dits() == [] and ref.bundled_models() == []
