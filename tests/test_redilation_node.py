"""Re-dilation Patcher through the stand-in ModelPatcher (tests/host/test_host_reference.py runs it
inside real ComfyUI).  The reference is the same tiny U-Net rebuilt with dilated nn.Conv2d layers."""
import copy

import pytest
import torch

from conftest import registered_nodes
from standin.model_patcher import BaseModelStandIn, ModelPatcher
from tiny_unet import TinyUNet

SIGMAS = [14.6, 6.0, 2.0, 0.5, 0.0]
ARGS = dict(start_percent=0.0, end_percent=1.0, base_resolution=128)   # base 128 px = 16 latent cells
DILATED = ("mid", "up.0", "up.1")   # stride-1 3x3 convs without the input and output convs


def _model(config="SD15", seed=0):
    torch.manual_seed(seed)
    return ModelPatcher(BaseModelStandIn(TinyUNet(), config))


def _node(pack):
    return pack.nodes.redilation_patcher.RedilationPatcher


def _noise(h, w, b=2, seed=1):
    return torch.randn(b, 4, h, w, generator=torch.Generator().manual_seed(seed)) * 14.6


def _dilated_copy(model, fh, fw):
    """The reference: a deep copy whose dilatable convs are nn.Conv2d with dilation (fh, fw)."""
    ref = copy.deepcopy(model.model.diffusion_model)
    for name, conv in ref.named_modules():
        if name in DILATED:
            conv.dilation, conv.padding = (fh, fw), (fh, fw)
    return ModelPatcher(BaseModelStandIn(ref, "SD15"))


def test_inputs_are_the_contract(pack):
    node = pack.nodes.redilation_patcher.RedilationPatcher
    req = node.INPUT_TYPES()["required"]
    assert list(req) == ["model", "start_percent", "end_percent", "base_resolution"]
    assert [req[k][0] for k in req] == ["MODEL", "FLOAT", "FLOAT", "INT"]
    assert (req["start_percent"][1]["default"], req["end_percent"][1]["default"],
            req["base_resolution"][1]["default"]) == (0.0, 0.5, 0)
    assert all(opts.get("tooltip") for _, opts in req.values())
    assert node.RETURN_TYPES == ["MODEL"] and node.CATEGORY == "model_patches/unet"
    assert registered_nodes(pack)["RedilationPatcher"] == (node, "Re-dilation Patcher (ScaleCrafter)")


def test_patches_the_inner_convs_only(pack):
    (patched,) = _node(pack).execute(_model(), **ARGS).result
    assert sorted(k.split(".", 1)[1].rsplit(".", 1)[0] for k in patched.object_patches) == sorted(DILATED)


@pytest.mark.parametrize("size,factors", [((32, 32), (2, 2)), ((16, 48), (1, 3)), ((33, 15), (2, 1))])
def test_matches_dilated_reference_and_original_stays_unpatched(pack, size, factors):
    model = _model()
    x = _noise(*size)
    plain_before = model.clone().sample(x, SIGMAS)
    (patched,) = _node(pack).execute(model, **ARGS).result
    got = patched.sample(x, SIGMAS)
    torch.testing.assert_close(got, _dilated_copy(model, *factors).sample(x, SIGMAS), rtol=1e-5, atol=1e-5)
    assert (got - plain_before).abs().max() > 1e-3, "re-dilation changed nothing above the base size"
    assert torch.equal(model.clone().sample(x, SIGMAS), plain_before)
    for m in model.model.diffusion_model.modules():
        fwd = vars(m).get("_conv_forward")
        assert fwd is None or getattr(fwd, "__func__", None) is type(m)._conv_forward


@pytest.mark.parametrize("size", [(16, 16), (8, 16), (20, 12)])   # factors round to 1 on both axes
def test_at_or_near_base_is_bit_identical(pack, size):
    model = _model()
    x = _noise(*size)
    (patched,) = _node(pack).execute(model, **ARGS).result
    assert torch.equal(patched.sample(x, SIGMAS), model.clone().sample(x, SIGMAS))


def test_window(pack):
    model = _model()
    x = _noise(32, 32)
    (patched,) = _node(pack).execute(model, **{**ARGS, "end_percent": 0.5}).result
    plain = model.clone()
    patched.patch_model()
    try:
        late, early = patched.diffusion_call(x, 0.01, SIGMAS), patched.diffusion_call(x, 14.0, SIGMAS)
    finally:
        patched.unpatch_model()
    assert torch.equal(late, plain.diffusion_call(x, 0.01))
    ref = _dilated_copy(model, 2, 2)
    torch.testing.assert_close(early, ref.diffusion_call(x, 14.0), rtol=1e-5, atol=1e-5)


def test_auto_base_resolution(pack):
    """SD 1.5 auto base 512 px = 64 latent cells: 128 cells is 2x; a 'Mystery' model must say so."""
    (patched,) = _node(pack).execute(_model("SD15"), **{**ARGS, "base_resolution": 0}).result
    fn = patched.object_patches["diffusion_model.mid._conv_forward"]
    assert fn.runtime.step_for(128, 64, 3.0) == (2, 1)
    assert fn.runtime.step_for(64, 64, 3.0) is None
    with pytest.raises(ValueError, match="set base_resolution"):
        _node(pack).execute(_model("Mystery"), **{**ARGS, "base_resolution": 0})


def test_composes_with_pbc(pack):
    """PBC early, re-dilation late: each applies in its own window, PBC's patch stays underneath."""
    model = _model()
    x = _noise(32, 32)
    (pbc,) = pack.nodes.pbc_patcher.PBCModelPatcher.execute(
        model, boundaries=3, jitter=0, start_percent=0.0, end_percent=0.5, base_resolution=128, jitter_seed=0).result
    (both,) = _node(pack).execute(pbc, **{**ARGS, "start_percent": 0.5}).result

    def call(m, sigma):
        m.patch_model()
        try:
            return m.diffusion_call(x, sigma, SIGMAS)
        finally:
            m.unpatch_model()
    torch.testing.assert_close(call(both, 14.0), call(pbc, 14.0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(call(both, 0.05), call(_dilated_copy(model, 2, 2), 0.05), rtol=1e-5, atol=1e-5)
    assert not torch.equal(call(both, 14.0), call(model.clone(), 14.0))


class _Transformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(4, 8, 2, stride=2)
        self.blocks = torch.nn.Linear(8, 8)


def test_transformer_is_refused(pack):
    m = ModelPatcher(BaseModelStandIn(_Transformer(), "Flux"))
    with pytest.raises(ValueError, match="Re-dilation applies to convolutional U-Nets.*transformer"):
        _node(pack).execute(m, **ARGS)


@pytest.mark.parametrize("kwargs,match", [
    ({"base_resolution": 500}, "multiple of 8"),
    ({"start_percent": 0.6, "end_percent": 0.5}, "start_percent"),
])
def test_bad_inputs_fail_with_a_message(pack, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _node(pack).execute(_model(), **{**ARGS, **kwargs})
