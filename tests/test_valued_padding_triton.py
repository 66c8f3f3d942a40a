"""The fused Triton valued-padding kernel (posenc/valued_padding_triton.py) against the slow
reference, run on CPU tensors in Triton's interpreter (TRITON_INTERPRET=1, set here before Triton
is imported; Triton decides interpreter or compiler when the kernel is built, on first use).

Every comparison first checks that the kernel itself ran (`runs_fused`), so a silent fallback to
the pure-torch forms cannot pass for the kernel.  No GPU runs these tests."""
import os

os.environ["TRITON_INTERPRET"] = "1"

import pytest  # noqa: E402

triton = pytest.importorskip("triton", reason="triton is not installed (requirements-test.txt)")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from posenc import valued_padding_triton as vpt  # noqa: E402
from posenc.boundaries import virtual_boundaries  # noqa: E402
from posenc.pbc import PBCRuntime, PBCSettings  # noqa: E402
from posenc.valued_padding import (ConvSpec, make_plan, runs_fused, tap_multipliers,  # noqa: E402
                                   valued_padding_conv2d)
from reference_pbc import reference_conv  # noqa: E402
from test_valued_padding import TOL, _case  # noqa: E402

SEEDS = [s for s in range(40) if _case(s)[4] == 1]          # the groups=1 cases of the fast-form test


def _fused(x, w, bias, b, spec):
    """The conv through make_plan(..., "fused") and valued_padding_conv2d, asserting the kernel runs."""
    plan = make_plan(b, spec, "fused")
    assert plan.method == "identity" or runs_fused(plan, x, w, bias), "the kernel did not run"
    return valued_padding_conv2d(x, w, bias, plan)


def test_the_kernel_runs_in_the_interpreter_on_cpu_tensors():
    assert vpt.interpreting() and triton.knobs.runtime.interpret
    from triton.runtime.interpreter import InterpretedFunction
    assert isinstance(vpt._kernel(), InterpretedFunction)
    b = virtual_boundaries(9, 11, 3)
    x, w = torch.randn(1, 3, 9, 11), torch.randn(2, 3, 3, 3)
    out = vpt.fused_conv2d(x, w, None, tap_multipliers(b, ConvSpec(3, 3, 1, 1, 1, 1, 1)))
    assert out.device.type == "cpu" and out.shape == (1, 2, 9, 11)


@pytest.mark.parametrize("seed", SEEDS)
def test_fused_matches_reference(seed):
    (kh, kw), stride, dil, b, groups, cin, cout = _case(seed)
    torch.manual_seed(seed)
    x = torch.randn(2, cin, b.height, b.width)
    w = torch.randn(cout, cin, kh, kw)
    bias = torch.randn(cout) if seed % 3 else None
    out = _fused(x, w, bias, b, ConvSpec(kh, kw, *stride, *dil, 1))
    ref = reference_conv(x, w, bias, b, stride, dil, 1)
    assert out.shape == ref.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("seed", SEEDS[:8])
def test_fused_float16(seed):
    dtype = torch.float16
    (kh, kw), stride, dil, b, _, cin, cout = _case(seed)
    torch.manual_seed(seed)
    x, w, bias = torch.randn(2, cin, b.height, b.width), torch.randn(cout, cin, kh, kw) * 0.2, torch.randn(cout)
    x, w, bias = x.to(dtype), w.to(dtype), bias.to(dtype)
    out = _fused(x, w, bias, b, ConvSpec(kh, kw, *stride, *dil, 1))
    assert out.dtype == dtype
    ref = reference_conv(x.double(), w.double(), bias.double(), b, stride, dil, 1)
    scale = ref.abs().max().item()
    assert (out.double() - ref).abs().max().item() <= TOL[dtype] * scale * 4


def test_channels_last_5x5_stride_2_dilation_2_no_bias():
    b = virtual_boundaries(17, 26, 5, jitter=1, seed=4, key=3)
    torch.manual_seed(2)
    x = torch.randn(2, 5, 17, 26).to(memory_format=torch.channels_last)
    w = torch.randn(3, 5, 5, 5)
    spec = ConvSpec(5, 5, 2, 2, 2, 2, 1)
    out = _fused(x, w, None, b, spec)
    assert out.shape == (2, 3, 9, 13) and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.double(), reference_conv(x, w, None, b, (2, 2), (2, 2)),
                               rtol=1e-5, atol=2e-5)


def test_the_multiplier_table_is_what_scales_the_taps():
    """A table of ones gives the plain conv; changing one multiplier changes exactly the one
    output position it belongs to, by that tap's contribution."""
    b = virtual_boundaries(12, 14, 3)
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    torch.manual_seed(3)
    x, w, bias = torch.randn(1, 4, 12, 14), torch.randn(5, 4, 3, 3), torch.randn(5)
    table = tap_multipliers(b, spec)
    ones = vpt.fused_conv2d(x, w, bias, torch.ones_like(table))
    torch.testing.assert_close(ones, F.conv2d(x, w, bias, padding=1), rtol=1e-5, atol=2e-5)
    good = vpt.fused_conv2d(x, w, bias, table)
    assert (good - ones).abs().max() > 1e-2                  # the boundaries matter here
    wrong = table.clone()
    wrong[1, 5, 6] += 0.5                                    # tap (0, 1) at output (5, 6): reads x[.., 4, 6]
    bad = vpt.fused_conv2d(x, w, bias, wrong)
    diff = (bad - good).abs().amax(dim=1)[0]
    assert diff[5, 6] > 1e-3 and diff.flatten().topk(2).values[1] < 1e-5
    torch.testing.assert_close((bad - good)[0, :, 5, 6], 0.5 * w[:, :, 0, 1] @ x[0, :, 4, 6],
                               rtol=1e-4, atol=1e-5)


def test_unsupported_calls_run_the_pure_torch_form():
    b = virtual_boundaries(10, 12, 3, jitter=1, seed=1, key=1)
    torch.manual_seed(4)
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 2)
    x, w = torch.randn(1, 4, 10, 12), torch.randn(4, 2, 3, 3)
    plan = make_plan(b, spec, "fused")
    assert not runs_fused(plan, x, w, None)                  # groups=2
    torch.testing.assert_close(valued_padding_conv2d(x, w, None, plan).double(),
                               reference_conv(x, w, None, b, groups=2), rtol=1e-5, atol=2e-5)
    # a call that wants gradients runs the differentiable form
    spec1 = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    w1 = torch.randn(2, 4, 3, 3, requires_grad=True)
    plan1 = make_plan(b, spec1, "fused")
    assert not runs_fused(plan1, x, w1, None)
    valued_padding_conv2d(x, w1, None, plan1).sum().backward()
    assert w1.grad is not None
    with torch.no_grad():
        assert runs_fused(plan1, x, w1, None)
    assert "dtype" in vpt.unsupported_reason(x.double(), w1.double(), None, 1)


def test_bfloat16_runs_the_pure_torch_form():
    """Triton 3.9's interpreter multiplies bfloat16 bit patterns in tl.dot, so the kernel's
    bfloat16 path could not be checked: bfloat16 calls take the pure-torch form."""
    b = virtual_boundaries(10, 12, 3)
    x, w = torch.randn(1, 4, 10, 12).bfloat16(), torch.randn(3, 4, 3, 3).bfloat16()
    plan = make_plan(b, ConvSpec(3, 3, 1, 1, 1, 1, 1), "fused")
    assert not runs_fused(plan, x, w, None)
    out = valued_padding_conv2d(x, w, None, plan)
    ref = reference_conv(x.double(), w.double(), None, b)
    assert out.dtype == torch.bfloat16
    assert (out.double() - ref).abs().max().item() <= TOL[torch.bfloat16] * ref.abs().max().item() * 4


def test_auto_stays_pure_torch_even_in_the_interpreter():
    b = virtual_boundaries(16, 16, 3)
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    x, w = torch.randn(1, 2, 16, 16), torch.randn(2, 2, 3, 3)
    plan = make_plan(b, spec, "auto")
    assert plan.fused == "never" and not runs_fused(plan, x, w, None)
    form = make_plan(b, spec, plan.method)
    assert torch.equal(valued_padding_conv2d(x, w, None, plan), valued_padding_conv2d(x, w, None, form))


def test_cpu_tensors_outside_the_interpreter_are_not_sent_to_the_kernel(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    x, w = torch.randn(1, 2, 8, 8), torch.randn(2, 2, 3, 3)
    assert "device cpu" in vpt.unsupported_reason(x, w, None, 1)


def test_pbc_runtime_with_method_fused():
    rt = PBCRuntime(PBCSettings(boundaries=3, jitter=1, base_height=8, base_width=8, method="fused"))
    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    torch.manual_seed(5)
    x, w, bias = torch.randn(2, 3, 16, 16), torch.randn(4, 3, 3, 3), torch.randn(4)
    with rt.step(16, 16, 2.0):
        plan = rt.plan(spec, 16, 16)
        assert runs_fused(plan, x, w, bias)
        out = rt._run(spec, x, w, bias)
    torch.testing.assert_close(out.double(), reference_conv(x, w, bias, plan.boundaries),
                               rtol=1e-5, atol=2e-5)
