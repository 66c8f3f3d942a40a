"""The fast valued-padding conv against the slow reference written from the definition."""
import os
import random

import pytest
import torch
import torch.nn.functional as F

from posenc.boundaries import virtual_boundaries
from posenc.valued_padding import ConvSpec, conv_spec, make_plan, tap_multipliers, valued_padding_conv2d
from reference_pbc import reference_conv, reference_factors

TOL = {torch.float32: 2e-5, torch.float16: 3e-3, torch.bfloat16: 2e-2}


def _case(seed):
    rng = random.Random(seed)
    k = rng.choice([(3, 3), (3, 3), (5, 5), (3, 5), (1, 3)])
    stride = rng.choice([(1, 1), (1, 1), (2, 2), (1, 2)])
    dil = rng.choice([(1, 1), (1, 1), (2, 2), (2, 1)])
    H, W = rng.randint(5, 23), rng.randint(5, 23)
    n = rng.choice([1, 2, 3, 5, 31])
    b = virtual_boundaries(H, W, n, jitter=rng.choice([0, 1, 2]), seed=rng.randint(0, 2**63),
                           key=rng.randint(0, 2**32 - 1), rows=rng.random() < 0.8, cols=rng.random() < 0.8)
    groups = rng.choice([1, 1, 2])
    cin, cout = 2 * rng.randint(1, 4), 2 * rng.randint(1, 3)
    return k, stride, dil, b, groups, cin, cout


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("method", ["per_tap", "strips", "auto"])
def test_fast_conv_matches_reference(seed, method):
    (kh, kw), stride, dil, b, groups, cin, cout = _case(seed)
    torch.manual_seed(seed)
    x = torch.randn(2, cin, b.height, b.width)
    w = torch.randn(cout, cin // groups, kh, kw)
    bias = torch.randn(cout) if seed % 3 else None
    spec = ConvSpec(kh, kw, *stride, *dil, groups)
    plan = make_plan(b, spec, method)
    out = valued_padding_conv2d(x, w, bias, plan)
    ref = reference_conv(x, w, bias, b, stride, dil, groups)
    assert out.shape == ref.shape
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=2e-5)


def test_multipliers_match_reference_factors():
    b = virtual_boundaries(19, 26, 31, jitter=1, seed=3, key=7)
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    torch.testing.assert_close(tap_multipliers(b, spec), reference_factors(b, 3, 3, 1, 1, 1, 1))


def test_valued_padding_changes_the_output():
    """Guards against a plan that silently falls back to the plain conv: exactly the outputs with
    a tap crossing a boundary outward change (N=3 on 16: rectangles [2,14), [4,12), [6,10))."""
    b = virtual_boundaries(16, 16, 3)
    torch.manual_seed(0)
    x, w = torch.randn(1, 4, 16, 16), torch.randn(4, 4, 3, 3)
    plain = F.conv2d(x, w, padding=1)
    expected = (reference_factors(b, 3, 3, 1, 1, 1, 1) != 1).any(dim=0)
    assert expected[2, 7] and expected[13, 7] and expected[7, 9] and not expected[3, 7]
    assert not expected[0].any() and not expected[:, 15].any()
    for method in ("per_tap", "strips"):
        out = valued_padding_conv2d(x, w, None, make_plan(b, ConvSpec(3, 3, 1, 1, 1, 1, 1), method))
        changed = (out - plain).abs().amax(dim=(0, 1)) > 1e-4
        assert torch.equal(changed, expected)


def test_hand_computed_single_boundary():
    """N=1 on 8x8: R = [2, 6) x [2, 6), lambda = 1/2.  The output at (2, 3) reads row 1 through
    its three upper taps at half weight; the centre (3, 3) is untouched."""
    b = virtual_boundaries(8, 8, 1)
    assert b.rect(0) == (2, 6, 2, 6)
    x = torch.ones(1, 1, 8, 8)
    w = torch.ones(1, 1, 3, 3)
    plan = make_plan(b, ConvSpec(3, 3, 1, 1, 1, 1, 1), "per_tap")
    out = valued_padding_conv2d(x, w, None, plan)[0, 0]
    assert out[3, 3] == 9
    assert out[2, 3] == 6 + 3 * 0.5
    assert out[2, 2] == 4 + 5 * 0.5   # corner: taps leaving through top or left, each once
    assert out[1, 3] == 9             # outside R reading inward: unidirectional, untouched
    assert out[0, 0] == 4             # real zero padding stays zero


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("method", ["per_tap", "strips"])
def test_dtypes(dtype, method):
    b = virtual_boundaries(20, 28, 31, jitter=1, seed=11, key=5)
    torch.manual_seed(0)
    x, w, bias = torch.randn(3, 8, 20, 28), torch.randn(8, 8, 3, 3) * 0.2, torch.randn(8)
    out = valued_padding_conv2d(x.to(dtype), w.to(dtype), bias.to(dtype),
                                make_plan(b, ConvSpec(3, 3, 1, 1, 1, 1, 1), method))
    assert out.dtype == dtype
    ref = reference_conv(x.to(dtype).double(), w.to(dtype).double(), bias.to(dtype).double(), b)
    scale = ref.abs().max().item()
    assert (out.double() - ref).abs().max().item() <= TOL[dtype] * scale * 4


def test_channels_last_and_batch():
    b = virtual_boundaries(24, 24, 7, jitter=2, seed=1, key=9)
    torch.manual_seed(1)
    x = torch.randn(5, 6, 24, 24).to(memory_format=torch.channels_last)
    w = torch.randn(6, 6, 3, 3)
    for method in ("per_tap", "strips"):
        out = valued_padding_conv2d(x, w, None, make_plan(b, ConvSpec(3, 3, 2, 2, 1, 1, 1), method))
        torch.testing.assert_close(out.double(), reference_conv(x, w, None, b, (2, 2)), rtol=1e-5, atol=2e-5)


def test_empty_boundaries_are_identity():
    b = virtual_boundaries(16, 16, 31, rows=False, cols=False)
    plan = make_plan(b, ConvSpec(3, 3, 1, 1, 1, 1, 1))
    assert plan.method == "identity"
    x, w = torch.randn(1, 3, 16, 16), torch.randn(3, 3, 3, 3)
    assert torch.equal(valued_padding_conv2d(x, w, None, plan), F.conv2d(x, w, padding=1))


def test_no_full_unfold_in_default_path(monkeypatch):
    """The default path never unfolds (a k*k-times copy of the feature map)."""
    monkeypatch.setattr(F, "unfold", lambda *a, **k: (_ for _ in ()).throw(AssertionError("unfold")))
    b = virtual_boundaries(32, 32, 31, jitter=1)
    x, w = torch.randn(1, 4, 32, 32), torch.randn(4, 4, 3, 3)
    for method in ("auto", "per_tap", "strips"):
        valued_padding_conv2d(x, w, None, make_plan(b, ConvSpec(3, 3, 1, 1, 1, 1, 1), method))


def test_conv_spec_selection():
    assert conv_spec(torch.nn.Conv2d(4, 4, 3, padding=1)) == ConvSpec(3, 3, 1, 1, 1, 1, 1)
    assert conv_spec(torch.nn.Conv2d(4, 4, 3, stride=2, padding=1)).sh == 2
    assert conv_spec(torch.nn.Conv2d(4, 4, 3, padding=2, dilation=2)).dh == 2
    assert conv_spec(torch.nn.Conv2d(4, 4, 1)) is None                       # 1x1
    assert conv_spec(torch.nn.Conv2d(4, 4, 2, stride=2)) is None             # patch embedding
    assert conv_spec(torch.nn.Conv2d(4, 4, 3, padding=0)) is None            # no padding
    assert conv_spec(torch.nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular")) is None
    assert conv_spec(torch.nn.Linear(3, 3)) is None


def test_plan_rejects_wrong_size():
    plan = make_plan(virtual_boundaries(16, 16, 3), ConvSpec(3, 3, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="plan was made"):
        valued_padding_conv2d(torch.randn(1, 1, 17, 16), torch.randn(1, 1, 3, 3), None, plan)


def _aten_ops(fn):
    """The top-level aten ops one call of fn dispatches, as torch.profiler records them."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return sorted(e.name for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None)


@pytest.mark.parametrize("method", ["strips", "per_tap"])
@pytest.mark.parametrize("spec", [ConvSpec(3, 3, 1, 1, 1, 1, 1), ConvSpec(3, 3, 1, 1, 2, 2, 1),
                                  ConvSpec(5, 5, 1, 1, 1, 1, 2)])
def test_op_count_does_not_grow_with_boundaries(method, spec):
    """The work per call is a fixed set of ops set by the kernel (docs/DESIGN.md section 8): the
    same aten ops, the same number of times, for N = 1, 3 and 31 boundaries (with jitter), and
    the result still matches the slow reference.  A form looping over boundary rows or row groups
    (one op per group) fails this."""
    torch.manual_seed(0)
    x = torch.randn(1, 4, 64, 64)
    w, bias = torch.randn(4, 4 // spec.groups, spec.kh, spec.kw), torch.randn(4)
    counts = {}
    for n in (1, 3, 31):
        b = virtual_boundaries(64, 64, n, jitter=1, seed=2, key=5)
        plan = make_plan(b, spec, method)
        assert plan.method == method
        valued_padding_conv2d(x, w, bias, plan)            # warm the plan's cast cache
        counts[n] = _aten_ops(lambda: valued_padding_conv2d(x, w, bias, plan))
        ref = reference_conv(x, w, bias, b, (spec.sh, spec.sw), (spec.dh, spec.dw), spec.groups)
        torch.testing.assert_close(valued_padding_conv2d(x, w, bias, plan).double(), ref,
                                   rtol=1e-5, atol=2e-5)
    assert counts[1] == counts[3] == counts[31], counts
    # and few of them: at most 7 ops that touch memory (gather, pad, layout copy, matmul, scale,
    # scatter) per tap outside the centre, besides the plain conv (per-tap: 3 per tap).
    work = [op for op in counts[31] if op not in VIEW_OPS]
    assert len(work) <= 1 + 7 * (spec.kh * spec.kw - 1), sorted(set(work))


VIEW_OPS = {"aten::view", "aten::permute", "aten::reshape", "aten::transpose", "aten::select",
            "aten::slice", "aten::unsqueeze", "aten::flatten", "aten::as_strided", "aten::expand",
            "aten::_unsafe_view"}


def test_auto_form_is_chosen_by_the_cost_model_not_by_timing(monkeypatch):
    """make_plan's "auto" takes the form of lower estimated cost, with no clock involved."""
    import time
    monkeypatch.setattr(time, "perf_counter", lambda: (_ for _ in ()).throw(AssertionError("timed")))
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    sparse = make_plan(virtual_boundaries(96, 96, 1), spec)            # few corrected rows
    dense = make_plan(virtual_boundaries(12, 12, 31, jitter=1), spec)  # nearly every row
    assert sparse.method == "strips" and sparse.cost["strips"] < sparse.cost["per_tap"]
    assert dense.method == "per_tap" and dense.cost["per_tap"] < dense.cost["strips"]


# --- the optional fused Triton kernel: choosing it, and working without Triton ---------------------
# (the kernel itself: tests/test_valued_padding_triton.py, in Triton's interpreter)

def test_unknown_method_is_refused_with_the_known_ones():
    from posenc.pbc import PBCSettings
    with pytest.raises(ValueError, match="known: auto, per_tap, strips, fused"):
        make_plan(virtual_boundaries(16, 16, 3), ConvSpec(3, 3, 1, 1, 1, 1, 1), "fast")
    with pytest.raises(ValueError, match="unknown valued-padding method"):
        PBCSettings(method="fast")


def test_without_triton_fused_says_how_to_install_it_and_auto_works():
    """In a fresh interpreter where `import triton` fails: the pack imports, "auto" runs the
    pure-torch form on the CPU (and never tries Triton), and asking for "fused" by name, in
    make_plan or in PBCSettings, raises an ImportError that says how to install it."""
    import subprocess
    import sys
    from pathlib import Path
    code = """
import sys
sys.modules["triton"] = None            # import triton -> ImportError
import torch
from posenc.boundaries import virtual_boundaries
from posenc.pbc import PBCSettings
from posenc.valued_padding import ConvSpec, make_plan, valued_padding_conv2d
from posenc import valued_padding_triton
b, spec = virtual_boundaries(16, 16, 3), ConvSpec(3, 3, 1, 1, 1, 1, 1)
plan = make_plan(b, spec)
valued_padding_conv2d(torch.randn(1, 2, 16, 16), torch.randn(2, 2, 3, 3), None, plan)
print("auto", plan.method, "untried" if valued_padding_triton._available is None else "tried")
for make in (lambda: make_plan(b, spec, "fused"), lambda: PBCSettings(method="fused")):
    try:
        make()
    except ImportError as e:
        print("error", e)
"""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                       env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("auto ") and lines[0].endswith(" untried"), lines
    errors = [ln for ln in lines if ln.startswith("error ")]
    assert len(errors) == 2 and all("pip install triton" in e and "'fused'" in e for e in errors), lines


def test_only_method_fused_sends_a_call_to_the_kernel(monkeypatch):
    """The call-time choice (no CUDA device here: the input is a stand-in with a device, and the
    kernel's own checks are stubbed): a "fused" plan asks the kernel on any device; "auto" (the
    node's setting: no GPU has timed the kernel) and "per_tap" / "strips" never do."""
    import types
    from posenc import valued_padding_triton
    from posenc.valued_padding import runs_fused
    asked = []
    monkeypatch.setattr(valued_padding_triton, "unsupported_reason",
                        lambda x, w, b, g: asked.append(x.device.type))
    monkeypatch.setattr(valued_padding_triton, "_available", True)
    b, spec = virtual_boundaries(16, 16, 3), ConvSpec(3, 3, 1, 1, 1, 1, 1)
    cuda = types.SimpleNamespace(device=torch.device("cuda"))
    cpu = types.SimpleNamespace(device=torch.device("cpu"))
    plans = {m: make_plan(b, spec, m) for m in ("auto", "fused", "per_tap", "strips")}
    assert runs_fused(plans["fused"], cuda, None, None) and runs_fused(plans["fused"], cpu, None, None)
    for m in ("auto", "per_tap", "strips"):
        assert not runs_fused(plans[m], cuda, None, None) and not runs_fused(plans[m], cpu, None, None)
    assert asked == ["cuda", "cpu"]
    identity = make_plan(virtual_boundaries(16, 16, 3, rows=False, cols=False), spec, "fused")
    assert identity.method == "identity" and not runs_fused(identity, cuda, None, None)


@pytest.mark.parametrize("size,n", [(96, 1), (40, 7), (23, 31)])
def test_strip_cost_counts_exactly_the_taps_the_strip_form_reads(size, n):
    """make_plan prices the strip form from counts before building its index tensors; the count
    must equal the taps the built row, column and corner index lists read."""
    from posenc.valued_padding import PER_TAP_COST, STRIP_OVERHEAD
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    plan = make_plan(virtual_boundaries(size, size, n, jitter=1, key=3), spec, "strips")
    read = sum(len(t) for _, _, t, _, _ in plan.rows) + sum(len(t) for _, _, t, _, _ in plan.cols) \
        + sum(len(t) for _, _, t, _, _ in plan.corners)
    assert read > 0
    assert plan.cost["strips"] == pytest.approx(1.0 + STRIP_OVERHEAD * read / (9 * size * size))
    assert plan.cost["per_tap"] == PER_TAP_COST


def test_a_per_tap_plan_builds_no_strip_indices():
    plan = make_plan(virtual_boundaries(12, 12, 31, jitter=1), ConvSpec(3, 3, 1, 1, 1, 1, 1))
    assert plan.method == "per_tap" and not plan.rows and not plan.cols and not plan.corners
