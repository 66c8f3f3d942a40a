"""Error hints that fit the situation (issue 33): when a node refuses the MODEL it was given, the
message names what was connected and says what to use for *that*.  A DiT that came from the
RPE-2D DiT Loader is not told to "use the RPE-2D DiT Loader instead"; a U-Net wired into the DiT
Position Mode is pointed at PBC, a Flux at the DiT Position Mode, and so on."""
from types import SimpleNamespace

import pytest
import torch

from conftest import load_pack
from standin.model_patcher import BaseModelStandIn, ModelPatcher

PACK = load_pack()
N = PACK.nodes


def pack_dit():
    """A DiT as the RPE-2D DiT Loader makes it (the pack's ComfyDiT, its own base resolution)."""
    from posenc.dit import DiTConfig
    cfg = DiTConfig(in_channels=4, patch_size=2, hidden_size=32, depth=1, num_heads=2, mlp_hidden=64,
                    num_classes=0, class_dropout=False, learn_sigma=True, grid=(4, 4), max_positions=(4, 4))
    dm = N.rpe2d_loader.ComfyDiT(cfg)
    dm.base_resolution = 64
    return ModelPatcher(BaseModelStandIn(dm, "RPE2DDiTConfig"))


class _Transformer(torch.nn.Module):
    """A transformer's shape: an unpadded patch embedding and linear blocks, no padded 3x3 conv."""

    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(4, 8, 2, stride=2)
        self.blocks = torch.nn.Linear(8, 8)


def transformer(config):
    return ModelPatcher(BaseModelStandIn(_Transformer(), config))


def sdxl_unet():
    return ModelPatcher(BaseModelStandIn(torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1)), "SDXL"))


def reference_unet():
    from posenc.checkpoint_files import BUNDLED_UNET
    unet = PACK.posenc.reference_unet.load_reference_unet(BUNDLED_UNET)
    return ModelPatcher(BaseModelStandIn(unet, "ReferenceUNetConfig"))


def other_model():
    """No padded convs and no transformer in its name (an audio model, say)."""
    return ModelPatcher(BaseModelStandIn(torch.nn.Linear(4, 4), "StableAudio1"))


def _pbc(model):
    N.pbc_patcher.PBCModelPatcher.execute(model, 3, 1, 0.0, 0.5, 0, 0)


def _redilation(model):
    N.redilation_patcher.RedilationPatcher.execute(model, 0.0, 0.5, 0)


def _visualizer(model):
    N.boundary_visualizer.BoundaryVisualizer.execute(width=64, height=64, base_resolution=0, boundaries=3,
                                                     jitter=0, jitter_seed=0, model=model)


def _position_mode(model):
    N.dit_position_mode.DiTPositionMode.execute(model, "yarn", 0, 0)


def _class_label(model):
    N.rpe2d_loader.DiTClassLabel.execute(model, 0)


def message(node, model) -> str:
    with pytest.raises(ValueError) as e:
        node(model)
    return str(e.value)


# (node, what is connected, words the hint must have, words it must not have)
CASES = [
    *[(node, pack_dit, ["DiT from the RPE-2D DiT Loader", "DiT Position Mode"], ["Loader instead"])
      for node in (_pbc, _redilation, _visualizer)],
    (_pbc, lambda: transformer("Flux"), ["Flux (a transformer)", "use DiT Position Mode"], ["RPE-2D DiT Loader"]),
    (_pbc, lambda: transformer("SD3"), ["SD3 (a transformer)", "use DiT Position Mode"], ["RPE-2D DiT Loader"]),
    (_pbc, lambda: transformer("QwenImage"), ["QwenImage (a transformer)", "use DiT Position Mode"],
     ["RPE-2D DiT Loader"]),
    (_pbc, lambda: transformer("HiDream"), ["HiDream (a transformer)", "use DiT Position Mode"],
     ["RPE-2D DiT Loader"]),
    (_pbc, lambda: transformer("HunyuanImage21"), ["HunyuanImage21 (a transformer)", "use DiT Position Mode"],
     ["RPE-2D DiT Loader"]),
    (_pbc, lambda: transformer("CosmosVideo"), ["CosmosVideo (a transformer)", "no patch for this transformer yet",
                                                 "HiDream", "HunyuanVideo"], ["use DiT Position Mode instead"]),
    (_pbc, other_model, ["StableAudio1", "Connect the MODEL of an SD 1.x, SD 2.x or SDXL checkpoint"],
     ["DiT", "transformer"]),
    (_position_mode, sdxl_unet, ["SDXL, is not a supported DiT", "convolutional U-Net", "PBC Model Patcher"], []),
    (_position_mode, reference_unet, ["ReferenceUNetConfig", "convolutional U-Net", "PBC Model Patcher"], []),
    (_position_mode, lambda: transformer("ChromaRadiance"), ["Chroma Radiance (pixel space", "not supported yet"],
     ["PBC"]),
    (_position_mode, lambda: transformer("CosmosVideo"), ["CosmosVideo", "no adapter in this pack yet"], ["PBC"]),
    (_position_mode, lambda: transformer("HunyuanImage21Refiner"),
     ["HunyuanImage21Refiner, is not a supported DiT", "HunyuanImage 2.1 refiner is not supported", "16 px"], ["PBC"]),
    (_position_mode, lambda: transformer("HunyuanVideo15_SR_Distilled"),
     ["HunyuanVideo15_SR_Distilled", "super-resolution model is not supported"], ["PBC"]),
    (_class_label, reference_unet, ["reference U-Net", "'Reference Class Label'"], ["not a DiT from"]),
    (_class_label, lambda: transformer("Flux"), ["Flux, is not a DiT from the RPE-2D DiT Loader", "CLIP Text Encode"],
     ["Reference"]),
]


@pytest.mark.parametrize("node,connect,say,not_say", CASES,
                         ids=[f"{c[0].__name__.strip('_')}-{i}" for i, c in enumerate(CASES)])
def test_the_hint_fits_what_is_connected(node, connect, say, not_say):
    text = message(node, connect())
    assert [w for w in say if w not in text] == [], text
    assert [w for w in not_say if w in text] == [], text


def test_not_a_model_at_all_names_what_came():
    text = message(_pbc, SimpleNamespace())
    assert "not a diffusion MODEL" in text and "SimpleNamespace" in text
