"""The layout benchmark harness on the bundled reference U-Net, at a few seeds and steps."""
import pytest
import torch

from posenc.layout_bench import markdown_table, parse_size, run_layout_bench
from posenc.reference_unet import load_reference_unet
from posenc.resolution_methods import auto_boundaries, sample_with_method


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
    result = run_layout_bench(model, sizes=[(32, 32), (32, 64)], methods=["direct", "pbc3"], seeds=2,
                              steps=3, progress=False)
    assert len(result["rows"]) == 4 and 0.0 <= result["valid_1x"] <= 1.0
    table = markdown_table(result, command="python -m posenc bench --seeds 2")
    assert table.count("| PBC N=3 |") == 2 and "python -m posenc bench --seeds 2" in table


def test_sizes_and_auto_n():
    assert parse_size("32x128") == (32, 128)
    with pytest.raises(ValueError):
        parse_size("32by128")
    assert auto_boundaries(128, 128, 32, 32) == 3
