"""PBC Model Patcher through the stand-in ModelPatcher (the host tests repeat this in ComfyUI)."""
import pytest
import torch

from conftest import registered_nodes
from reference_pbc import reference_conv
from standin.model_patcher import BaseModelStandIn, ModelPatcher
from tiny_unet import TinyUNet

SIGMAS = [14.6, 6.0, 2.0, 0.5, 0.0]
ARGS = dict(boundaries=31, jitter=1, start_percent=0.0, end_percent=1.0, base_resolution=128, jitter_seed=7)


def _model(config="SD15", seed=0, **kw):
    torch.manual_seed(seed)
    return ModelPatcher(BaseModelStandIn(TinyUNet(**kw), config))


def _node(pack):
    return pack.nodes.pbc_patcher.PBCModelPatcher


def _noise(h, w, b=2, seed=1):
    return torch.randn(b, 4, h, w, generator=torch.Generator().manual_seed(seed)) * 14.6


def _with_reference_conv(pack, monkeypatch):
    """Make every valued-padding conv go through the slow reference of the tests."""
    def ref(x, weight, bias, plan):
        s = plan.spec
        return reference_conv(x, weight, bias, plan.boundaries, (s.sh, s.sw), (s.dh, s.dw), s.groups).to(x.dtype)
    monkeypatch.setattr(pack.posenc.pbc, "valued_padding_conv2d", ref)


def test_inputs_are_the_contract(pack):
    node = pack.nodes.pbc_patcher.PBCModelPatcher
    req = node.INPUT_TYPES()["required"]
    assert list(req) == ["model", "boundaries", "jitter", "start_percent", "end_percent", "base_resolution", "jitter_seed"]
    assert [req[k][0] for k in req] == ["MODEL", "INT", "INT", "FLOAT", "FLOAT", "INT", "INT"]
    assert (req["boundaries"][1]["default"], req["jitter"][1]["default"], req["start_percent"][1]["default"],
            req["end_percent"][1]["default"], req["base_resolution"][1]["default"]) == (3, 1, 0.0, 0.5, 0)
    assert all(opts.get("tooltip") for _, opts in req.values())
    assert node.RETURN_TYPES == ["MODEL"] and node.CATEGORY == "model_patches/unet"
    assert registered_nodes(pack)["PBCModelPatcher"] == (node, "PBC Model Patcher (hires, upscale)")


def test_above_base_matches_reference_and_original_stays_unpatched(pack, monkeypatch):
    model = _model()
    x = _noise(32, 32)                       # base 128 px / 8 = 16 latent cells: this is 2x
    plain_before = model.clone().sample(x, SIGMAS)
    (patched,) = _node(pack).execute(model, **ARGS).result
    fast = patched.sample(x, SIGMAS)
    assert (fast - plain_before).abs().max() > 1e-3, "PBC changed nothing above the base size"
    # the original MODEL is untouched, before and after the patched one sampled
    assert torch.equal(model.clone().sample(x, SIGMAS), plain_before)
    for m in model.model.diffusion_model.modules():   # unpatching may leave the original bound method
        fwd = vars(m).get("_conv_forward")
        assert fwd is None or getattr(fwd, "__func__", None) is type(m)._conv_forward
    _with_reference_conv(pack, monkeypatch)
    ref = patched.sample(x, SIGMAS)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [(16, 16), (8, 16), (12, 9)])
def test_at_or_below_base_is_bit_identical(pack, size):
    model = _model()
    x = _noise(*size)
    (patched,) = _node(pack).execute(model, **ARGS).result
    assert torch.equal(patched.sample(x, SIGMAS), model.clone().sample(x, SIGMAS))


def test_window_outside_is_bit_identical(pack):
    """Window 0-0.5 of a 4-step run: steps 0 and 1 patched, steps 2 and 3 not; a call outside
    any run (no sample_sigmas) cannot be placed in the window and runs unpatched."""
    model = _model()
    x = _noise(32, 32)
    (patched,) = _node(pack).execute(model, **{**ARGS, "start_percent": 0.0, "end_percent": 0.5}).result
    patched.patch_model()
    try:
        late = patched.diffusion_call(x, 2.0, SIGMAS)     # step 2 of 4: off
        early = patched.diffusion_call(x, 6.0, SIGMAS)    # step 1 of 4: on
        no_run = patched.diffusion_call(x, 6.0)
    finally:
        patched.unpatch_model()
    plain = model.clone()
    assert torch.equal(late, plain.diffusion_call(x, 2.0))
    assert not torch.equal(early, plain.diffusion_call(x, 6.0))
    assert torch.equal(no_run, plain.diffusion_call(x, 6.0))


def test_odd_latent_and_non_square(pack, monkeypatch):
    model = _model()
    x = _noise(19, 45)                       # height 19 > 16, width 45 > 16; odd sizes
    (patched,) = _node(pack).execute(model, **ARGS).result
    fast = patched.sample(x, SIGMAS)
    _with_reference_conv(pack, monkeypatch)
    torch.testing.assert_close(fast, patched.sample(x, SIGMAS), rtol=1e-4, atol=1e-4)


def test_long_axis_only(pack):
    model = _model()
    (patched,) = _node(pack).execute(model, **ARGS).result
    fn = patched.object_patches["diffusion_model.conv_in._conv_forward"]
    step = fn.runtime.step_for(16, 48, 3.0)       # 1x by 3x: vertical boundaries only
    assert (step.rows, step.cols) == (False, True)
    assert fn.runtime.step_for(16, 16, 3.0) is None


def test_chained_nodes_each_own_window(pack):
    """A second PBC node composes: each applies in its own window, the later one where both do."""
    model = _model()
    x = _noise(32, 32)
    node = _node(pack)
    (early,) = node.execute(model, **{**ARGS, "boundaries": 3, "end_percent": 0.5}).result
    (late,) = node.execute(model, **{**ARGS, "boundaries": 31, "start_percent": 0.5}).result
    (both,) = node.execute(early, **{**ARGS, "boundaries": 31, "start_percent": 0.5}).result

    def call(m, sigma):
        m.patch_model()
        try:
            return m.diffusion_call(x, sigma, SIGMAS)
        finally:
            m.unpatch_model()
    # equal up to float rounding: the auto method may pick a different exact form per run
    torch.testing.assert_close(call(both, 14.0), call(early, 14.0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(call(both, 0.05), call(late, 0.05), rtol=1e-5, atol=1e-5)
    assert not torch.equal(call(early, 14.0), call(late, 14.0))


def test_uses_the_weight_it_is_given(pack):
    """LoRA / weight casting: the conv weight comes in through _conv_forward and is never cached."""
    model = _model()
    (patched,) = _node(pack).execute(model, **ARGS).result
    conv = model.model.diffusion_model.conv_in
    fn = patched.object_patches["diffusion_model.conv_in._conv_forward"]
    x = torch.randn(1, 4, 32, 32)
    with fn.runtime.step(32, 32, 3.0):
        a = fn(x, conv.weight, conv.bias)
        b = fn(x, conv.weight * 2, conv.bias * 2)
    torch.testing.assert_close(b, 2 * a)


def test_auto_base_resolution(pack):
    info = pack.nodes.model_info
    assert info.auto_base_resolution(_model("SD15")) == 512
    assert info.auto_base_resolution(_model("SDXL")) == 1024
    sd2v = ModelPatcher(BaseModelStandIn(TinyUNet(), "SD20", "V_PREDICTION"))
    assert info.auto_base_resolution(sd2v) == 768
    assert info.auto_base_resolution(ModelPatcher(BaseModelStandIn(TinyUNet(), "SD20", "EPS"))) == 512
    ssd = type("SSD1B", (type("SDXL", (), {}),), {})
    m = _model("SD15")
    m.model.model_config = ssd()
    assert info.auto_base_resolution(m) == 1024
    dm = _model("Mystery")
    with pytest.raises(ValueError, match="set base_resolution"):
        _node(pack).execute(dm, **{**ARGS, "base_resolution": 0})
    dm.model.diffusion_model.base_resolution = 32   # reference models carry their own
    dm.model.diffusion_model.latent_downscale = 1
    assert info.auto_base_resolution(dm) == 32


class _Transformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(4, 8, 2, stride=2)
        self.blocks = torch.nn.Linear(8, 8)


@pytest.mark.parametrize("kwargs,match", [
    ({"base_resolution": 500}, "multiple of 8"),
    ({"start_percent": 0.6, "end_percent": 0.5}, "start_percent"),
    ({"boundaries": -1}, "boundaries must be"),
    ({"boundaries": 10_000}, "boundaries must be"),
])
def test_bad_inputs_fail_with_a_message(pack, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _node(pack).execute(_model(), **{**ARGS, **kwargs})


def test_transformer_is_refused(pack):
    m = ModelPatcher(BaseModelStandIn(_Transformer(), "Flux"))
    with pytest.raises(ValueError, match="PBC applies to convolutional U-Nets.*transformer"):
        _node(pack).execute(m, **ARGS)


@pytest.mark.parametrize("latent,expected_n", [((32, 32), 1), ((48, 48), 2), ((64, 64), 3), ((16, 40), 2)])
def test_auto_boundaries_is_the_explicit_count_for_the_size(pack, latent, expected_n):
    """boundaries 0 = auto: at 2x / 3x / 4x (and 2.5x on one axis: floor(2.5 + 0.5) - 1 = 2) the
    patched model equals the one patched with that N written out, and differs from N +- 1."""
    model = _model()
    x = _noise(*latent)
    (auto,) = _node(pack).execute(model, **{**ARGS, "boundaries": 0}).result
    got = auto.sample(x, SIGMAS)
    (explicit,) = _node(pack).execute(model, **{**ARGS, "boundaries": expected_n}).result
    assert torch.equal(got, explicit.sample(x, SIGMAS))
    (other,) = _node(pack).execute(model, **{**ARGS, "boundaries": expected_n + 1}).result
    assert not torch.equal(got, other.sample(x, SIGMAS))
