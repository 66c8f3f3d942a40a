"""The position probe (posenc_lab/position_probe.py, python -m posenc_lab probe): the hook, the padding
configurations, the probe's convergence, and the command line."""
import json

import pytest
import torch

from posenc_lab import position_probe as pp
from posenc_lab.__main__ import main
from posenc.reference_unet import ReferenceUNet, load_reference_unet

TINY = {"model_channels": 8, "channel_mult": [1, 2], "num_groups": 4, "num_heads": 2,
        "base_resolution": 16}


def tiny_model(seed=0):
    """A tiny reference U-Net with every conv randomly initialised (the real init zeroes some)."""
    torch.manual_seed(seed)
    model = ReferenceUNet(TINY).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.reset_parameters()
    return model


def constant_features(model, config, size):
    """Last features for a constant (all-zero) input: any variation over the map is position."""
    x = torch.zeros(2, 3, size, size)
    return pp.extract_features(model, config, x, torch.full((2,), 500), torch.zeros(2).long())


@pytest.mark.parametrize("seed", [0, 1])
def test_circular_padding_carries_no_position_zero_padding_does(seed):
    model = tiny_model(seed)
    target = pp.position_target(16, 16)
    variance = pp.target_variance(target)
    losses = {}
    for config in ("zero", "circular"):
        features = constant_features(model, config, 16)
        probe, steps = pp.train_probe(features, target, steps=300, batch_size=2, seed=seed)
        with torch.no_grad():
            losses[config] = pp.region_mse(probe(features), target)
    # Circular padding: a constant input gives a constant feature map, nothing to read.
    assert losses["circular"] == pytest.approx(variance, rel=1e-3)
    # Zero padding: the border is visible, the probe explains a clear share of the variance.
    assert losses["zero"] < 0.9 * variance


def test_trained_probe_reaches_the_least_squares_floor():
    model = tiny_model(0)
    x, t, y = pp.probe_inputs(6, 16, 16, seed=3, timestep=500, content="noise")
    features = pp.extract_features(model, "zero", x, t, y)
    target = pp.position_target(16, 16)
    probe, losses = pp.train_probe(features, target, steps=400, batch_size=6)
    floor = pp.least_squares_mse(features, target)
    with torch.no_grad():
        trained = pp.region_mse(probe(features), target)
    assert floor <= trained <= 1.01 * floor
    assert abs(pp.plateau(losses)["relative_change"]) < 0.01
    assert losses[-1] < losses[0]


def test_hook_captures_the_input_of_the_output_head():
    model = load_reference_unet()
    x = torch.randn(2, 3, 32, 48)
    t = torch.tensor([500, 500])
    y = torch.tensor([0, 3])
    with torch.no_grad(), pp.captured_features(model) as store:
        out = model(x, t, y)
        features = store["features"]
        head = model.out(features)
    assert features.shape == (2, model.model_channels, 32, 48)
    torch.testing.assert_close(head, out)
    # The hook is removed on exit.
    assert not pp.feature_module(model)._forward_hooks


def test_circular_padding_is_restored_and_changes_the_output():
    model = tiny_model(0)
    x = torch.randn(1, 3, 16, 16)
    t, y = torch.tensor([500]), torch.tensor([1])
    with torch.no_grad():
        before = model(x, t, y)
        with pp.circular_padding(model) as changed:
            inside = model(x, t, y)
            assert changed and all(c.padding_mode == "circular" for c in changed)
        after = model(x, t, y)
    assert all(m.padding_mode == "zeros" for m in model.modules()
               if isinstance(m, torch.nn.Conv2d))
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert (inside - before).abs().max() > 1e-3


def test_methods_act_only_above_the_base_size():
    model = tiny_model(0)
    at_base = constant_features(model, "zero", 16)
    for config in ("redilate", "pbc3"):
        torch.testing.assert_close(constant_features(model, config, 16), at_base, rtol=0, atol=0)
    above = constant_features(model, "zero", 32)
    for config in ("redilate", "pbc3", "circular"):
        assert (constant_features(model, config, 32) - above).abs().max() > 1e-3, config


def test_target_and_central_region():
    target = pp.position_target(8, 12)
    assert target.shape == (2, 8, 12)
    assert (target[0].diff(dim=0) > 0).all() and (target[0].diff(dim=1) == 0).all()
    assert (target[1].diff(dim=1) > 0).all() and (target[1].diff(dim=0) == 0).all()
    torch.testing.assert_close(target[0] + target[0].flip(0), torch.ones(8, 12))
    rows, cols = pp.central_region(64, 64, 32, 32)
    assert (rows, cols) == (slice(16, 48), slice(16, 48))
    whole = pp.position_target(64, 64)
    center = whole[:, rows, cols]
    # The centre's target is its position within the whole 2x map: (0.25, 0.75), mean 0.5.
    assert center.min() > 0.25 and center.max() < 0.75
    torch.testing.assert_close(center.mean(dim=(1, 2)), torch.tensor([0.5, 0.5]))
    assert pp.target_variance(whole, (rows, cols)) < 0.3 * pp.target_variance(whole)
    with pytest.raises(ValueError, match="larger than the map"):
        pp.central_region(16, 16, 32, 32)


def test_edge_bands_cover_the_map():
    target = pp.position_target(16, 16)
    pred = torch.full((1, 2, 16, 16), 0.5)
    bands = pp.band_profile(pred, target, bands=((0, 4), (4, 8), (8, 99)))
    assert [b["band"] for b in bands] == [[0, 4], [4, 8]]   # no pixel is 8 px from a 16-px edge
    dist = pp.edge_distance(16, 16)
    counts = [int(((dist >= lo) & (dist < hi)).sum()) for lo, hi in ((0, 4), (4, 8))]
    whole = sum(b["mse"] * n for b, n in zip(bands, counts)) / 256
    assert whole == pytest.approx(pp.region_mse(pred, target), rel=1e-5)


def test_run_on_a_tiny_model_gives_every_cell():
    model = tiny_model(0)
    result = pp.run_position_probe(model, ["zero", "circular", "pbc3"], (1, 2), n_train=2,
                                   n_test=1, steps=5, content="noise", progress=False)
    rows = {(r["config"], r["scale"]): r for r in result["rows"]}
    assert len(rows) == 6
    assert rows[("pbc3", 1)]["mse"] == rows[("zero", 1)]["mse"]       # PBC is off at 1x
    assert rows[("pbc3", 2)]["mse"] != rows[("zero", 2)]["mse"]
    assert rows[("zero", 1)]["center_mse"] is None and rows[("zero", 2)]["center_mse"] > 0
    table = pp.format_table(result)
    assert table.count("\n") == 2 + 1 + 3 - 1 and "central 16x16" in table
    with pytest.raises(ValueError, match="warp"):
        pp.run_position_probe(model, ["warp"], progress=False)
    with pytest.raises(ValueError, match="timestep"):
        pp.run_position_probe(model, ["zero"], timestep=1000, progress=False)


@pytest.mark.parametrize("args, message", [
    (["--configs", "zero,warp"], "warp"),
    (["--configs", "pbc0"], "pbc0"),
    (["--scales", "1,x"], "--scales"),
    (["--scales", "0,2"], "--scales"),
    (["--timestep", "1000"], "--timestep"),
    (["--steps", "0"], "--steps"),
    (["--weights", "/nonexistent/w.safetensors"], "not found"),
])
def test_cli_rejects_bad_arguments(args, message, capsys, tmp_path):
    out = tmp_path / "p.md"
    assert main(["probe", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_rejects_an_unknown_content(capsys):
    with pytest.raises(SystemExit) as e:
        main(["probe", "--content", "clouds"])
    assert e.value.code == 2 and "clouds" in capsys.readouterr().err


def test_cli_writes_the_report(tmp_path, capsys):
    out = tmp_path / "probe.md"
    rc = main(["probe", "--configs", "zero,circular", "--train-images", "2", "--test-images", "1",
               "--steps", "3", "--no-progress", "--out", str(out)])
    assert rc == 0
    text = out.read_text()
    assert "| circular padding |" in text and "central 32x32" in text
    data = json.loads(out.with_suffix(".json").read_text())
    assert [(r["config"], r["scale"]) for r in data["rows"]] == [
        ("zero", 1), ("circular", 1), ("zero", 2), ("circular", 2)]
    assert "wrote" in capsys.readouterr().out
