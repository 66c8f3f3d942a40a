"""The command line (python -m posenc_lab ...): dispatch, the demo, train-dit on scenes, bad input."""
import os
import subprocess
import sys

import pytest
from PIL import Image
from safetensors import safe_open

from posenc import checkpoint_files
from posenc_lab import train_dit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "posenc_lab", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_writes_a_labelled_png_and_prints_the_table(tmp_path):
    out = tmp_path / "demo.png"
    r = run_cli("demo", "--out", str(out), "--seeds", "2", "--scale", "2", "--steps", "2",
                "--methods", "direct,pbc3", "--threads", "1", "--no-rpe2d")
    assert r.returncode == 0, r.stderr
    # One 1x column plus one per method; rows = seeds.
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("| ") and "method" not in ln]
    assert not (tmp_path / "demo_rpe2d.png").exists()
    assert [ln.split("|")[1].strip() for ln in lines] == [
        "1x direct (32x32)", "2x direct (64x64)", "2x PBC N=3 (64x64)"]
    # progress while sampling: one line per column, before its images exist
    progress = [ln for ln in r.stderr.splitlines() if ln.startswith("[demo.png ")]
    assert [ln.split("] ")[0] for ln in progress] == ["[demo.png 1/3", "[demo.png 2/3", "[demo.png 3/3"]
    assert all("sampling" in ln and ln.rstrip().endswith(" s") for ln in progress)
    img = Image.open(out)
    # 3 columns of 256-px cells and 2 rows: wider than 3 cells, taller than 2.
    assert img.width > 3 * 256 and img.height > 2 * 256
    assert len(img.convert("L").getcolors(maxcolors=1 << 16)) > 10  # not a blank canvas


def test_demo_rejects_bad_arguments(tmp_path):
    r = run_cli("demo", "--out", str(tmp_path / "x.png"), "--methods", "pbc3,warp")
    assert r.returncode == 2 and "warp" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_pass_through_commands_reach_their_own_parsers():
    r = run_cli("train-dit", "--help")
    assert r.returncode == 0 and "--scenes" in r.stdout and "posenc_lab train-dit" in r.stdout
    r = run_cli("bench-dit", "--help")
    assert r.returncode == 0 and "--preset" in r.stdout
    r = run_cli("--help")
    assert "train-dit" in r.stdout and "bench-dit" in r.stdout and "demo" in r.stdout


def test_scene_data_is_pixel_space_in_minus_one_one():
    x, y = train_dit.scene_data(6, (8, 12), seed=3)
    assert x.shape == (6, 3, 8, 12) and y.shape == (6,)
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.2 and x.max() > 0.2
    with pytest.raises(ValueError, match="--scenes"):
        train_dit.scene_data(0, 8)


def test_train_dit_on_scenes_writes_a_pixel_checkpoint(tmp_path):
    out = tmp_path / "d.safetensors"
    rc = train_dit.main(["--scenes", "16", "--grid", "4", "--patch-size", "2", "--hidden-size",
                         "16", "--depth", "1", "--num-heads", "2", "--steps", "2",
                         "--batch-size", "4", "--max-positions", "8", "--no-progress",
                         "--out", str(out)])
    assert rc == 0
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        assert f.get_tensor("x_embedder.proj.weight").shape[1] == 3
    assert meta["posenc.latent_format"] == "pixel"


def test_train_dit_refuses_to_overwrite_bundled_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint_files, "BUNDLED_DIR", tmp_path)
    target = tmp_path / "tiny.safetensors"
    target.write_bytes(b"x")
    rc = train_dit.main(["--scenes", "4", "--out", str(target), "--steps", "1"])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"x"


def test_rpe2d_panel_of_the_demo(tmp_path):
    from test_rpe2d_bench import tiny_dit

    from posenc_lab.demo import run_rpe2d_demo
    models = {"vanilla": tiny_dit("fixed", 8, 0), "rpe2d": tiny_dit("rpe2d", 16, 1)}
    out = tmp_path / "panel.png"
    table = run_rpe2d_demo(str(out), seeds=2, scale=2, steps=2, models=models)
    names = [ln.split("|")[1].strip() for ln in table.splitlines()
             if ln.startswith("| ") and "method" not in ln]
    assert names == ["1x vanilla (32x32)", "2x vanilla+first (64x64)",
                     "2x vanilla+interpolate (64x64)", "2x rpe2d+linspace (64x64)"]
    img = Image.open(out)
    assert img.width > 4 * 256 and img.height > 2 * 256
