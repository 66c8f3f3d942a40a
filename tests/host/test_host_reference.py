"""Reference models inside real ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout)."""
import os

import pytest
import torch

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="host test: set COMFYUI_PATH to a ComfyUI checkout to run it")


def _cond(pack, label):
    return pack.nodes.reference_models.ReferenceClassLabel.execute(label)[0]


def test_loader_carries_base_size_and_schedule(pack, loaded):
    from posenc import schedule
    dm = loaded.model.diffusion_model
    assert dm.base_resolution == 32 and dm.latent_downscale == 1
    assert loaded.model.latent_format.latent_channels == 3
    ms = loaded.get_model_object("model_sampling")
    torch.testing.assert_close(ms.sigmas.double(), schedule.sigmas(), rtol=1e-5, atol=1e-6)


def test_apply_model_is_the_core_eps_model(pack, loaded):
    """ComfyUI's denoised output equals x - sigma * eps of the core model at t(sigma)."""
    from posenc import schedule
    from posenc.reference_unet import load_reference_unet
    core = load_reference_unet()
    x = torch.randn(2, 3, 32, 32)
    sigma = torch.tensor([3.0, 0.5])
    y = torch.tensor([1.0, 3.0])
    got = loaded.model.apply_model(x, sigma, y=y)
    t = schedule.sigma_to_t(sigma)
    with torch.no_grad():
        eps = core(x / (sigma.view(-1, 1, 1, 1) ** 2 + 1).sqrt(), t, y.long())
    torch.testing.assert_close(got, x - sigma.view(-1, 1, 1, 1) * eps, rtol=1e-4, atol=1e-4)


def test_ksampler_draws_valid_scenes_and_runs_wrappers(pack, loaded):
    import comfy.patcher_extension as pe
    import comfy.sample
    from posenc_lab.layout_metrics import layout_metrics
    from posenc_lab.scenes import CLASSES

    calls = []

    def spy(executor, x, *args, **kwargs):
        calls.append(tuple(x.shape))
        return executor(x, *args, **kwargs)

    model = loaded.clone()
    model.add_wrapper_with_key(pe.WrappersMP.DIFFUSION_MODEL, "test_spy", spy)
    images = []
    for seed in range(8):
        latent = torch.zeros(1, 3, 32, 32)
        noise = comfy.sample.prepare_noise(latent, seed)
        out = comfy.sample.sample(model, noise, 20, 1.0, "euler", "normal",
                                  _cond(pack, CLASSES[seed % 4]), _cond(pack, "unconditional"),
                                  latent, disable_pbar=True, seed=seed)
        images.append(((out + 1) / 2).clamp(0, 1))
    assert calls and calls[0][1:] == (3, 32, 32)
    report = layout_metrics(torch.cat(images), torch.arange(8) % 4)
    assert report.valid.float().mean() >= 0.5


def test_unknown_label_is_a_clear_error(pack):
    with pytest.raises(ValueError, match="class_label 'sunrise' is not one of its choices"):
        pack.nodes.reference_models.ReferenceClassLabel.execute("sunrise")


def test_pbc_node_reads_the_base_size(pack, loaded):
    """PBC Model Patcher (when present) leaves 1x alone and changes 2x, without being told 32."""
    import importlib

    import comfy.sample
    try:
        pbc = importlib.import_module(pack.__name__ + ".nodes.pbc_patcher")
    except ImportError:
        pytest.skip("PBC Model Patcher not in this branch")

    def run(model, size):
        latent = torch.zeros(1, 3, size, size)
        noise = comfy.sample.prepare_noise(latent, 0)
        return comfy.sample.sample(model, noise, 4, 1.0, "euler", "normal", _cond(pack, "day"),
                                   _cond(pack, "unconditional"), latent, disable_pbar=True, seed=0)

    (patched,) = pbc.PBCModelPatcher.execute(loaded, boundaries=3, jitter=0, start_percent=0.0,
                                             end_percent=1.0, base_resolution=0, jitter_seed=0).result
    assert torch.equal(run(patched, 32), run(loaded, 32))
    plain = run(loaded, 64)
    assert (run(patched, 64) - plain).abs().max() > 1e-3
    assert torch.equal(run(loaded, 64), plain)


def test_redilation_node_in_comfyui(pack, loaded):
    """Re-dilation Patcher on the reference model through KSampler's path: 1x bit-identical, 2x
    changed, the original MODEL unchanged afterwards, and within the window each patched conv runs
    dilated by 2 (checked against the same conv with dilation 2 applied by hand)."""
    import comfy.sample
    import torch.nn.functional as F
    from posenc.redilation import dilatable_convs

    def run(model, size):
        latent = torch.zeros(1, 3, size, size)
        noise = comfy.sample.prepare_noise(latent, 0)
        return comfy.sample.sample(model, noise, 4, 1.0, "euler", "normal", _cond(pack, "day"),
                                   _cond(pack, "unconditional"), latent, disable_pbar=True, seed=0)

    node = pack.nodes.redilation_patcher.RedilationPatcher
    (patched,) = node.execute(loaded, start_percent=0.0, end_percent=1.0, base_resolution=0).result
    convs = dilatable_convs(loaded.model.diffusion_model)
    assert len(patched.object_patches) == len(convs) > 0
    assert torch.equal(run(patched, 32), run(loaded, 32))
    plain = run(loaded, 64)
    assert (run(patched, 64) - plain).abs().max() > 1e-3
    assert torch.equal(run(loaded, 64), plain)

    name, conv = convs[0]
    fn = patched.object_patches[f"diffusion_model.{name}._conv_forward"]
    x = torch.randn(1, conv.in_channels, 64, 64)
    with fn.runtime.step(64, 64, 1.0):
        got = fn(x, conv.weight, conv.bias)
    torch.testing.assert_close(got, F.conv2d(x, conv.weight, conv.bias, 1, 2, 2))


def test_dit_class_label_into_the_reference_model_is_refused(pack, loaded):
    """Each label node's conditioning is refused by the other family's model (issue #15)."""
    import nodes as comfy_nodes
    dit_cond = [[torch.zeros(1, 1, 1), {"posenc_dit_class_label": 1}]]     # what DiT Class Label gives
    latent = {"samples": torch.zeros(1, 3, 32, 32)}
    with pytest.raises(ValueError, match="Reference model: got 'DiT Class Label' conditioning.*"
                                         "connect 'Reference Class Label'"):
        comfy_nodes.KSampler().sample(loaded, 0, 2, 1.0, "euler", "normal", dit_cond, dit_cond, latent)
    plain = [[torch.zeros(1, 1, 1), {}]]
    with pytest.raises(ValueError, match="conditioning without a class label"):
        comfy_nodes.KSampler().sample(loaded, 0, 2, 1.0, "euler", "normal", plain, plain, latent)


def test_sd_empty_latent_into_the_reference_model_is_refused(pack, loaded):
    """An SD Empty Latent Image (4 channels, 1/8 size) used to give a silent 16x16 image here."""
    import nodes as comfy_nodes
    LatentChannelsError = pack.nodes.latent_channels.LatentChannelsError
    sd_latent = comfy_nodes.EmptyLatentImage().generate(128, 128, 1)[0]
    with pytest.raises(LatentChannelsError, match="reference U-Net.*takes a 3-channel latent; this one "
                                                  "has 4 channels.*EmptyChromaRadianceLatentImage"):
        comfy_nodes.KSampler().sample(loaded, 0, 2, 1.0, "euler", "normal", _cond(pack, "day"),
                                      _cond(pack, "unconditional"), sd_latent)
    # the right latent still samples
    from comfy_extras.nodes_chroma_radiance import EmptyChromaRadianceLatentImage
    ok = EmptyChromaRadianceLatentImage.execute(width=32, height=32, batch_size=1).result[0]
    out = comfy_nodes.KSampler().sample(loaded, 0, 2, 1.0, "euler", "normal", _cond(pack, "day"),
                                        _cond(pack, "unconditional"), ok)[0]["samples"]
    assert out.shape == (1, 3, 32, 32)
