"""PBC's open choices as knobs (merge rule, minimum map size, window), the unidirectional
centre baseline and attention-entropy scaling: each against a hand-checked case or the slow
reference, off at 1x, and the method syntax of the benchmark."""
import math
import random

import pytest
import torch
import torch.nn.functional as F

from posenc import schedule
from posenc.attention_scaling import (EntropyScalingRuntime, EntropyScalingSettings,
                                      entropy_factor)
from posenc.sampling_window import patched_module
from posenc.boundaries import Boundaries, virtual_boundaries
from posenc.pbc import PBCRuntime, PBCSettings, central_boundary
from posenc.reference_unet import AttentionBlock, load_reference_unet
from posenc_lab.resolution_methods import (check_method, method_label, parse_method, resolve,
                                       sample_with_method, window_sigmas)
from posenc_lab.unet_sampling import timesteps_for
from posenc.valued_padding import ConvSpec, make_plan, tap_multipliers, valued_padding_conv2d
from reference_pbc import reference_conv, reference_factors

SPEC3 = ConvSpec(3, 3, 1, 1, 1, 1, 1)


@pytest.fixture(scope="module")
def model():
    return load_reference_unet()


# --- merge rule -----------------------------------------------------------------------------------

def test_merge_rule_where_two_boundaries_share_a_row():
    """Two boundaries on the same rectangle [2, 8) x [2, 8) of a 10x10 map, lambdas 1/4 and 1/2:
    a tap leaving it reads 1/8 of the feature under "product" and 1/4 under "strongest"."""
    b = Boundaries(10, 10, (0.25, 0.5), (2, 2), (2, 2), (2, 2), (2, 2))
    up = 1 * 3 + 1 - 3          # tap index of offset (-1, 0): row 0, column 1 of the kernel
    prod = tap_multipliers(b, SPEC3, "product")
    strong = tap_multipliers(b, SPEC3, "strongest")
    assert prod[up, 2, 5] == pytest.approx(0.125) and strong[up, 2, 5] == pytest.approx(0.25)
    assert prod[up, 3, 5] == 1 and strong[up, 3, 5] == 1       # stays inside
    # Disjoint rows: one boundary per crossing, so both rules agree.
    single = Boundaries(10, 10, (0.25, 0.5), (2, 3), (2, 3), (2, 3), (2, 3))
    torch.testing.assert_close(tap_multipliers(single, SPEC3, "product"),
                               tap_multipliers(single, SPEC3, "strongest"))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("method", ["per_tap", "strips"])
def test_strongest_merge_conv_matches_reference(seed, method):
    rng = random.Random(seed)
    h, w = rng.randint(6, 20), rng.randint(6, 20)
    b = virtual_boundaries(h, w, rng.choice([3, 5, 31]), jitter=rng.choice([1, 2]), seed=seed,
                           key=rng.randint(0, 2**32 - 1))
    spec = ConvSpec(3, 3, *rng.choice([(1, 1), (2, 2)]), *rng.choice([(1, 1), (2, 2)]), 1)
    torch.testing.assert_close(tap_multipliers(b, spec, "strongest"),
                               reference_factors(b, 3, 3, spec.sh, spec.sw, spec.dh, spec.dw,
                                                 "strongest"))
    torch.manual_seed(seed)
    x, wt, bias = torch.randn(1, 4, h, w), torch.randn(3, 4, 3, 3), torch.randn(3)
    out = valued_padding_conv2d(x, wt, bias, make_plan(b, spec, method, "strongest"))
    ref = reference_conv(x, wt, bias, b, (spec.sh, spec.sw), (spec.dh, spec.dw), merge="strongest")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=2e-5)


def test_product_path_with_a_zero_lambda_matches_reference():
    b = Boundaries(12, 9, (0.0, 0.5), (3, 2), (4, 2), (2, 1), (3, 1))
    torch.testing.assert_close(tap_multipliers(b, SPEC3), reference_factors(b, 3, 3, 1, 1, 1, 1))


# --- unidirectional centre ----------------------------------------------------------------------

def test_central_boundary_geometry():
    assert central_boundary(64, 64, 64, 64, 32, 32).rect(0) == (16, 48, 16, 48)
    assert central_boundary(16, 16, 64, 64, 32, 32).rect(0) == (4, 12, 4, 12)
    assert central_boundary(32, 32, 128, 128, 32, 32).rect(0) == (12, 20, 12, 20)
    # Non-square 32x128 at base 32: rows at the base size get none, columns the central 32.
    assert central_boundary(32, 128, 32, 128, 32, 32, rows=False).rect(0) == (0, 32, 48, 80)


@pytest.mark.parametrize("method", ["per_tap", "strips"])
def test_unidirectional_centre_is_zero_padding_of_the_crop(method):
    """Inside the central region the conv is exactly a zero-padded conv of the crop (the centre
    sees the boundary it saw in training); outside it, the plain conv (taps inward untouched)."""
    torch.manual_seed(0)
    x, wt, bias = torch.randn(1, 4, 24, 24), torch.randn(5, 4, 3, 3), torch.randn(5)
    b = central_boundary(24, 24, 48, 48, 24, 24)                # 2x: region [6, 18)
    assert b.rect(0) == (6, 18, 6, 18)
    out = valued_padding_conv2d(x, wt, bias, make_plan(b, SPEC3, method))
    crop = F.conv2d(x[:, :, 6:18, 6:18], wt, bias, padding=1)
    plain = F.conv2d(x, wt, bias, padding=1)
    torch.testing.assert_close(out[:, :, 6:18, 6:18], crop, rtol=1e-5, atol=1e-5)
    outside = torch.ones(24, 24, dtype=torch.bool)
    outside[6:18, 6:18] = False
    torch.testing.assert_close(out[..., outside], plain[..., outside], rtol=1e-5, atol=1e-5)


def test_min_size_keeps_small_maps_plain():
    rt = PBCRuntime(PBCSettings(boundaries=3, jitter=0, base_height=32, base_width=32, min_size=32))
    with rt.step(64, 64, 1.0):
        assert rt.plan(SPEC3, 64, 64).method != "identity"
        assert rt.plan(SPEC3, 32, 32).method != "identity"
        assert rt.plan(SPEC3, 16, 16).method == "identity"
        # Per axis: a 16x64 map keeps its vertical boundaries only.
        b = rt.plan(SPEC3, 16, 64, "per_tap").boundaries
        assert not any(b.top) and not any(b.bottom) and all(b.left) and all(b.right)
    default = PBCRuntime(PBCSettings(boundaries=3, jitter=0, base_height=32, base_width=32))
    with default.step(64, 64, 1.0):
        assert default.plan(SPEC3, 16, 16).method != "identity"


# --- attention-entropy scaling --------------------------------------------------------------------

def test_entropy_factor_values():
    assert entropy_factor(64, 64) == 1.0
    assert entropy_factor(1024, 64) == pytest.approx(math.sqrt(10 / 6))
    with pytest.raises(ValueError):
        entropy_factor(1, 64)


def test_entropy_scaling_multiplies_the_logits_by_hand():
    """A 16x16-token block at 2x of an 8x8-token training size: softmax(q.k * f / sqrt(d)) with
    f = sqrt(log 256 / log 64), written out with einsum and softmax."""
    torch.manual_seed(0)
    block = AttentionBlock(8, 2, 4).eval()
    torch.nn.init.normal_(block.proj.weight)
    x = torch.randn(1, 8, 16, 16)

    def by_hand(factor):
        qkv = block.qkv(block.norm(x)).reshape(1, 3, 2, 4, 256)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]                 # (1, heads, d, n)
        att = torch.softmax(torch.einsum("bhdn,bhdm->bhnm", q, k) * factor / 2.0, dim=-1)
        out = torch.einsum("bhnm,bhdm->bhdn", att, v).reshape(1, 8, 16, 16)
        return x + block.proj(out)

    rt = EntropyScalingRuntime(EntropyScalingSettings(8, 8))
    holder = torch.nn.Sequential(block)
    with torch.no_grad(), patched_module(holder, rt):
        with rt.step(16, 16, 1.0):
            scaled = block(x)
        plain = block(x)
    f = math.sqrt(math.log(256) / math.log(64))
    torch.testing.assert_close(scaled, by_hand(f), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain, by_hand(1.0), rtol=1e-4, atol=1e-5)
    assert (scaled - plain).abs().max() > 1e-3
    assert block.scale is None and "forward" not in block.__dict__


# --- methods in the sampler ----------------------------------------------------------------------

def test_new_methods_are_off_at_1x_and_change_2x(model):
    seeds, labels = [0, 1], torch.tensor([0, 1])
    direct1 = sample_with_method(model, "direct", labels, 32, 32, seeds, steps=3)
    direct2 = sample_with_method(model, "direct", labels, 64, 64, seeds, steps=3)
    for m in ("unidirectional", "entropy", "pbc3:merge=strongest", "pbc3:minsize=16",
              "pbc3:window=0-0.3"):
        assert torch.equal(sample_with_method(model, m, labels, 32, 32, seeds, steps=3), direct1), m
        out = sample_with_method(model, m, labels, 64, 64, seeds, steps=3)
        assert (out - direct2).abs().max() > 1e-3, m


def test_knobs_change_what_they_should(model):
    """minsize above every map size leaves direct; a window that holds only the last call
    (ceil(0.5 * 3) = 2) changes the image, one with no call (ceil(0.9 * 3) = 3) does not."""
    seeds, labels = [0], torch.tensor([2])
    direct = sample_with_method(model, "direct", labels, 64, 64, seeds, steps=3)
    off = sample_with_method(model, "pbc3:minsize=65", labels, 64, 64, seeds, steps=3)
    assert torch.equal(off, direct)
    late = sample_with_method(model, "pbc3:window=0.5-1", labels, 64, 64, seeds, steps=3)
    assert (late - direct).abs().max() > 1e-4
    empty = sample_with_method(model, "pbc3:window=0.9-1", labels, 64, 64, seeds, steps=3)
    assert torch.equal(empty, direct)


def test_window_sigmas_select_the_right_calls():
    steps = 10
    sig = [float(schedule.sigmas()[int(t)]) for t in timesteps_for(steps)]

    def calls(window):
        start, end = window_sigmas(steps, window)
        return [i for i, s in enumerate(sig) if end <= s <= start]

    assert calls((0, 0.5)) == [0, 1, 2, 3, 4]
    assert calls((0, 0.3)) == [0, 1, 2]
    assert calls((0.5, 1)) == [5, 6, 7, 8, 9]
    assert calls((0, 1)) == list(range(10))
    assert calls((0.31, 0.39)) == []               # ceil(3.1) = 4 = ceil(3.9): no call
    assert window_sigmas(25, (0, 0.5)) == (math.inf, float(schedule.sigmas()[int(timesteps_for(25)[12])]))


def test_method_syntax():
    assert check_method("pbc3:window=0-0.30:merge=strongest") == "pbc3:merge=strongest:window=0-0.3"
    assert resolve("pbc-auto:minsize=16", 128, 128, 32, 32) == "pbc3:minsize=16"
    assert parse_method("entropy").effective_window() == (0.0, 1.0)
    assert parse_method("unidirectional").effective_window() == (0.0, 0.5)
    assert method_label("pbc31:merge=strongest") == "PBC N=31 (merge strongest)"
    for bad in ("pbc0", "pbc3:merge=max", "pbc3:window=0.5-0.2", "direct:window=0-1",
                "redilate:merge=product", "pbc3:minsize", "entropy:minsize=4", "pbc3:minsize=1:minsize=2",
                "foo"):
        with pytest.raises(ValueError):
            check_method(bad)
