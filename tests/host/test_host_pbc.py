"""PBC Model Patcher inside real ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout)."""
import json
import os

import pytest
import torch

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="host test: set COMFYUI_PATH to a ComfyUI checkout to run it")

from reference_pbc import reference_conv  # noqa: E402

# base_resolution 256 instead of the models' own (checked below) keeps 2x at 512 px: CPU-sized.
ARGS = dict(boundaries=31, jitter=1, start_percent=0.0, end_percent=0.5, base_resolution=256, jitter_seed=3)


def _reference(pack, monkeypatch):
    def ref(x, weight, bias, plan):
        s = plan.spec
        return reference_conv(x, weight, bias, plan.boundaries, (s.sh, s.sw), (s.dh, s.dw), s.groups).to(x.dtype)
    monkeypatch.setattr(pack.posenc.pbc, "valued_padding_conv2d", ref)


@pytest.mark.parametrize("kind,base,size", [("SD15", 512, (512, 512)), ("SD15", 512, (264, 776)),
                                            ("SDXL", 1024, (512, 512)), ("SDXL", 1024, (256, 768))])
def test_sampling_matches_reference_and_clone_isolation(pack, monkeypatch, kind, base, size):
    from host.comfy_models import build, ksample
    model = build(kind)
    node = pack.nodes.pbc_patcher.PBCModelPatcher
    assert pack.nodes.model_info.auto_base_resolution(model) == base
    w, h = size
    plain = ksample(model, kind, w, h)
    (patched,) = node.execute(model, **ARGS).result
    fast = ksample(patched, kind, w, h)
    assert torch.isfinite(fast).all()
    assert (fast - plain).abs().max() > 1e-3, "PBC changed nothing above the base size"
    assert torch.equal(ksample(model, kind, w, h), plain), "the unpatched MODEL changed"
    _reference(pack, monkeypatch)
    ref = ksample(patched, kind, w, h)
    torch.testing.assert_close(fast, ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("kind,size", [("SD15", (512, 512)), ("SD15", (384, 512)), ("SDXL", (1024, 1024))])
def test_at_base_is_bit_identical(pack, kind, size):
    from host.comfy_models import build, ksample
    model = build(kind)
    (patched,) = pack.nodes.pbc_patcher.PBCModelPatcher.execute(model, **{**ARGS, "base_resolution": 0}).result
    assert torch.equal(ksample(patched, kind, *size), ksample(model, kind, *size))


def test_composes_with_freeu_lora_and_second_pbc(pack, monkeypatch):
    from comfy_extras.nodes_freelunch import FreeU_V2
    from host.comfy_models import build, ksample
    model = build("SD15")
    key = "diffusion_model.input_blocks.1.0.in_layers.2.weight"
    w = model.get_model_object(key)
    lora = model.clone()
    lora.add_patches({key: (torch.randn_like(w) * 0.5,)}, 1.0)       # a plain weight diff, as LoRA loaders add
    (freeu,) = FreeU_V2().patch(lora, 1.3, 1.4, 0.9, 0.2)
    node = pack.nodes.pbc_patcher.PBCModelPatcher
    (pbc,) = node.execute(freeu, **ARGS).result
    (pbc2,) = node.execute(pbc, **{**ARGS, "boundaries": 3, "start_percent": 0.5, "end_percent": 1.0}).result
    size = (512, 512)
    no_lora = ksample(node.execute(FreeU_V2().patch(model, 1.3, 1.4, 0.9, 0.2)[0], **ARGS)[0], "SD15", *size)
    fast = ksample(pbc2, "SD15", *size)
    assert (fast - no_lora).abs().max() > 1e-3, "the LoRA weight patch was lost under PBC"
    assert (fast - ksample(pbc, "SD15", *size)).abs().max() > 1e-4, "the second PBC node did nothing"
    _reference(pack, monkeypatch)
    torch.testing.assert_close(fast, ksample(pbc2, "SD15", *size), rtol=1e-3, atol=1e-3)


def test_pack_loads_through_comfyui_custom_node_loader(tmp_path):
    import asyncio

    import nodes as comfy_nodes
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    link = tmp_path / "Some-Folder Name"
    link.symlink_to(root, target_is_directory=True)
    assert asyncio.run(comfy_nodes.load_custom_node(str(link)))
    record = json.loads(open(os.path.join(root, "tests", "fixtures", "node_contract_v1.json")).read())
    for node_id, info in record["nodes"].items():   # through comfy_entrypoint, with display names
        assert comfy_nodes.NODE_CLASS_MAPPINGS[node_id].GET_SCHEMA().node_id == node_id
        assert comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS[node_id] == info["display_name"]
