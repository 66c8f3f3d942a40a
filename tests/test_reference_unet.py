"""The reference U-Net: SD-like structure, any size divisible by 4, checkpoints, sampler."""
import pytest
import torch

from posenc import schedule
from posenc.reference_unet import (AttentionBlock, ReferenceUNet, load_reference_unet,
                                   save_reference_unet)
from posenc_lab.unet_sampling import ddim_sample, initial_noise


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = ReferenceUNet().eval()
    # Give the zero-initialised output layers some weight so outputs depend on the input.
    with torch.no_grad():
        for p in m.parameters():
            if p.abs().sum() == 0 and p.dim() > 1:
                p.normal_(0, 0.02)
    return m


def test_carries_its_base_size_and_config(model):
    assert model.base_resolution == 32 and model.latent_downscale == 1
    assert model.config["base_resolution"] == 32
    n = sum(p.numel() for p in model.parameters())
    assert 500_000 <= n <= 1_000_000


@pytest.mark.parametrize("h,w", [(32, 32), (64, 64), (36, 36), (20, 44), (32, 128)])
def test_shapes(model, h, w):
    x = torch.randn(2, 3, h, w)
    with torch.no_grad():
        out = model(x, torch.tensor([10.0, 900.0]), torch.tensor([0, 3]))
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("h,w", [(30, 32), (32, 34), (2, 32)])
def test_clear_error_for_sizes_not_divisible(model, h, w):
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.randn(1, 3, h, w), torch.tensor([1.0]))


def test_clear_error_for_unknown_label(model):
    with pytest.raises(ValueError, match="class label out of range"):
        model(torch.randn(1, 3, 32, 32), torch.tensor([1.0]), torch.tensor([7]))


def test_label_and_null_label_change_the_output(model):
    x, t = torch.randn(1, 3, 32, 32), torch.tensor([500.0])
    with torch.no_grad():
        a, b, u = model(x, t, torch.tensor([0])), model(x, t, torch.tensor([2])), model(x, t)
    assert not torch.allclose(a, b) and not torch.allclose(a, u)


def test_sd_parts(model):
    """Every spatial conv is a zero-padded plain Conv2d; attention runs only at the lowest level."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 1]
    assert len(convs) >= 10
    assert all(c.padding == (1, 1) and c.padding_mode == "zeros" for c in convs)
    sizes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: sizes.append(tuple(out.shape[-2:])))
             for m in model.modules() if isinstance(m, AttentionBlock)]
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32), torch.tensor([3.0]), torch.tensor([1]))
    for h in hooks:
        h.remove()
    assert sizes and set(sizes) == {(8, 8)}


def test_checkpoint_round_trip_and_errors(model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_reference_unet(model, path, ["a", "b", "c", "d"], schedule.SCHEDULE_INFO, {"steps": 3})
    loaded = load_reference_unet(path)
    assert loaded.checkpoint_metadata["steps"] == 3
    assert loaded.checkpoint_metadata["schedule"]["beta_end"] == schedule.BETA_END
    x, t, y = torch.randn(2, 3, 32, 32), torch.tensor([5.0, 50.0]), torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.equal(loaded(x, t, y), model(x, t, y))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_reference_unet(tmp_path / "missing.safetensors")
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_reference_unet(bad)
    from safetensors.torch import save_file
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="not a posenc reference U-Net"):
        load_reference_unet(other)


def test_ddim_recovers_a_point_mass():
    """With the exact eps of a one-image data set, DDIM must return that image from any noise."""
    target = torch.rand(3, 12, 16) * 2 - 1
    ab = schedule.alphas_cumprod().float()

    def oracle(x, t, y):
        a = ab[t.long()].view(-1, 1, 1, 1)
        return (x - a.sqrt() * target) / (1 - a).sqrt()

    for steps in (1, 7, 50):
        out = ddim_sample(oracle, 0, 12, 16, seeds=[1, 2], steps=steps, num_classes=4)
        assert torch.allclose(out, ((target + 1) / 2).expand(2, -1, -1, -1), atol=1e-4)


def test_sampling_is_seeded_per_image(model):
    a = ddim_sample(model, [0, 1, 2], 32, 32, seeds=[5, 6, 7], steps=3)
    b = ddim_sample(model, [2, 1], 32, 32, seeds=[7, 6], steps=3, batch_size=1)
    assert torch.allclose(a[2], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)
    assert not torch.allclose(a[0], a[1])
    assert torch.equal(initial_noise([3], 3, 4, 4), initial_noise([3], 3, 4, 4))


def test_guidance_uses_the_null_label(model):
    calls = []

    def spy(x, t, y):
        calls.append(y.tolist())
        return model(x, t, y)

    ddim_sample(spy, 1, 32, 32, seeds=[0], steps=2, guidance=3.0, num_classes=4)
    assert calls == [[1, 4], [1, 4]]


VARIANT = {"model_channels": 8, "channel_mult": [1, 2, 3], "num_res_blocks": 2,
           "attention": "middle", "downsample": "avgpool"}


@pytest.mark.parametrize("attention,n_attn", [("middle", 1), ("none", 0)])
def test_architecture_options_build_and_round_trip(attention, n_attn, tmp_path):
    """attention="middle"/"none" and downsample="avgpool" (config keys absent = the defaults)."""
    from posenc.reference_unet import AvgPoolDownsample, Downsample

    torch.manual_seed(1)
    m = ReferenceUNet(dict(VARIANT, attention=attention)).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.abs().sum() == 0 and p.dim() > 1:
                p.normal_(0, 0.02)
    attn = [b for b in m.modules() if isinstance(b, AttentionBlock)]
    assert len(attn) == n_attn and all(b in list(m.middle_block) for b in attn)
    assert not any(isinstance(b, Downsample) for b in m.modules())
    assert sum(isinstance(b, AvgPoolDownsample) for b in m.modules()) == 2
    assert m.downsample_factor == 4
    x, t, y = torch.randn(2, 3, 32, 64), torch.tensor([5.0, 500.0]), torch.tensor([1, 4])
    with torch.no_grad():
        out = m(x, t, y)
    assert out.shape == x.shape and torch.isfinite(out).all()
    path = tmp_path / "variant.safetensors"
    save_reference_unet(m, path, ["a", "b", "c", "d"], schedule.SCHEDULE_INFO)
    loaded = load_reference_unet(path)
    assert loaded.checkpoint_metadata["config"] == m.config
    assert loaded.config["attention"] == attention and loaded.config["downsample"] == "avgpool"
    with torch.no_grad():
        assert torch.equal(loaded(x, t, y), out)


def test_default_architecture_is_unchanged_by_the_options():
    """The options' defaults build exactly the default network (same parameter names/shapes)."""
    a = ReferenceUNet()
    b = ReferenceUNet({"attention": "lowest", "downsample": "conv"})
    assert "attention" not in a.config and "downsample" not in a.config
    assert {k: v.shape for k, v in a.state_dict().items()} == \
        {k: v.shape for k, v in b.state_dict().items()}
    with pytest.raises(ValueError, match="attention"):
        ReferenceUNet({"attention": "everywhere"})
    with pytest.raises(ValueError, match="downsample"):
        ReferenceUNet({"downsample": "maxpool"})


@pytest.mark.parametrize("key, value, shown", [
    ("config", "{not json", "'config' is '{not json', not a JSON dict"),     # was a bare ValueError
    ("config", None, "'config' is 'missing'"),                               # was a KeyError
    ("classes", "day,dusk", "'classes' is 'day,dusk', not a JSON list"),
    ("config", {"num_heads": 0}, "config num_heads = 0"),                    # was ZeroDivisionError
    ("config", {"channel_mult": "x"}, "config channel_mult = 'x'"),
    ("config", {"num_groups": 3}, "cannot build a model"),                   # 16 channels, 3 groups
])
def test_corrupt_metadata_names_the_file(model, tmp_path, key, value, shown):
    import json
    from safetensors.torch import save_file
    from posenc.checkpoint_files import read_safetensors
    path = tmp_path / "m.safetensors"
    save_reference_unet(model, path, ["a", "b", "c", "d"], schedule.SCHEDULE_INFO, {})
    sd, meta = read_safetensors(path)
    if value is None:
        del meta[key]
    elif isinstance(value, dict):
        meta[key] = json.dumps({**json.loads(meta[key]), **value})
    else:
        meta[key] = value
    save_file(sd, str(path), metadata=meta)
    with pytest.raises(ValueError) as e:
        load_reference_unet(path)
    assert str(path) in str(e.value) and "corrupt reference U-Net metadata" in str(e.value)
    assert shown in str(e.value)
