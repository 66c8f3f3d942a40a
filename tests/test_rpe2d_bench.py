"""The RPE-2D benchmark harness (posenc_lab/rpe2d_bench.py) on tiny random DiTs."""
import json

import pytest
import torch

from posenc_lab import rpe2d_bench
from posenc_lab.train_dit import save_checkpoint
from posenc.dit import DiT, DiTConfig


def tiny_dit(sampling, L, seed):
    torch.manual_seed(seed)
    cfg = DiTConfig(in_channels=3, patch_size=4, hidden_size=16, depth=1, num_heads=2,
                    mlp_hidden=32, num_classes=4, learn_sigma=False, grid=(8, 8),
                    max_positions=(L, L), position_sampling=sampling)
    model = DiT(cfg).eval()
    with torch.no_grad():  # DiT zero-inits its output layer: make the output depend on input
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def models():
    return {"vanilla": tiny_dit("fixed", 8, 0), "rpe2d": tiny_dit("rpe2d", 16, 1)}


def test_methods_are_checked():
    assert rpe2d_bench.check_method("rpe2d+random") == ("rpe2d", "random")
    for bad in ("rpe2d", "unet+first", "vanilla+warp", "vanilla+first:denoise=0.5", "+hires"):
        with pytest.raises(ValueError, match="unknown method"):
            rpe2d_bench.check_method(bad)


def test_the_hires_fix_is_parsed_with_its_knobs():
    parse = rpe2d_bench.parse_method
    # default: the model's own default position mode in both passes, nearest-exact, denoise 0.5
    assert tuple(parse("vanilla+hires")) == ("vanilla", "first", True, 0.5, "nearest")
    assert tuple(parse("rpe2d+hires")) == ("rpe2d", "linspace", True, 0.5, "nearest")
    spec = parse("rope+hires:up=bilinear:denoise=0.3:mode=yarn")
    assert tuple(spec) == ("rope", "yarn", True, 0.3, "bilinear")
    assert rpe2d_bench.method_name(spec) == "rope+hires:denoise=0.3:up=bilinear:mode=yarn"
    assert rpe2d_bench.method_name(parse("vanilla+hires:denoise=0.5:mode=first")) == "vanilla+hires"
    for bad, match in (("vanilla+hires:denoise=1", "denoise must be"),
                       ("vanilla+hires:denoise=x", "denoise must be"),
                       ("vanilla+hires:up=bicubic", "up in nearest, bilinear"),
                       ("vanilla+hires:mode=warp", "mode in"),
                       ("vanilla+hires:steps=3", "the hires fix takes"),
                       ("vanilla+hires:up", "key=value"),
                       ("vanilla+hires:up=nearest:up=bilinear", "once each")):
        with pytest.raises(ValueError, match=match):
            parse(bad)
    with pytest.raises(ValueError, match="is the hires fix"):
        rpe2d_bench.check_method("vanilla+hires")


def test_hires_is_the_1x_picture_upscaled_then_denoised_at_the_target(models):
    """At a small denoise the second pass barely moves the upscaled first pass; that first pass is
    the model's 1x picture of the same seed, and the result is far from sampling 2x directly."""
    m, y, seeds = models["vanilla"], torch.tensor([0, 3]), [5, 6]
    one = rpe2d_bench.sample_dit(m, "first", y, 32, 32, seeds, 4)
    upscaled = one.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest 2x by hand
    light = rpe2d_bench.parse_method("vanilla+hires:denoise=0.04")   # the last 4 of 100 steps
    out = rpe2d_bench.sample_hires(m, light, y, 64, 64, seeds, 4)
    direct = rpe2d_bench.sample_dit(m, "first", y, 64, 64, seeds, 4)
    assert out.shape == (2, 3, 64, 64)
    assert (out - upscaled).abs().mean() < 0.25 * (direct - upscaled).abs().mean()
    # denoise 0.5 moves it further from the upscale than denoise 0.04 does
    half = rpe2d_bench.sample_hires(m, rpe2d_bench.parse_method("vanilla+hires"), y, 64, 64, seeds, 4)
    assert (half - upscaled).abs().mean() > 2 * (out - upscaled).abs().mean()
    from posenc_lab.two_pass import NotApplicable
    for h, w in ((32, 32), (32, 64)):   # the smaller side is at the training size: nothing to fix
        with pytest.raises(NotApplicable):
            rpe2d_bench.sample_hires(m, light, y, h, w, seeds, 2)


def test_hires_rows_in_the_table_and_na_where_it_does_not_apply(models):
    res = rpe2d_bench.run_rpe2d_bench(models, sizes=[(32, 32), (64, 64)],
                                      methods=["vanilla+first", "vanilla+hires",
                                               "rpe2d+hires:denoise=0.4"],
                                      seeds=2, steps=2, progress=False)
    rows = {(r["height"], r["method"]): r for r in res["rows"]}
    assert rows[(32, "vanilla+hires")]["not_applicable"]
    assert rows[(32, "rpe2d+hires:denoise=0.4")]["not_applicable"]
    hires = rows[(64, "vanilla+hires")]
    assert "not_applicable" not in hires and hires["kid"] is not None
    table = rpe2d_bench.markdown_table(res)
    lines = [ln for ln in table.splitlines() if ln.startswith("| ") and "method" not in ln]
    assert len(lines) == 6 and all(ln.count("|") == 11 for ln in lines)
    assert "| 1x (32x32) | vanilla+hires | n/a |" in table and "hires (the hires fix)" in table


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="tiny_dit_vanilla"):
        rpe2d_bench.load_tiny_dits(tmp_path)


def test_loads_from_a_folder(tmp_path, models):
    for key, m in models.items():
        save_checkpoint(m, str(tmp_path / rpe2d_bench.MODELS[key]), m.config.to_metadata())
    loaded = rpe2d_bench.load_tiny_dits(tmp_path, ["vanilla"])
    assert list(loaded) == ["vanilla"]
    x = torch.randn(1, 3, 32, 32)
    t = torch.tensor([500.0])
    torch.testing.assert_close(loaded["vanilla"](x, t, torch.tensor([1])),
                               models["vanilla"](x, t, torch.tensor([1])))


def test_noise_is_per_seed_whatever_the_batch(models):
    a = rpe2d_bench.sample_dit(models["vanilla"], "first", [2], 32, 32, [7], steps=2)
    b = rpe2d_bench.sample_dit(models["vanilla"], "first", [0, 2], 32, 32, [3, 7], steps=2)
    torch.testing.assert_close(a[0], b[1])
    with pytest.raises(ValueError, match="patch size"):
        rpe2d_bench.sample_dit(models["vanilla"], "first", [0], 30, 32, [0], steps=1)


def test_vanilla_modes_agree_at_1x_and_differ_at_2x(models):
    res = rpe2d_bench.run_rpe2d_bench(models, sizes=[(32, 32), (64, 64)],
                                      methods=["vanilla+first", "vanilla+interpolate",
                                               "vanilla+ntk", "rpe2d+linspace"],
                                      seeds=2, steps=2, progress=False)
    assert len(res["rows"]) == 8 and res["base"] == 32
    assert res["rows"][0]["time_ratio"] == 1.0
    # The images themselves: at the training grid interpolate = 0..7 and ntk's scale is 1.
    y = torch.tensor([0, 1])
    one = [rpe2d_bench.sample_dit(models["vanilla"], m, y, 32, 32, [0, 1], 2)
           for m in ("first", "interpolate", "ntk")]
    torch.testing.assert_close(one[0], one[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(one[0], one[2], rtol=0, atol=1e-6)
    two = [rpe2d_bench.sample_dit(models["vanilla"], m, y, 64, 64, [0, 1], 2)
           for m in ("first", "interpolate")]
    assert (two[0] - two[1]).abs().max() > 1e-3
    table = rpe2d_bench.markdown_table(res, "python -m posenc_lab bench-rpe2d")
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "method" not in ln]
    assert len(rows) == 8 and all(ln.count("|") == 11 for ln in rows)
    assert all(r["kid"] is not None and -1 < r["kid"] < 10 for r in res["rows"])
    assert all(-1 <= r["patch_similarity"] <= 1 for r in res["rows"])


def test_size_too_large_for_rpe2d_positions_is_refused(models):
    # L = 16 patches: 17 distinct positions do not exist.
    with pytest.raises(ValueError, match="L=16"):
        rpe2d_bench.sample_dit(models["rpe2d"], "linspace", [0], 68, 32, [0], steps=1)


def test_seed_start_moves_the_seed_range(models):
    """--seed-start: the cells use seeds seed_start.. (held-out seeds), and say so in the table."""
    kw = dict(sizes=[(32, 32)], methods=["vanilla+first"], seeds=2, steps=2, progress=False)
    a = rpe2d_bench.run_rpe2d_bench(models, seed_start=0, **kw)
    b = rpe2d_bench.run_rpe2d_bench(models, seed_start=1000, **kw)
    assert b["seed_start"] == 1000 and "seeds 1000..1001" in rpe2d_bench.markdown_table(b)
    threads = torch.get_num_threads()
    assert b["threads"] == threads and (
        "one torch thread" if threads == 1 else f"{threads} torch threads") in rpe2d_bench.markdown_table(b)
    assert "2 torch threads" in rpe2d_bench.markdown_table(dict(b, threads=2))
    assert a["rows"][0]["patch_similarity"] != b["rows"][0]["patch_similarity"]
    # the same images as sampling seeds 1000, 1001 (classes 0, 1) by hand
    imgs = rpe2d_bench.sample_dit(models["vanilla"], "first", torch.tensor([0, 1]), 32, 32,
                                  [1000, 1001], 2)
    from posenc_lab.feature_metrics import patch_similarity
    assert abs(float(patch_similarity(imgs).mean()) - b["rows"][0]["patch_similarity"]) < 1e-6


def test_rope_models_load_by_name_and_the_table_names_each_model(tmp_path):
    torch.manual_seed(3)
    cfg = DiTConfig(in_channels=3, patch_size=4, hidden_size=16, depth=1, num_heads=2,
                    mlp_hidden=32, num_classes=4, learn_sigma=False, grid=(8, 8),
                    max_positions=(8, 8), position_sampling="fixed", position_encoding="rope")
    rope = DiT(cfg).eval()
    save_checkpoint(rope, str(tmp_path / rpe2d_bench.MODELS["rope"]), rope.config.to_metadata())
    assert rpe2d_bench.check_method("rope+yarn") == ("rope", "yarn")
    with pytest.raises(FileNotFoundError, match="tiny_dit_rope_rpe2d"):
        rpe2d_bench.load_tiny_dits(tmp_path, ["rope_rpe2d"])
    loaded = rpe2d_bench.load_tiny_dits(tmp_path, ["rope"])
    assert loaded["rope"].config.position_encoding == "rope"
    res = rpe2d_bench.run_rpe2d_bench(loaded, sizes=[(32, 32)], methods=["rope+first"], seeds=1,
                                      steps=1, progress=False)
    table = rpe2d_bench.markdown_table(res)
    assert "rope: tiny_dit_rope.safetensors, rope, patch 4, positions fixed L=8x8" in table


def test_table_names_the_weights_folder_when_not_the_bundled_models(tmp_path, models):
    """`bench-rpe2d --weights-dir` writes where the weights came from; only the bundled models'
    table points at their card (models/tiny_dits.md)."""
    from posenc_lab.__main__ import main
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for key, m in models.items():
        save_checkpoint(m, str(folder / rpe2d_bench.MODELS[key]), m.config.to_metadata())
    out = tmp_path / "t.md"
    assert main(["bench-rpe2d", "--weights-dir", str(folder), "--seeds", "1", "--steps", "1",
                 "--sizes", "32x32", "--methods", "vanilla+first", "--no-progress",
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith(f"# RPE-2D benchmark (tiny DiTs from {folder})")
    # Leave out the "Command:" line: it quotes this process's argv (pytest's, which may name a
    # test file with "bundled" in it).
    described = "\n".join(line for line in text.splitlines() if not line.startswith("Command:"))
    assert "bundled" not in described and "models/tiny_dits.md" not in described
    raw = json.loads(out.with_suffix(".json").read_text())
    assert raw["weights_dir"] == str(folder)
    bundled = rpe2d_bench.markdown_table(dict(raw, weights_dir=None))
    assert bundled.startswith("# RPE-2D benchmark (bundled tiny DiTs)")
    assert "models/tiny_dits.md" in bundled
