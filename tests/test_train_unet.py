"""The training command: a tiny run writes loadable weights and a card; bundled weights are safe."""
import pytest

from posenc import checkpoint_files
from posenc_lab import run_records, train_unet
from posenc_lab.__main__ import main
from posenc.reference_unet import load_reference_unet


def test_tiny_run_writes_weights_and_card(tmp_path):
    out = tmp_path / "tiny.safetensors"
    summary = train_unet.train_unet(out, steps=2, seed=3, batch_size=4, eval_seeds=2, eval_steps=2,
                               config={"model_channels": 8}, progress=False, command="test")
    model = load_reference_unet(out)
    assert model.config["model_channels"] == 8
    assert model.checkpoint_metadata["steps"] == 2 and model.checkpoint_metadata["seed"] == 3
    card = out.with_suffix(".md").read_text()
    assert "seed 3, 2 steps" in card and "layout valid" in card
    assert len(summary["loss_curve"]) == 2


def test_refuses_to_overwrite_bundled_weights(tmp_path, monkeypatch):
    bundled = tmp_path / "models"
    bundled.mkdir()
    target = bundled / "reference_unet.safetensors"
    target.write_bytes(b"precious")
    monkeypatch.setattr(checkpoint_files, "BUNDLED_DIR", bundled)
    with pytest.raises(FileExistsError, match="--overwrite"):
        run_records.check_output(target, overwrite=False)
    run_records.check_output(target, overwrite=True)
    run_records.check_output(tmp_path / "elsewhere.safetensors", overwrite=False)
    assert main(["train-unet", "--out", str(target), "--steps", "1", "--no-progress"]) == 2
    assert target.read_bytes() == b"precious"


def test_cli_config_option_sets_the_architecture(tmp_path):
    out = tmp_path / "variant.safetensors"
    cfg = '{"model_channels": 8, "attention": "none", "downsample": "avgpool"}'
    assert main(["train-unet", "--out", str(out), "--steps", "1", "--batch-size", "2",
                 "--eval-seeds", "0", "--config", cfg, "--no-progress"]) == 0
    model = load_reference_unet(out)
    assert model.config["attention"] == "none" and model.config["downsample"] == "avgpool"
    assert model.config["model_channels"] == 8
