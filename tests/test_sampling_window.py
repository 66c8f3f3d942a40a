"""The sampling window on the steps of the run being sampled (docs/DESIGN.md section 7): which
model calls a start/end percent window patches at denoise 1.0, 0.5 and 0.3, with custom sigmas
and with samplers that call the model between two sigmas; the warning of a run above the base
size that the patch never touched; chaining two patchers on the same convs."""
import logging

import pytest
import torch
import torch.nn.functional as F

from standin.model_patcher import BaseModelStandIn, ModelPatcher
from tiny_unet import TinyUNet

BASE = 128                       # px; 16 latent cells in the stand-in (latent downscale 8)
PBC = dict(boundaries=3, jitter=0, base_resolution=BASE, jitter_seed=0)
SCHEDULE = torch.linspace(14.6, 0.03, 1000)   # the stand-in model's sigmas, high to low


def _model(seed=0):
    torch.manual_seed(seed)
    return ModelPatcher(BaseModelStandIn(TinyUNet()))


def _noise(h, w, b=1, seed=1):
    return torch.randn(b, 4, h, w, generator=torch.Generator().manual_seed(seed))


def _ksampler_sigmas(steps, denoise):
    """KSampler's sigmas for a pass at `denoise` (comfy/samplers.py KSampler.set_steps): the last
    steps + 1 of a schedule of int(steps / denoise) steps, here uniform over SCHEDULE, then 0."""
    total = steps if denoise >= 1.0 else int(steps / denoise)
    idx = torch.linspace(0, len(SCHEDULE) - 1, total).round().long()
    full = torch.cat([SCHEDULE[idx], torch.zeros(1)])
    return full[-(steps + 1):]


def _pbc(pack, model, start, end):
    (m,) = pack.nodes.pbc_patcher.PBCModelPatcher.execute(
        model, start_percent=start, end_percent=end, **PBC).result
    return m


def _spy(patched, key="posenc_pbc"):
    """Record (sigma, active) of every diffusion-model call, inside the patch's own wrapper."""
    import comfy.patcher_extension as pe
    runtime = patched.wrappers[pe.WrappersMP.DIFFUSION_MODEL][key][0].__self__
    calls = []

    def spy(executor, x, *args, **kwargs):
        options = args[4]
        calls.append((round(float(options["sigmas"].max()), 4), runtime.active is not None))
        return executor(x, *args, **kwargs)
    patched.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "zz_spy", spy)
    return calls


# --- the arithmetic -------------------------------------------------------------------------

def test_window_steps_rule(pack):
    window_steps = pack.posenc.sampling_window.window_steps
    assert list(window_steps(20, 0.0, 0.5)) == list(range(10))        # exactly the first half
    assert list(window_steps(25, 0.0, 0.5)) == list(range(13))        # odd n: ceil(n / 2)
    assert list(window_steps(7, 0.0, 1.0)) == list(range(7))          # 0-1: every step
    assert list(window_steps(10, 0.3, 0.6)) == [3, 4, 5]
    assert list(window_steps(10, 0.5, 1.0)) == [5, 6, 7, 8, 9]
    assert list(window_steps(20, 0.5, 0.5)) == []                     # start = end: none
    assert list(window_steps(1, 0.0, 0.5)) == [0]
    assert list(window_steps(1, 0.5, 1.0)) == []                      # one step: it is step 0


def test_run_step_places_calls_between_sigmas(pack):
    run_step = pack.posenc.sampling_window.run_step
    sig = [10.0, 6.0, 3.0, 1.0, 0.0]
    assert [run_step(sig, s) for s in (10.0, 6.0, 3.0, 1.0)] == [0, 1, 2, 3]
    assert [run_step(sig, s) for s in (8.0, 4.2, 1.7, 0.5)] == [0, 1, 2, 3]   # between: step i
    assert run_step(sig, 12.0) == 0 and run_step(sig, 0.0) == 3
    assert run_step(sig, float(torch.tensor(6.0000001, dtype=torch.float32))) == 1
    assert run_step([5.0, 5.0, 2.0, 0.0], 5.0) == 1                       # a repeated sigma: the later step


@pytest.mark.parametrize("denoise", [1.0, 0.5, 0.3])
def test_window_is_the_first_half_of_the_steps_run(pack, denoise):
    """0-0.5 patches exactly the first 10 of the 20 steps that KSampler runs, at any denoise.
    (The old window on the model's full schedule patched none of them at denoise 0.5 and 0.3.)"""
    sigmas = _ksampler_sigmas(20, denoise)
    patched = _pbc(pack, _model(), 0.0, 0.5)
    calls = _spy(patched)
    patched.sample(_noise(32, 32) * float(sigmas[0]), sigmas)
    assert [c[0] for c in calls] == [round(float(s), 4) for s in sigmas[:-1]]
    assert [c[1] for c in calls] == [True] * 10 + [False] * 10


def test_window_on_custom_sigmas(pack):
    """SamplerCustom with any SIGMAS: the window is on those 5 steps (img2img alike)."""
    sigmas = torch.tensor([3.0, 2.5, 1.0, 0.7, 0.2, 0.0])
    for (start, end), expected in {(0.0, 0.5): [1, 1, 1, 0, 0], (0.4, 1.0): [0, 0, 1, 1, 1],
                                   (0.0, 1.0): [1, 1, 1, 1, 1], (0.2, 0.4): [0, 1, 0, 0, 0]}.items():
        patched = _pbc(pack, _model(), start, end)
        calls = _spy(patched)
        patched.sample(_noise(32, 32) * 3.0, sigmas)
        assert [int(c[1]) for c in calls] == expected, (start, end)


def test_calls_between_sigmas_belong_to_their_step(pack):
    """dpm_2 calls the model once more between sigmas[i] and sigmas[i+1]: that call is step i.
    Heun's second call is at sigmas[i+1] itself: it counts with step i+1 (DESIGN section 7)."""
    sigmas = [10.0, 6.0, 3.0, 1.0, 0.0]
    patched = _pbc(pack, _model(), 0.0, 0.5)
    calls = _spy(patched)
    patched.sample(_noise(32, 32) * 10.0, sigmas, sampler="dpm_2")
    assert calls == [(10.0, True), (7.746, True), (6.0, True), (4.2426, True),
                     (3.0, False), (1.7321, False), (1.0, False)]
    calls.clear()
    patched.sample(_noise(32, 32) * 10.0, sigmas, sampler="heun")
    assert calls == [(10.0, True), (6.0, True), (6.0, True), (3.0, False), (3.0, False),
                     (1.0, False), (1.0, False)]


def test_full_window_needs_no_run_and_sigma_window_still_works(pack):
    """Outside a run (no sample_sigmas) a 0-1 window applies; the lab's absolute sigma window
    (sigma_end <= sigma <= sigma_start) is unchanged."""
    sw = pack.posenc.sampling_window
    from posenc.pbc import PBCSettings
    full = PBCSettings(base_height=16, base_width=16)
    assert sw.in_window(full, 3.0) and sw.in_window(full, 3.0, [1.0, 0.0])
    half = PBCSettings(base_height=16, base_width=16, end_percent=0.5)
    assert not sw.in_window(half, 3.0)
    assert sw.in_window(half, 3.0, [3.0, 2.0, 1.0, 0.0]) and not sw.in_window(half, 1.0, [3.0, 2.0, 1.0, 0.0])
    sig = PBCSettings(base_height=16, base_width=16, sigma_start=5.0, sigma_end=2.0)
    assert [sw.in_window(sig, s) for s in (6.0, 5.0, 2.0, 1.9)] == [False, True, True, False]
    with pytest.raises(ValueError, match="start_percent <= end_percent"):
        PBCSettings(start_percent=0.6, end_percent=0.5)


def test_each_methods_settings_refuse_a_bad_window_by_name():
    """Every step-windowed method checks its window when its settings are made, and the error says
    which method: a user who chains several patches sees which one got the bad window."""
    from posenc.attention_scaling import EntropyScalingSettings
    from posenc.pbc import PBCSettings
    from posenc.redilation import RedilationSettings
    for settings, name in ((PBCSettings, "PBC"), (RedilationSettings, "Re-dilation"),
                           (EntropyScalingSettings, "attention-entropy scaling")):
        for start, end in ((0.6, 0.5), (-0.1, 1.0), (0.0, 1.5)):
            with pytest.raises(ValueError, match=f"^{name}: need 0 <= start_percent <= end_percent <= 1"):
                settings(start_percent=start, end_percent=end)
        assert settings(start_percent=0.25, end_percent=0.75).end_percent == 0.75


def test_lab_windows_use_the_same_rule(pack):
    """The lab's window=A-B picks the steps ceil(A n) <= i < ceil(B n), the same as the nodes'."""
    import math
    window_steps = pack.posenc.sampling_window.window_steps
    for n in (1, 2, 3, 7, 20, 25, 50):
        for a, b in ((0, 0.5), (0, 0.3), (0.3, 0.6), (0.5, 1), (0.25, 0.75), (0, 1)):
            k0, k1 = math.ceil(round(a * n, 9)), math.ceil(round(b * n, 9))
            assert list(window_steps(n, a, b)) == list(range(k0, k1)), (n, a, b)


# --- the idle-run warning -------------------------------------------------------------------

def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_idle_run_above_base_warns_once(pack, caplog):
    sigmas = _ksampler_sigmas(20, 0.5)
    patched = _pbc(pack, _model(), 0.5, 0.5)               # start = end: no step
    with caplog.at_level(logging.WARNING):
        patched.sample(_noise(24, 32) * float(sigmas[0]), sigmas)
    (message,) = _warnings(caplog)
    assert "PBC Model Patcher changed nothing" in message
    assert "run of 20 steps" in message and "covers no step" in message
    assert "start_percent 0.5 - end_percent 0.5" in message
    assert "24x32" in message and "16x16" in message


def test_one_step_run_outside_the_window_warns(pack, caplog):
    patched = _pbc(pack, _model(), 0.5, 1.0)
    with caplog.at_level(logging.WARNING):
        patched.sample(_noise(32, 32), [1.0, 0.0])
    (message,) = _warnings(caplog)
    assert "run of 1 step (sigma 1 to 0)" in message and "covers no step" in message


@pytest.mark.parametrize("size,window", [((16, 16), (0.5, 0.5)), ((32, 32), (0.0, 0.5)),
                                         ((12, 16), (0.0, 0.0))])
def test_no_warning_when_active_or_at_base(pack, caplog, size, window):
    patched = _pbc(pack, _model(), *window)
    with caplog.at_level(logging.WARNING):
        patched.sample(_noise(*size), _ksampler_sigmas(6, 0.5))
    assert _warnings(caplog) == []


def test_redilation_below_one_and_a_half_times_warns(pack, caplog):
    """Re-dilation's factor round(size / base) is 1 at 1.25x: the run changes nothing, and says why."""
    (patched,) = pack.nodes.redilation_patcher.RedilationPatcher.execute(
        _model(), start_percent=0.0, end_percent=0.5, base_resolution=BASE).result
    plain = _model().clone()
    x, sigmas = _noise(20, 20), _ksampler_sigmas(4, 1.0)
    with caplog.at_level(logging.WARNING):
        out = patched.sample(x, sigmas)
    assert torch.equal(out, plain.sample(x, sigmas))
    (message,) = _warnings(caplog)
    assert "Re-dilation Patcher changed nothing" in message and "round(size / base)" in message


def test_missing_run_sigmas_are_named(pack, caplog):
    """A run whose model calls carry no sample_sigmas cannot place a partial window: it says so."""
    patched = _pbc(pack, _model(), 0.0, 0.5)
    runtime = patched.object_patches["diffusion_model.conv_in._conv_forward"].runtime
    x = _noise(32, 32)
    with caplog.at_level(logging.WARNING):
        with runtime.run(32, 32, [3.0, 1.0, 0.0]):
            patched.patch_model()
            try:
                patched.diffusion_call(x, 3.0)
            finally:
                patched.unpatch_model()
    (message,) = _warnings(caplog)
    assert "sample_sigmas" in message


# --- chaining -------------------------------------------------------------------------------

def test_chaining_with_overlap_says_the_later_overrides(pack, caplog):
    model = _model()
    pbc = _pbc(pack, model, 0.0, 0.5)
    redilate = pack.nodes.redilation_patcher.RedilationPatcher
    with caplog.at_level(logging.WARNING):
        (both,) = redilate.execute(pbc, start_percent=0.25, end_percent=1.0, base_resolution=BASE).result
    (message,) = _warnings(caplog)
    assert "Re-dilation Patcher is applied after PBC Model Patcher on 3 of the same convolutions" in message
    assert "(0.25-0.5)" in message and "overrides" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        redilate.execute(pbc, start_percent=0.5, end_percent=1.0, base_resolution=BASE)
        _pbc(pack, _pbc(pack, model, 0.0, 0.3), 0.3, 1.0)
    assert _warnings(caplog) == []                      # disjoint windows: both run, no warning

    # where both are active, a shared conv is re-dilation's (checked against a dilated conv by
    # hand) and a conv only PBC patches (conv_in) still gets PBC's boundaries
    sigmas = [3.0, 2.0, 1.0, 0.0]                         # step 1 of 3: i/n = 0.33, in both windows
    mid, conv_in = model.model.diffusion_model.mid, model.model.diffusion_model.conv_in
    f_mid = both.object_patches["diffusion_model.mid._conv_forward"]
    f_in = both.object_patches["diffusion_model.conv_in._conv_forward"]
    pbc_rt = pbc.object_patches["diffusion_model.conv_in._conv_forward"].runtime
    h = torch.randn(1, 8, 16, 16)
    x = torch.randn(1, 4, 32, 32)
    with pbc_rt.step(32, 32, 2.0, sigmas), f_mid.runtime.step(32, 32, 2.0, sigmas):
        assert pbc_rt.active is not None and f_mid.runtime.active == (2, 2)
        torch.testing.assert_close(f_mid(h, mid.weight, mid.bias),
                                   F.conv2d(h, mid.weight, mid.bias, 1, 2, 2))
        assert not torch.allclose(f_in(x, conv_in.weight, conv_in.bias),
                                  F.conv2d(x, conv_in.weight, conv_in.bias, 1, 1))
