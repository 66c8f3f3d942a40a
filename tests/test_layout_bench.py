"""The layout benchmark harness on the bundled reference U-Net, at a few seeds and steps."""
import pytest
import torch

from posenc_lab.layout_bench import markdown_table, parse_size, run_layout_bench
from posenc.reference_unet import load_reference_unet
from posenc_lab.resolution_methods import auto_boundaries, sample_with_method


@pytest.fixture(scope="module")
def model():
    return load_reference_unet()


def test_methods_are_off_at_1x_and_change_2x(model):
    seeds, labels = [0, 1], torch.tensor([0, 1])
    direct1 = sample_with_method(model, "direct", labels, 32, 32, seeds, steps=4)
    for m in ("pbc3", "pbc31", "redilate"):
        assert torch.equal(sample_with_method(model, m, labels, 32, 32, seeds, steps=4), direct1), m
    direct2 = sample_with_method(model, "direct", labels, 64, 64, seeds, steps=4)
    for m in ("pbc3", "redilate"):
        out = sample_with_method(model, m, labels, 64, 64, seeds, steps=4)
        assert (out - direct2).abs().max() > 1e-3, m


def test_bench_table_is_well_formed(model):
    result = run_layout_bench(model, sizes=[(32, 64), (32, 32)],
                              methods=["pbc3", "direct", "pbc-auto:merge=strongest", "entropy"],
                              seeds=2, steps=3, progress=False)
    rows = result["rows"]
    assert len(rows) == 8 and 0.0 <= result["valid_1x"] <= 1.0
    # 1x first (the KID reference), direct first in every size.
    assert [(r["height"], r["width"], r["method"]) for r in rows[:2]] == [(32, 32, "direct"),
                                                                         (32, 32, "pbc3")]
    assert all(r["kid"] is None for r in rows[:4])            # 1x: the reference itself
    assert all(isinstance(r["kid"], float) for r in rows[4:])
    assert result["kid_floor"] is not None and result["wall_seconds"] > 0
    assert all(-1.0 <= r["patch_similarity"] <= 1.0 for r in rows)
    auto = rows[6]
    assert auto["method"] == "pbc-auto:merge=strongest" and auto["resolved"] == "pbc1:merge=strongest"
    table = markdown_table(result, command="python -m posenc_lab bench --seeds 2")
    assert table.count("| PBC N=3 |") == 2 and "python -m posenc_lab bench --seeds 2" in table
    assert "| PBC N=auto (merge strongest) (= N=1) |" in table
    assert "KID x1000" in table and "patch similarity" in table and "| ref |" in table
    widths = {line.count("|") for line in table.splitlines() if line.startswith("|")}
    assert widths == {13}


def test_sizes_and_auto_n():
    assert parse_size("32x128") == (32, 128)
    with pytest.raises(ValueError):
        parse_size("32by128")
    assert auto_boundaries(128, 128, 32, 32) == 3


def test_peers_in_the_bench_table():
    """Hires fix, progressive and Deep Shrink run in the harness: n/a where a method has no
    meaning (progressive at 2x), equal to direct at 1x, a seam column with a number."""
    from posenc.reference_unet import load_reference_unet
    from posenc_lab.layout_bench import markdown_table, run_layout_bench

    model = load_reference_unet()
    result = run_layout_bench(model, sizes=[(64, 64)], seeds=2, steps=2, progress=False,
                              methods=["direct", "hires:pbc=31", "progressive", "deepshrink"],
                              seed_start=1000, model_name="test model")
    rows = {(r["height"], r["method"]): r for r in result["rows"]}
    assert rows[(64, "progressive")]["not_applicable"].startswith("progressive: 64x64")
    assert rows[(32, "hires:pbc=31")]["kid"] is None          # 1x: equals direct (the reference)
    assert isinstance(rows[(64, "hires:pbc=31")]["seam"], float)
    table = markdown_table(result)
    assert "seeds 1000..1001" in table and "test model" in table
    assert "| 2x (64x64) | progressive (nearest-exact, denoise 0.5) | n/a |" in table
    assert "| hires fix + PBC N=31 (nearest-exact, denoise 0.5) |" in table
