"""The sampling window in real ComfyUI (opt-in: set COMFYUI_PATH): the hires-fix graph a user
builds (KSampler at the base size -> LatentUpscaleBy -> KSampler at denoise 0.5), run in-process
through core's own node code (nodes.common_ksampler, nodes.LatentUpscaleBy) on the bundled
reference U-Net (base 32x32, pixel space)."""
import logging
import os

import pytest
import torch

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="host test: set COMFYUI_PATH to a ComfyUI checkout to run it")


@pytest.fixture(scope="module")
def core_nodes():
    import nodes
    return nodes


def _cond(pack, label):
    return pack.nodes.reference_models.ReferenceClassLabel.execute(label)[0]


def _ksampler(pack, core_nodes, model, latent, steps, denoise, sampler="euler", scheduler="normal", seed=0):
    (out,) = core_nodes.common_ksampler(model, seed, steps, 1.0, sampler, scheduler, _cond(pack, "day"),
                                        _cond(pack, "unconditional"), latent, denoise=denoise)
    return out


@pytest.fixture(scope="module")
def first_pass(pack, loaded, core_nodes):
    """The first pass at the base size, 32x32, unpatched (EmptyLatentImage is zeros)."""
    return _ksampler(pack, core_nodes, loaded, {"samples": torch.zeros(1, 3, 32, 32)}, 10, 1.0)


def _pbc_default(pack, model, **kw):
    """The PBC Model Patcher as a user drops it in: every input at its default."""
    args = dict(boundaries=3, jitter=1, start_percent=0.0, end_percent=0.5, base_resolution=0, jitter_seed=0)
    (m,) = pack.nodes.pbc_patcher.PBCModelPatcher.execute(model, **{**args, **kw}).result
    return m


@pytest.mark.parametrize("scheduler", ["normal", "karras"])
def test_hires_fix_second_pass_is_patched_above_base(pack, loaded, core_nodes, first_pass, scheduler):
    """Denoise-0.5 second pass at 1.5x (48x48): PBC with its defaults changes it; at the base size
    (no upscale) the same pass is bit-identical with and without PBC."""
    (up,) = core_nodes.LatentUpscaleBy().upscale(first_pass, "nearest-exact", 1.5)
    assert up["samples"].shape[-2:] == (48, 48)
    patched = _pbc_default(pack, loaded)
    plain = _ksampler(pack, core_nodes, loaded, up, 10, 0.5, scheduler=scheduler)["samples"]
    got = _ksampler(pack, core_nodes, patched, up, 10, 0.5, scheduler=scheduler)["samples"]
    assert (got - plain).abs().max() > 1e-3, "PBC changed nothing in the denoise-0.5 pass at 1.5x"
    at_base = _ksampler(pack, core_nodes, loaded, first_pass, 10, 0.5, scheduler=scheduler)["samples"]
    assert torch.equal(_ksampler(pack, core_nodes, patched, first_pass, 10, 0.5, scheduler=scheduler)["samples"],
                       at_base)


@pytest.mark.parametrize("sampler,expected", [
    ("euler", [True] * 5 + [False] * 5),
    # dpm_2 calls the model again between sigmas[i] and sigmas[i+1] (not in the last step to 0)
    ("dpm_2", [True] * 10 + [False] * 9),
])
def test_second_pass_patches_the_first_half_of_its_steps(pack, loaded, core_nodes, first_pass, sampler, expected):
    """With ComfyUI's own sample_sigmas: 0-0.5 is active in exactly the model calls of the first
    5 of the pass's 10 steps (cfg 1: one call per evaluation)."""
    import comfy.patcher_extension as pe
    (up,) = core_nodes.LatentUpscaleBy().upscale(first_pass, "nearest-exact", 1.5)
    patched = _pbc_default(pack, loaded)
    runtime = next(iter(patched.object_patches.values())).runtime
    active = []

    def spy(executor, x, *args, **kwargs):
        active.append(runtime.active is not None)
        return executor(x, *args, **kwargs)
    patched.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "zz_spy", spy)
    _ksampler(pack, core_nodes, patched, up, 10, 0.5, sampler=sampler)
    assert active == expected


def test_idle_pass_logs_one_warning(pack, loaded, core_nodes, first_pass, caplog):
    """A window that selects no step of the pass (start = end) at 1.5x: one warning that says why;
    at the base size: none."""
    (up,) = core_nodes.LatentUpscaleBy().upscale(first_pass, "nearest-exact", 1.5)
    idle = _pbc_default(pack, loaded, start_percent=0.5, end_percent=0.5)
    with caplog.at_level(logging.WARNING):
        out = _ksampler(pack, core_nodes, idle, up, 10, 0.5)["samples"]
    messages = [r.getMessage() for r in caplog.records if "PBC Model Patcher changed nothing" in r.getMessage()]
    assert len(messages) == 1
    assert "run of 10 steps" in messages[0] and "covers no step" in messages[0]
    assert "48x48" in messages[0] and "32x32" in messages[0]
    assert torch.equal(out, _ksampler(pack, core_nodes, loaded, up, 10, 0.5)["samples"])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _ksampler(pack, core_nodes, idle, first_pass, 10, 0.5)
    assert not [r for r in caplog.records if "changed nothing" in r.getMessage()]
