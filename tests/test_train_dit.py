"""RPE-2D training (posenc_lab/train_dit.py): data, augmentation, positions, metadata, torchrun."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from posenc import dit as ditmod
from posenc_lab import train_dit
from posenc.dit import load_dit

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_folder(path, n_files=2, per_file=3, C=4, H=12, W=16, labels=True):
    path.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n_files):
        d = {"latents": torch.randn(per_file, C, H, W, generator=g)}
        if labels:
            d["labels"] = torch.arange(per_file) % 3
        save_file(d, str(path / f"part{i}.safetensors"))
    return str(path)


def tiny(**kw):
    base = dict(grid=(4, 4), max_positions=(12, 10), hidden_size=32, depth=1, num_heads=2,
                steps=3, batch_size=4, progress=False, seed=0)
    base.update(kw)
    return train_dit.TrainConfig(**base)


def meta_of(path):
    with safe_open(path, framework="pt") as f:
        return f.metadata()


def test_folder_training_writes_loadable_checkpoint_with_metadata(tmp_path):
    data = make_folder(tmp_path / "lat")
    out = str(tmp_path / "m.safetensors")
    assert train_dit.main(["--data", data, "--out", out, "--grid", "4x6", "--max-positions", "16x20",
                           "--hidden-size", "32", "--depth", "1", "--num-heads", "2", "--steps", "2",
                           "--batch-size", "2", "--no-progress"]) == 0
    meta = meta_of(out)
    assert meta["posenc.max_positions"] == "16x20" and meta["posenc.train_grid"] == "4x6"
    assert meta["posenc.position_sampling"] == "rpe2d"
    cond = json.loads(meta["posenc.conditioning"])
    assert cond["classes"] == 3 and cond["micro"].startswith("crop-v1") and cond["crop_prob"] == 0.5
    assert json.loads(meta["posenc.schedule"])["comfy_beta_schedule"] == "sqrt_linear"
    model, info = load_dit(out)
    cfg = info["config"]
    assert cfg.grid == (4, 6) and cfg.max_positions == (16, 20) and cfg.num_heads == 2
    assert cfg.micro_conditioning and cfg.num_classes == 3 and not info["vanilla"]
    # the trained model samples at 2x and non-square with the default position mode
    assert model(torch.randn(1, 4, 16, 24), torch.tensor([5.0]), torch.tensor([1]),
                 mode="linspace").shape == (1, 4, 16, 24)


def test_in_memory_function_data_and_fixed_positions(tmp_path):
    calls = []

    def data():
        calls.append(1)
        return torch.randn(6, 3, 8, 8), None

    out = str(tmp_path / "v.safetensors")
    model, info = train_dit.train(tiny(out=out, position_sampling="fixed", micro_conditioning=False,
                                       crop_prob=0.0), data)
    assert calls == [1] and info["steps_done"] == 3
    cfg = load_dit(out)[1]["config"]
    assert cfg.position_sampling == "fixed" and cfg.max_positions == (4, 4)  # vanilla: L = grid
    assert cfg.num_classes == 0 and cfg.in_channels == 3 and not cfg.micro_conditioning
    assert meta_of(out)["posenc.latent_format"] == "pixel"
    assert json.loads(meta_of(out)["posenc.train"])["max_positions"] == [4, 4]  # not the option


def test_rpe2d_training_positions_are_sorted_samples_from_0_to_L(monkeypatch, tmp_path):
    seen = []
    orig = ditmod.DiT.forward

    def spy(self, x, t, y=None, rows=None, cols=None, **kw):
        seen.append((rows.clone(), cols.clone()))
        return orig(self, x, t, y, rows=rows, cols=cols, **kw)

    monkeypatch.setattr(ditmod.DiT, "forward", spy)
    train_dit.train(tiny(out="", steps=8, batch_size=8), (torch.randn(5, 4, 8, 8), torch.arange(5) % 2))
    rows = torch.cat([r for r, _ in seen])
    cols = torch.cat([c for _, c in seen])
    assert rows.shape == (64, 4) and cols.shape == (64, 4)
    for pos, L in ((rows, 12), (cols, 10)):
        assert pos.min() >= 0 and pos.max() < L
        assert torch.all(pos[:, 1:] > pos[:, :-1])  # sorted, distinct
        assert pos.max() >= 4  # positions beyond the training grid are used
        assert len({tuple(p.tolist()) for p in pos}) > 10  # per-sample draws, not one fixed set


def test_resize_and_crop_micro_conditioning():
    lat = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 8, 8)
    out, micro = train_dit.resize_and_crop(lat, 8, 8, crop=False, zoom=1.7, u_top=0.9, u_left=0.9)
    assert torch.equal(out, lat) and torch.equal(micro, torch.zeros(4))  # no crop = zeros
    out, micro = train_dit.resize_and_crop(lat, 8, 8, crop=True, zoom=1.5, u_top=0.99, u_left=0.0)
    assert out.shape == (2, 8, 8)
    assert micro.tolist() == [4 / 8, 0.0, 12 / 8 - 1, 12 / 8 - 1]  # resized to 12x12, bottom-left
    big = torch.nn.functional.interpolate(lat[None], size=(12, 12), mode="bilinear", align_corners=False)[0]
    assert torch.equal(out, big[:, 4:12, 0:8])
    # a wider source is covered by the height and centre-cropped without augmentation
    out, micro = train_dit.resize_and_crop(torch.zeros(1, 4, 8), 8, 8, crop=False, zoom=1.0,
                                           u_top=0, u_left=0)
    assert out.shape == (1, 8, 8) and micro.tolist() == [0.0, 0.5, 0.0, 1.0]


def test_bad_training_settings(tmp_path):
    with pytest.raises(ValueError, match="must be >= the training grid"):
        train_dit.train(tiny(out="", max_positions=(3, 8)), (torch.randn(2, 4, 8, 8), None))
    with pytest.raises(FileNotFoundError):
        train_dit.train(tiny(out=""), str(tmp_path))
    (tmp_path / "bad.safetensors").write_bytes(b"")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="expected a tensor 'latents'"):
        train_dit.train(tiny(out=""), str(tmp_path))


# Runs train_dit's command line under torchrun, as `python -m posenc_lab.train_dit` would, then
# says how many references to the default process group are left once train() has destroyed it
# (or that it did not): any holder makes Python destroy the group, and stop gloo's threads, during
# interpreter shutdown, where gloo can abort the process (posenc_lab/train_dit.py).
TORCHRUN_DRIVER = r"""
import os
import sys
import torch.distributed as dist
from posenc_lab import train_dit

destroyed = []
destroy = dist.destroy_process_group


def destroy_and_keep_a_handle(*args, **kwargs):
    destroyed.append(dist.group.WORLD)
    destroy(*args, **kwargs)


dist.destroy_process_group = destroy_and_keep_a_handle
rc = train_dit.main(sys.argv[1:])
state = (f"references left: {sys.getrefcount(destroyed[0]) - 2}" if destroyed else
         "not destroyed")
sys.stdout.flush()
os.write(1, f"rank {os.environ['RANK']}: process group {state}\n".encode())  # one write
sys.exit(rc)
"""


@pytest.mark.parametrize("stop_after", [0, 2])
def test_torchrun_two_process_gloo(tmp_path, stop_after):
    """Data-parallel training with 2 CPU processes on gloo (torchrun); replicas must agree, and
    the process group must be freed by destroy_process_group, not at interpreter shutdown (the
    cause of the SIGABRT this test used to hit at random): checked by count, not by luck.  Also
    when a run stops early (--stop-after), which used to end without destroying the group."""
    data = make_folder(tmp_path / "lat", n_files=1, per_file=4)
    out = str(tmp_path / "ddp.safetensors")
    driver = tmp_path / "driver.py"
    driver.write_text(TORCHRUN_DRIVER)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(driver), "--data", data, "--out", out, "--grid", "4", "--max-positions",
           "8", "--hidden-size", "32", "--depth", "1", "--num-heads", "2", "--steps", "4",
           "--batch-size", "2", "--no-progress"]
    if stop_after:
        cmd += ["--stop-after", str(stop_after), "--save-every", "2"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    train = json.loads(meta_of(out)["posenc.train"])
    assert train["world_size"] == 2 and train["steps_done"] == (stop_after or 4)
    if not stop_after:
        assert train["global_batch"] == 4
    assert "diverged" not in res.stderr
    left = sorted(re.findall(r"rank (\d): process group (references left: \d+|not destroyed)",
                             res.stdout))
    assert left == [("0", "references left: 0"), ("1", "references left: 0")], res.stdout[-2000:]


def test_resume_continues_exactly_where_a_stopped_run_left_off(tmp_path):
    """Train 6 steps in one go, and 2 + 4 with --stop-after/--resume: identical weights (the
    state holds the optimizer and the batch/noise generator). Fails if any of them is not saved."""
    def data():
        return torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(10) % 2

    kw = dict(steps=6, save_every=2, lr_schedule="cosine", warmup=2, lr_min=1e-5, lr=1e-2,
              min_snr_gamma=5.0, grad_clip=1.0)
    straight, _ = train_dit.train(tiny(out=str(tmp_path / "a.safetensors"), **kw), data)
    out = str(tmp_path / "b.safetensors")
    _, info = train_dit.train(tiny(out=out, stop_after=2, **kw), data)
    assert info["steps_done"] == 2 and os.path.exists(train_dit.state_path(out))
    assert json.loads(meta_of(out)["posenc.train"])["steps_done"] == 2
    resumed, info = train_dit.train(tiny(out=out, resume=True, **kw), data)
    assert info["steps_done"] == 6
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    # without --resume the same command starts over and ends elsewhere than a 2-step run
    with pytest.raises(ValueError, match="other settings"):
        train_dit.train(tiny(out=out, resume=True, **{**kw, "lr": 5e-3}), data)


def test_learning_rate_schedule_and_min_snr_weights():
    cfg = tiny(steps=11, lr=1.0, warmup=2, lr_schedule="cosine", lr_min=0.1)
    lrs = [train_dit.learning_rate(cfg, s) for s in range(11)]
    assert lrs[:3] == [0.5, 1.0, 1.0]                       # warm-up, then the peak
    assert abs(lrs[-1] - 0.1) < 1e-12 and abs(lrs[2 + 4] - 0.55) < 1e-12  # cosine midpoint
    assert train_dit.learning_rate(tiny(lr=0.3), 7) == 0.3  # constant by default
    abar = torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64)
    w = train_dit.loss_weights(torch.tensor([0, 1, 2]), abar, 5.0)
    # SNR 9, 1, 1/9: min(SNR, 5) / SNR = 5/9, 1, 1
    assert torch.allclose(w, torch.tensor([5 / 9, 1.0, 1.0]))
    assert torch.equal(train_dit.loss_weights(torch.tensor([0, 1]), abar, 0.0), torch.ones(2))


def test_a_continuation_records_the_steps_of_the_chain_it_continues(tmp_path):
    """total_steps = this run's steps + those behind --init, through a chain of two
    continuations; steps_done stays the run's own count.  Fails if --init's steps are dropped."""
    def data():
        return torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(2)), None

    kw = dict(position_sampling="fixed", micro_conditioning=False, crop_prob=0.0)
    first = str(tmp_path / "c1.safetensors")
    _, info = train_dit.train(tiny(out=first, steps=3, **kw), data)
    assert info["total_steps"] == 3
    second = str(tmp_path / "c2.safetensors")
    train_dit.train(tiny(out=second, steps=2, init=first, **kw), data)
    third = str(tmp_path / "c3.safetensors")
    _, info = train_dit.train(tiny(out=third, steps=4, init=second, save_every=2, **kw), data)
    rec = json.loads(meta_of(third)["posenc.train"])
    assert (rec["steps_done"], rec["total_steps"], info["total_steps"]) == (4, 9, 9)
    assert json.loads(meta_of(second)["posenc.train"])["total_steps"] == 5


def test_steps_trained_reads_records_from_before_the_total():
    old = {"posenc.train": json.dumps({"steps_done": 5000, "init": ""})}
    assert train_dit.steps_trained(old) == 5000
    # an old continuation's total is not known from its own record
    assert train_dit.steps_trained({"posenc.train": json.dumps({"steps_done": 3000,
                                                                "init": "a.safetensors"})}) is None
    assert train_dit.steps_trained({}) == 0  # e.g. official DiT-XL/2: no train-dit record
