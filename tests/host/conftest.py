"""Fixtures shared by the host tests (real ComfyUI; see tests/conftest.py for `pack`)."""
import pytest


@pytest.fixture(scope="module")
def loaded(pack):
    """The bundled reference U-Net as the Reference Model Loader gives it (a ComfyUI MODEL)."""
    from posenc.reference_unet import BUNDLED_UNET
    if not BUNDLED_UNET.is_file():
        pytest.skip("bundled reference weights not present")
    (model,) = pack.nodes.reference_models.ReferenceModelLoader.execute(BUNDLED_UNET.name).result
    return model
