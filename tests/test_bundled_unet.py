"""The bundled reference U-Net: it loads, knows its base size, and draws valid scenes at 1x."""
import pytest
import torch

from posenc_lab.layout_metrics import layout_metrics
from posenc.checkpoint_files import BUNDLED_UNET
from posenc.reference_unet import load_reference_unet
from posenc_lab.unet_sampling import ddim_sample
from posenc_lab.scenes import CLASSES

# Share of 8 fixed seeds that must be layout-valid at 1x (the model card reports the rate at 64+
# seeds; 8 seeds keep CI fast, so the bar sits below the measured rate).
VALID_AT_1X = 0.75

pytestmark = pytest.mark.skipif(not BUNDLED_UNET.is_file(),
                                reason=f"bundled weights not present at {BUNDLED_UNET}")


@pytest.fixture(scope="module")
def bundled():
    return load_reference_unet()


def test_bundled_weights_load_with_their_metadata(bundled):
    meta = bundled.checkpoint_metadata
    assert bundled.base_resolution == 32 and meta["base_resolution"] == 32
    assert meta["classes"] == list(CLASSES)
    assert meta["schedule"]["prediction"] == "eps" and not meta.get("partial", False)
    assert BUNDLED_UNET.stat().st_size < 10 * 2 ** 20


def test_bundled_model_draws_valid_scenes_at_1x(bundled):
    seeds = list(range(1000, 1008))
    labels = torch.arange(8) % len(CLASSES)
    images = ddim_sample(bundled, labels, 32, 32, seeds, steps=20)
    report = layout_metrics(images, labels)
    assert report.valid.float().mean() >= VALID_AT_1X, report.summary()


def test_second_reference_unet_is_another_architecture_and_good_at_1x():
    """models/reference_unet_b.safetensors: other widths, depth, attention and downsampling than
    the first model (models/reference_unet_b.md), stored as float16, and also valid at 1x."""
    from posenc.checkpoint_files import BUNDLED_DIR
    path = BUNDLED_DIR / "reference_unet_b.safetensors"
    b = load_reference_unet(path)
    a = load_reference_unet()
    assert b.base_resolution == 32 and b.checkpoint_metadata["classes"] == list(CLASSES)
    for key, a_value, b_value in (("channel_mult", [1, 2, 4], [1, 2, 3]), ("num_res_blocks", 1, 2),
                                  ("attention", "lowest", "middle"), ("downsample", "conv", "avgpool")):
        assert a.config.get(key, a_value) == a_value and b.config[key] == b_value, key
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys() if "weight" in k)
    seeds = list(range(1000, 1008))
    labels = torch.arange(8) % len(CLASSES)
    report = layout_metrics(ddim_sample(b, labels, 32, 32, seeds, steps=20), labels)
    assert report.valid.float().mean() >= VALID_AT_1X, report.summary()
