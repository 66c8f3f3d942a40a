"""ComfyUI core's Deep Shrink (PatchModelAddDownscale) on the bundled reference U-Net, in real
ComfyUI (opt-in: set COMFYUI_PATH): the model honours core's block patches, and the lab's copy of
the algorithm (posenc_lab/deep_shrink.py, which the layout benchmark runs) gives the same output
as core's node."""
import os

import pytest
import torch

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="host test: set COMFYUI_PATH to a ComfyUI checkout to run it")


def _core_deep_shrink(model, block, factor):
    from comfy_extras.nodes_model_downscale import PatchModelAddDownscale
    return PatchModelAddDownscale.execute(model, block, factor, 0.0, 0.35, True, "bicubic",
                                          "bicubic").result[0]


def test_percent_to_sigma_is_comfyuis(loaded):
    from posenc_lab.deep_shrink import percent_to_sigma
    sampling = loaded.get_model_object("model_sampling")
    for p in (0.0, 0.1, 0.35, 0.5, 0.9, 1.0):
        assert abs(percent_to_sigma(p) - sampling.percent_to_sigma(p)) <= 1e-5 * max(1.0, percent_to_sigma(p))


def test_core_deep_shrink_equals_the_labs(loaded):
    from posenc.reference_unet import load_reference_unet
    from posenc_lab.deep_shrink import DeepShrinkModel, DeepShrinkSettings, first_downsample_block

    plain = load_reference_unet()
    block = first_downsample_block(plain)
    assert block == 2
    patched = _core_deep_shrink(loaded, block, 2.0)
    sampling = loaded.get_model_object("model_sampling")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, 64, generator=g)
    y = torch.tensor([0, 2])
    for t in (900.0, 300.0):       # inside the window 0-0.35 (sigma >= sigma(649)) and outside
        sigma = float(sampling.sigma(torch.tensor(t)))
        opts = dict(patched.model_options["transformer_options"])
        opts["sigmas"] = torch.full((2,), sigma)
        net = patched.model.diffusion_model
        with torch.no_grad():
            core = net(x, torch.full((2,), t), y=y, transformer_options=opts)
            lab_model = DeepShrinkModel(plain, DeepShrinkSettings(block=block, factor=2.0))
            lab_model.hook(0, 1, t, sigma)
            lab = lab_model(x, torch.full((2,), t), y)
            unpatched = plain(x, torch.full((2,), t), y)
        assert torch.allclose(core, lab, atol=1e-5), (t, (core - lab).abs().max())
        if t == 900.0:
            assert (core - unpatched).abs().max() > 1e-3, "core's Deep Shrink changed nothing"
        else:
            assert torch.equal(lab, unpatched)


def test_core_deep_shrink_changes_a_ksampler_run_above_the_base(pack, loaded):
    import nodes
    cond = pack.nodes.reference_models.ReferenceClassLabel.execute("day")[0]
    uncond = pack.nodes.reference_models.ReferenceClassLabel.execute("unconditional")[0]
    patched = _core_deep_shrink(loaded, 2, 2.0)

    def run(model, size):
        latent = {"samples": torch.zeros(1, 3, size, size)}
        return nodes.common_ksampler(model, 0, 6, 1.0, "euler", "normal", cond, uncond, latent)[0]["samples"]

    assert (run(patched, 64) - run(loaded, 64)).abs().max() > 1e-3
