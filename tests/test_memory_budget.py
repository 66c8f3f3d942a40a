"""Memory at the largest inputs (docs/reliability.md): the Boundary Visualizer and the
valued-padding plans work in memory bounded by their output, and a plan above the budget of
posenc/limits.py is refused with the size in the message before anything is allocated.

Peaks are measured in a fresh process each (posenc_lab/memory_peaks.py); the bounds are several
times the measured value and several times below what the same call needed before (figures in
docs/reliability.md), so they hold on any machine without being loose enough to pass a
regression."""
import pytest
import torch

from posenc.boundaries import virtual_boundaries
from posenc.limits import MAX_PLAN_TABLE_BYTES
from posenc.pbc import PBCRuntime, PBCSettings
from posenc.valued_padding import ConvSpec, check_plan_size, make_plan, plan_table_bytes
from posenc_lab import memory_peaks

SPEC3 = ConvSpec(3, 3, 1, 1, 1, 1, 1)


def test_visualizer_over_a_large_image_needs_memory_for_its_output_not_its_input():
    """An 8192x8192 IMAGE (768 MiB as float32) drawn into a 32 MiB picture: the node used to
    make float copies of the whole input (934 MiB added); it now resizes it strip by strip."""
    r = memory_peaks.measure("visualizer-8192-broadcast-image")
    assert r["output_mib"] < 40
    assert r["peak_extra_mib"] < 400, r


def test_plan_memory_does_not_grow_with_the_number_of_boundaries():
    """N = 256 on a 256x256 map, merge "strongest": the crossing indicator of every boundary
    used to be built at once, (N, H, W) float64 per tap (665 MiB added for a 4.5 MiB table)."""
    r = memory_peaks.measure("plan-256-strongest-N256")
    assert r["table_mib"] == 4.5
    assert r["peak_extra_mib"] < 120, r


def test_a_plan_above_the_budget_is_refused_before_any_table_is_built(monkeypatch):
    import posenc.valued_padding as vp

    def must_not_run(*args, **kwargs):
        raise AssertionError("the multiplier table was built")
    monkeypatch.setattr(vp, "tap_multipliers", must_not_run)
    side = 4096                                   # 3x3: 9 * 4096^2 * 8 bytes = 1.1 GiB
    assert plan_table_bytes(SPEC3, side, side) > MAX_PLAN_TABLE_BYTES
    with pytest.raises(ValueError, match=r"4096x4096 feature map needs a 1\.1 GiB .* budget of 1 GiB"):
        make_plan(virtual_boundaries(side, side, 3), SPEC3)


def test_the_budget_is_the_one_documented():
    """1 GiB of table: up to a 3861x3861 map for a 3x3 stride-1 conv (a stride-2 conv on the same
    map has a quarter of the outputs); SD and SDXL at 16384 px have a 2048x2048 level 0."""
    check_plan_size(SPEC3, 3861, 3861)
    check_plan_size(SPEC3, 2048, 2048)
    check_plan_size(ConvSpec(3, 3, 2, 2, 1, 1, 1), 7700, 7700)
    with pytest.raises(ValueError, match="3862x3862"):
        check_plan_size(SPEC3, 3862, 3862)


def test_pbc_refuses_an_oversize_latent_naming_it():
    """Inside sampling: the PBC Model Patcher's message names the latent, says why and what to do."""
    rt = PBCRuntime(PBCSettings(boundaries=3, jitter=0, base_height=64, base_width=64))
    rt.active = rt.activation(4096, 4096, 1.0)
    with pytest.raises(ValueError, match=r"PBC Model Patcher: the 4096x4096 latent .* too large "
                                         r"for PBC: .*GiB.*smaller size, or bypass PBC"):
        rt.plan(SPEC3, 4096, 4096)
    rt.plan(SPEC3, 64, 64)                    # a smaller level of the same step still plans
