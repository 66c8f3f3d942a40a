"""RPE-2D training of a DiT (Liu, Hou et al., arXiv 2503.18719; our choices: docs/DESIGN.md section 3).

Per training sample:
* **positions**: rows and columns each get sorted distinct integers drawn without replacement from
  [0, L) (``position_modes.sample_training_positions``); with ``--position-sampling fixed`` the vanilla DiT
  positions 0..n-1 are used instead (the baseline).  The positions reach the model as its
  ``--position-encoding`` says: ``sincos`` (default) a 2-D sin-cos added to the tokens, ``rope``
  2-D axial rotary embedding of q and k in every attention block (posenc/dit.py; no position
  table, the head dim must be divisible by 4);
* **random resize-and-crop**: with probability ``crop_prob`` the latent is resized by a random
  zoom in [1, max_zoom] above the smallest size covering the training size, and a random window
  is cropped; otherwise it is resized to cover and centre-cropped.  The crop is recorded as the
  micro-conditioning ``(top/h, left/w, H'/h - 1, W'/w - 1)`` (all zeros = no crop, posenc/dit.py);
* epsilon-prediction loss on the DiT schedule (posenc_lab/dit_diffusion.py), class dropout 10% for CFG,
  EMA of the weights, AdamW.  Optional: Min-SNR-gamma loss weights (Hang et al., ICCV 2023,
  "Efficient Diffusion Training via Min-SNR Weighting Strategy", eq. for eps prediction:
  w_t = min(SNR_t, gamma) / SNR_t with SNR_t = abar_t / (1 - abar_t)), a linear warm-up then
  cosine decay of the learning rate to ``lr_min``, and gradient-norm clipping.  With learned sigma (fine-tuning an official checkpoint) only the
  first C output channels are trained: the variance channels are not used by the sampler.

Data: a folder of ``.safetensors`` files of pre-encoded latents (``latents`` (N, C, H, W) or
``latent`` (C, H, W), optional ``labels`` (N,) / ``label`` ()), already multiplied by the VAE's
scale factor (``--latent-scale`` multiplies on load), or an in-memory data set passed as a function
returning ``(latents (N, C, H, W), labels (N,) or None)`` (``train(config, data=fn)``).  Pixel-space
models (3 channels, ComfyUI's ``pixel_space`` VAE) take images in [-1, 1] as their latents.

Single process, or data-parallel with torch.distributed: run it under
``torchrun --nproc_per_node K`` (gloo on CPU, nccl on CUDA); each process draws its own batches,
gradients are averaged, only rank 0 writes the checkpoint.

The checkpoint is a safetensors file (EMA weights, official DiT key names) whose metadata holds
the model config (heads, training grid, L = max_positions, position sampling, micro-conditioning)
and the training settings (``posenc.train``, with ``total_steps``: this run's steps plus those of the
``--init`` chain it continues).  With ``--save-every K`` every K steps it also writes
``<out>.state.pt`` (weights, EMA, optimizer, step, the data/noise generator); ``--resume`` continues
from it exactly where it stopped (the same batches and noise as an uninterrupted run), and
``--stop-after N`` ends a run after N steps of this invocation (training in chunks).

Command line: ``python -m posenc_lab.train_dit --data DIR --out model.safetensors ...``
(``main(argv)``; ``--help`` lists the options).
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from posenc import position_modes

from . import dit_diffusion
from posenc.dit import (SAFETENSORS_SUFFIXES, DiT, DiTConfig, build_from_state_dict, read_state_dict,
                        strip_prefix)


@dataclass
class TrainConfig:
    out: str = "dit.safetensors"
    grid: tuple = (16, 16)             # training grid in patches (rows, cols)
    max_positions: tuple = (32, 32)    # L per axis (rpe2d); "fixed" uses the grid
    position_sampling: str = "rpe2d"   # "rpe2d" | "fixed"
    position_encoding: str = "sincos"  # "sincos" (added to the tokens) | "rope" (rotates q and k)
    micro_conditioning: bool = True
    crop_prob: float = 0.5
    max_zoom: float = 1.5
    patch_size: int = 2
    hidden_size: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    num_classes: int = -1              # -1: from the data's labels (0 if it has none)
    learn_sigma: bool = False
    class_dropout_prob: float = 0.1
    steps: int = 1000
    batch_size: int = 32               # per process
    lr: float = 3e-4
    weight_decay: float = 0.0
    ema: float = 0.999
    seed: int = 0
    latent_format: str = ""            # e.g. "sd1", "pixel"; stored for the loader
    latent_scale: float = 1.0
    init: str = ""                     # checkpoint to fine-tune (e.g. official DiT-XL/2)
    device: str = "cpu"
    progress: bool = True
    save_every: int = 0
    lr_schedule: str = "constant"      # "constant" | "cosine" (after the warm-up, down to lr_min)
    warmup: int = 0                    # linear warm-up steps
    lr_min: float = 0.0
    min_snr_gamma: float = 0.0         # 0: plain eps MSE; > 0: Min-SNR-gamma weights
    grad_clip: float = 0.0             # 0: off; else max total gradient norm
    resume: bool = False               # continue from <out>.state.pt
    stop_after: int = 0                # 0: run to `steps`; else stop after this many steps of this run


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def load_latent_folder(folder: str, latent_scale: float = 1.0):
    """All ``.safetensors`` latents of a folder -> (list of (C, H, W) tensors, labels or None)."""
    from safetensors.torch import load_file
    files = sorted(glob.glob(os.path.join(folder, "**", "*.safetensors"), recursive=True))
    if not files:
        raise FileNotFoundError(f"no .safetensors latent files in {folder}")
    latents, labels, have_labels = [], [], None
    for path in files:
        d = load_file(path)
        if "latents" in d:
            x = d["latents"]
        elif "latent" in d:
            x = d["latent"].unsqueeze(0)
        else:
            raise ValueError(f"{path}: expected a tensor 'latents' (N,C,H,W) or 'latent' (C,H,W), "
                             f"found {', '.join(d) or 'nothing'}")
        if x.ndim != 4:
            raise ValueError(f"{path}: latents must be (N, C, H, W), got shape {tuple(x.shape)}")
        y = d.get("labels", d.get("label"))
        if have_labels is None:
            have_labels = y is not None
        if (y is not None) != have_labels:
            raise ValueError(f"{path}: some latent files have labels and some do not")
        latents.extend(x.float().mul(latent_scale).unbind(0))
        if y is not None:
            labels.extend(y.long().reshape(-1).tolist())
    if have_labels and len(labels) != len(latents):
        raise ValueError(f"{folder}: {len(latents)} latents but {len(labels)} labels")
    return latents, (torch.tensor(labels) if have_labels else None)


def scene_data(n: int, size, seed: int = 0):
    """n procedural scenes (posenc_lab/scenes.py) at ``size`` pixels as pixel-space "latents" in
    [-1, 1] with their class labels: the data of the bundled tiny DiTs (``--scenes N``)."""
    from .scenes import render_scenes
    if n < 1:
        raise ValueError(f"--scenes must be >= 1, got {n}")
    images, labels, _ = render_scenes(int(n), size, seed)
    return images.mul(2).sub(1), labels


def resize_and_crop(lat: torch.Tensor, out_h: int, out_w: int, crop: bool, zoom: float,
                    u_top: float, u_left: float):
    """Resize (C, H0, W0) to cover out_h x out_w times ``zoom`` and crop a window (random with
    ``crop``, uniforms u_top/u_left in [0, 1); centred otherwise).  Returns (crop, micro (4,))."""
    C, H0, W0 = lat.shape
    s = max(out_h / H0, out_w / W0) * (zoom if crop else 1.0)
    Hr, Wr = max(out_h, round(H0 * s)), max(out_w, round(W0 * s))
    if (Hr, Wr) != (H0, W0):
        lat = F.interpolate(lat[None], size=(Hr, Wr), mode="bilinear", align_corners=False,
                            antialias=Hr < H0 or Wr < W0)[0]
    if crop:
        top, left = int(u_top * (Hr - out_h + 1)), int(u_left * (Wr - out_w + 1))
    else:
        top, left = (Hr - out_h) // 2, (Wr - out_w) // 2
    micro = torch.tensor([top / out_h, left / out_w, Hr / out_h - 1.0, Wr / out_w - 1.0])
    return lat[:, top:top + out_h, left:left + out_w], micro


class BatchSampler:
    def __init__(self, latents, labels, cfg: TrainConfig, rank: int):
        self.latents = list(latents.unbind(0)) if torch.is_tensor(latents) else list(latents)
        if not self.latents:
            raise ValueError("the training data set is empty")
        self.labels = labels
        self.cfg = cfg
        self.g = torch.Generator().manual_seed(cfg.seed * 1000003 + 7919 * (rank + 1))
        self.out_h = cfg.grid[0] * cfg.patch_size
        self.out_w = cfg.grid[1] * cfg.patch_size

    def __call__(self, B: int):
        cfg, g = self.cfg, self.g
        idx = torch.randint(len(self.latents), (B,), generator=g)
        crop = torch.rand(B, generator=g) < cfg.crop_prob
        zoom = 1 + torch.rand(B, generator=g) * (cfg.max_zoom - 1)
        u = torch.rand(B, 2, generator=g)
        xs, micro = [], []
        for b in range(B):
            x, m = resize_and_crop(self.latents[int(idx[b])], self.out_h, self.out_w, bool(crop[b]),
                                   float(zoom[b]), float(u[b, 0]), float(u[b, 1]))
            xs.append(x)
            micro.append(m)
        y = self.labels[idx] if self.labels is not None else None
        if cfg.position_sampling == "rpe2d":
            rows = position_modes.sample_training_positions(B, cfg.grid[0], cfg.max_positions[0], g)
            cols = position_modes.sample_training_positions(B, cfg.grid[1], cfg.max_positions[1], g)
        else:
            rows = cols = None
        return torch.stack(xs), y, torch.stack(micro), rows, cols


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def _dist_env():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


# The process group must die in dist.destroy_process_group(), while Python is fully alive.  If
# anything still holds it there, it is destroyed during interpreter shutdown instead, and gloo's
# worker threads can then need the GIL of a finalizing interpreter: the thread is ended inside
# C++ code and the process aborts ("terminate called without an active exception", SIGABRT: how
# tests/test_train_dit.py::test_torchrun_two_process_gloo used to fail at random).  Two holders:
# * constructing DistributedDataParallel imports torch._dynamo, which imports modules (e.g.
#   torch.distributed.nn.functional) whose functions take ``group=group.WORLD`` as a default
#   argument: imported after init_process_group, those defaults keep the group forever.
#   Imported before it, they are None.
# * the DistributedDataParallel wrapper itself is in a reference cycle: freed only by gc.

def _init_distributed(backend: str) -> None:
    import torch.distributed as dist
    if not dist.is_initialized():
        import torch._dynamo  # noqa: F401  (first: see above)
        dist.init_process_group(backend)


def _end_distributed() -> None:
    """Destroy the process group once every rank is here; the caller has dropped its
    DistributedDataParallel wrapper (collected here)."""
    import gc

    import torch.distributed as dist
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


def build_model(cfg: TrainConfig, in_channels: int, num_classes: int):
    if cfg.init:
        sd, meta = read_state_dict(cfg.init)
        base, info = build_from_state_dict(strip_prefix(sd), meta, source=cfg.init)
        bc = base.config
        mc = DiTConfig(**{**asdict(bc), "micro_conditioning": cfg.micro_conditioning,
                          "grid": tuple(cfg.grid), "max_positions": _max_positions(cfg),
                          "position_sampling": cfg.position_sampling,
                          "position_encoding": cfg.position_encoding})
        if bc.in_channels != in_channels:
            raise ValueError(f"--init model has {bc.in_channels} channels, the data {in_channels}")
        model = DiT(mc)
        sd = {k: v for k, v in base.state_dict().items() if k != "pos_embed"}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        bad = [k for k in missing if not k.startswith(("crop_embedder", "size_embedder", "pos_embed"))]
        if bad or unexpected:
            raise ValueError(f"--init: cannot map {bad + list(unexpected)}")
        return model
    mc = DiTConfig(in_channels=in_channels, patch_size=cfg.patch_size, hidden_size=cfg.hidden_size,
                   depth=cfg.depth, num_heads=cfg.num_heads,
                   mlp_hidden=int(cfg.hidden_size * cfg.mlp_ratio), num_classes=num_classes,
                   class_dropout=cfg.class_dropout_prob > 0 and num_classes > 0,
                   learn_sigma=cfg.learn_sigma, micro_conditioning=cfg.micro_conditioning,
                   grid=tuple(cfg.grid), max_positions=_max_positions(cfg),
                   position_sampling=cfg.position_sampling, position_encoding=cfg.position_encoding)
    return DiT(mc)


def steps_trained(metadata: dict | None):
    """How many training steps lie behind a checkpoint, from its ``posenc.train`` record: its
    ``total_steps`` (the run's own steps plus those of the ``--init`` chain it continues), or, in a
    record from before that field, its ``steps_done`` when it had no ``--init``.  0 for a file with
    no train-dit record (e.g. official DiT-XL/2, counted from here); None when unknown (an older
    continuation)."""
    raw = (metadata or {}).get("posenc.train")
    if not raw:
        return 0
    rec = json.loads(raw)
    if rec.get("total_steps") is not None:
        return int(rec["total_steps"])
    return None if rec.get("init") else int(rec["steps_done"])


def steps_before(cfg: TrainConfig):
    """The steps behind ``cfg.init`` (0 without one); see ``steps_trained``."""
    if not cfg.init:
        return 0
    if not cfg.init.lower().endswith(SAFETENSORS_SUFFIXES):
        return 0  # a torch pickle carries no train-dit record
    from posenc.checkpoint_files import read_header
    return steps_trained(read_header(cfg.init)[1])


def _max_positions(cfg: TrainConfig) -> tuple:
    return tuple(cfg.grid) if cfg.position_sampling == "fixed" else tuple(cfg.max_positions)


def checkpoint_metadata(model: DiT, cfg: TrainConfig, extra: dict) -> dict:
    meta = model.config.to_metadata()
    mc = model.config
    meta.update({
        "posenc.max_positions": f"{mc.max_positions[0]}x{mc.max_positions[1]}",
        "posenc.train_grid": f"{mc.grid[0]}x{mc.grid[1]}",
        "posenc.position_sampling": mc.position_sampling,
        "posenc.position_encoding": mc.position_encoding,
        "posenc.conditioning": json.dumps({
            "classes": mc.num_classes, "class_dropout": cfg.class_dropout_prob,
            "micro": "crop-v1: (top/h, left/w, H'/h-1, W'/w-1), zeros = no crop"
                     if mc.micro_conditioning else "none",
            "crop_prob": cfg.crop_prob, "max_zoom": cfg.max_zoom}),
        "posenc.latent_format": cfg.latent_format or ("pixel" if mc.in_channels == 3 else "sd1"),
        "posenc.schedule": json.dumps(dit_diffusion.SCHEDULE_METADATA),
        # The settings record says the L the model uses (vanilla: its grid, not the unused option).
        "posenc.train": json.dumps({**{k: v for k, v in asdict(cfg).items()
                                       if k not in ("progress", "device", "out")},
                                    "max_positions": list(_max_positions(cfg)), **extra}),
    })
    return meta


def save_checkpoint(model: DiT, path: str, metadata: dict) -> None:
    from safetensors.torch import save_file
    sd = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    save_file(sd, tmp, metadata=metadata)
    os.replace(tmp, path)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of (0-based) ``step``: linear warm-up over ``warmup`` steps to ``lr``,
    then constant, or cosine from ``lr`` to ``lr_min`` at the last step."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.lr_schedule == "constant":
        return cfg.lr
    span = max(1, cfg.steps - cfg.warmup - 1)
    frac = min(1.0, (step - cfg.warmup) / span)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))


def loss_weights(t: torch.Tensor, abar: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample weights of the eps MSE: Min-SNR-gamma (min(SNR, gamma) / SNR), or ones."""
    if gamma <= 0:
        return torch.ones(t.shape[0], device=t.device)
    a = abar[t].float()
    snr = a / (1 - a)
    return torch.clamp(snr, max=gamma) / snr


def state_path(out: str) -> str:
    return out + ".state.pt"


#: Settings that must match for --resume (the rest, e.g. stop_after or save_every, may change).
RESUME_KEYS = ("grid", "max_positions", "position_sampling", "position_encoding",
               "micro_conditioning", "crop_prob",
               "max_zoom", "patch_size", "hidden_size", "depth", "num_heads", "mlp_ratio",
               "learn_sigma", "class_dropout_prob", "steps", "batch_size", "lr", "weight_decay",
               "ema", "seed", "lr_schedule", "warmup", "lr_min", "min_snr_gamma", "grad_clip")


#: Values of settings added to RESUME_KEYS after states were saved without them: a state that
#: lacks one was written with this value (position_encoding came with the RoPE DiT).
RESUME_DEFAULTS = {"position_encoding": "sincos"}


def _resume_settings(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    return {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in RESUME_KEYS}


def check_position_encoding(cfg: TrainConfig) -> None:
    """The position encoding and, for RoPE, the head dim (before any data is made or read)."""
    if cfg.position_encoding not in ("sincos", "rope"):
        raise ValueError(f"position_encoding must be 'sincos' or 'rope', got {cfg.position_encoding!r}")
    if cfg.position_encoding == "rope" and not cfg.init and (
            cfg.hidden_size % cfg.num_heads or (cfg.hidden_size // cfg.num_heads) % 4):
        raise ValueError(f"--position-encoding rope needs a head dim (hidden size / heads) divisible "
                         f"by 4 (a row half and a column half of channel pairs); got hidden size "
                         f"{cfg.hidden_size} with {cfg.num_heads} heads")


def train(cfg: TrainConfig, data, log=print):
    """Train; ``data`` is a callable returning (latents, labels) or such a tuple, or a folder.
    Returns (EMA model, info dict).  Under torchrun (WORLD_SIZE > 1) runs data-parallel."""
    check_position_encoding(cfg)
    world, rank, local_rank = _dist_env()
    distributed = world > 1
    device = torch.device(cfg.device)
    if distributed:
        _init_distributed("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
    if isinstance(data, str):
        latents, labels = load_latent_folder(data, cfg.latent_scale)
    else:
        latents, labels = data() if callable(data) else data
        if cfg.latent_scale != 1.0:
            latents = [x * cfg.latent_scale for x in latents]
    cfg.grid = position_modes._pair(cfg.grid)
    cfg.max_positions = position_modes._pair(cfg.max_positions)
    if cfg.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {cfg.lr_schedule!r}")
    if cfg.warmup < 0 or cfg.min_snr_gamma < 0 or cfg.grad_clip < 0 or cfg.stop_after < 0:
        raise ValueError("warmup, min_snr_gamma, grad_clip and stop_after must be >= 0")
    if cfg.resume and (not cfg.out or not cfg.save_every):
        raise ValueError("--resume needs --out and --save-every (the state is saved with the "
                         "checkpoints)")
    if cfg.position_sampling not in ("rpe2d", "fixed"):
        raise ValueError(f"position_sampling must be 'rpe2d' or 'fixed', got {cfg.position_sampling!r}")

    if cfg.position_sampling == "rpe2d" and (cfg.max_positions[0] < cfg.grid[0]
                                             or cfg.max_positions[1] < cfg.grid[1]):
        raise ValueError(f"max_positions L={cfg.max_positions} must be >= the training grid {cfg.grid}")
    in_channels = int(latents[0].shape[0])
    num_classes = cfg.num_classes
    if num_classes < 0:
        num_classes = int(labels.max()) + 1 if labels is not None else 0
    if labels is not None and num_classes > 0 and int(labels.max()) >= num_classes:
        raise ValueError(f"labels go up to {int(labels.max())} but num_classes={num_classes}")
    use_labels = labels if num_classes > 0 else None

    torch.manual_seed(cfg.seed)
    model = build_model(cfg, in_channels, num_classes).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = BatchSampler(latents, use_labels, cfg, rank)
    abar = dit_diffusion.alphas_cumprod().to(device)
    C = in_channels
    g = sampler.g
    start, losses = 0, []
    prior = steps_before(cfg)

    def record(done: int, **more) -> dict:
        return {"steps_done": done, "total_steps": None if prior is None else prior + done,
                "world_size": world, **more}

    if cfg.resume and os.path.exists(state_path(cfg.out)):
        st = torch.load(state_path(cfg.out), map_location=device, weights_only=False)
        saved = {**RESUME_DEFAULTS, **st["settings"]}
        if saved != _resume_settings(cfg):
            diff = {k: (saved.get(k), v) for k, v in _resume_settings(cfg).items()
                    if saved.get(k) != v}
            raise ValueError(f"--resume: {state_path(cfg.out)} was written with other settings "
                             f"(saved, now): {diff}")
        model.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        g.set_state(st["generator"])
        start, losses = int(st["step"]), list(st["losses"])
        log(f"train-dit: resuming {cfg.out} at step {start} of {cfg.steps}")

    def save_state(step_done):
        tmp = state_path(cfg.out) + ".tmp"
        torch.save({"settings": _resume_settings(cfg), "model": model.state_dict(),
                    "ema": ema.state_dict(), "opt": opt.state_dict(), "generator": g.get_state(),
                    "step": step_done, "losses": losses}, tmp)
        os.replace(tmp, state_path(cfg.out))

    bar = None
    if cfg.progress and rank == 0:
        try:
            from tqdm import tqdm
            bar = tqdm(total=cfg.steps, initial=start, desc="train-dit", delay=2.0,
                       dynamic_ncols=True)
        except ImportError:
            bar = None
    t0 = time.time()
    model.train()
    end = cfg.steps if not cfg.stop_after else min(cfg.steps, start + cfg.stop_after)
    for step in range(start, end):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        x0, y, micro, rows, cols = sampler(cfg.batch_size)
        x0, micro = x0.to(device), micro.to(device)
        B = x0.shape[0]
        t = torch.randint(0, dit_diffusion.TIMESTEPS, (B,), generator=g).to(device)
        noise = torch.randn(x0.shape, generator=g).to(device)
        xt = dit_diffusion.add_noise(x0, noise, t, abar)
        if y is not None:
            y = y.to(device)
            if model.config.class_dropout and cfg.class_dropout_prob > 0:
                drop = (torch.rand(B, generator=g) < cfg.class_dropout_prob).to(device)
                y = torch.where(drop, torch.full_like(y, model.config.num_classes), y)
        kw = {"micro": micro if model.config.micro_conditioning else None}
        if rows is not None:
            kw["rows"], kw["cols"] = rows.to(device), cols.to(device)
        out = net(xt, t.float(), y, **kw)
        per_sample = (out[:, :C] - noise).pow(2).flatten(1).mean(1)
        loss = (per_sample * loss_weights(t, abar, cfg.min_snr_gamma)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            d = min(cfg.ema, (1 + step) / (10 + step))  # EMA warm-up
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
        if cfg.save_every and rank == 0 and (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            save_checkpoint(ema, cfg.out, checkpoint_metadata(ema, cfg, record(step + 1)))
            save_state(step + 1)
    if bar is not None:
        bar.close()
    elapsed = time.time() - t0
    del net                # the DDP wrapper holds the process group (_end_distributed)
    if end < cfg.steps:
        if rank == 0 and cfg.out:
            save_checkpoint(ema, cfg.out, checkpoint_metadata(ema, cfg, record(end)))
            save_state(end)
            log(f"train-dit: stopped after step {end} of {cfg.steps} ({elapsed:.1f}s); resume "
                f"with --resume")
        if distributed:
            _end_distributed()
        return ema, {"steps_done": end, "world_size": world, "seconds": round(elapsed, 2)}
    if distributed:
        import torch.distributed as dist
        # Data-parallel replicas must hold identical weights; a checksum per rank proves it.
        s = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
        allv = [torch.zeros_like(s) for _ in range(world)]
        dist.all_gather(allv, s)
        if any(abs(float(a) - float(s)) > 1e-9 * max(1.0, abs(float(s))) for a in allv):
            raise RuntimeError(f"data-parallel replicas diverged: {[float(a) for a in allv]}")
    info = record(cfg.steps, final_loss=losses[-1] if losses else None,
                  mean_loss_last_50=sum(losses[-50:]) / max(1, len(losses[-50:])),
                  seconds=round(elapsed, 2), global_batch=cfg.batch_size * world)
    if rank == 0 and cfg.out:
        save_checkpoint(ema, cfg.out, checkpoint_metadata(ema, cfg, info))
        log(f"train-dit: {cfg.steps} steps x {cfg.batch_size} x {world} process(es) in "
            f"{elapsed:.1f}s, loss {info['mean_loss_last_50']:.4f}; wrote {cfg.out}")
    if distributed:
        _end_distributed()
    return ema, info


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def _grid_arg(s: str):
    parts = s.lower().replace(",", "x").split("x")
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    if len(parts) == 2:
        return int(parts[0]), int(parts[1])
    raise argparse.ArgumentTypeError(f"expected N or HxW, got {s!r}")


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m posenc_lab train-dit", description="RPE-2D training of a DiT on a "
                                "folder of pre-encoded latents (.safetensors).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="folder of .safetensors latent files")
    src.add_argument("--scenes", type=int, metavar="N",
                     help="train on N procedural scenes rendered at the training size, pixel "
                          "space (the bundled tiny DiTs; latent format 'pixel')")
    p.add_argument("--scene-seed", type=int, default=0, help="seed of the --scenes data set")
    p.add_argument("--overwrite", action="store_true",
                   help="allow replacing bundled weights under models/")
    p.add_argument("--out", default=d.out, help="output .safetensors checkpoint")
    p.add_argument("--grid", type=_grid_arg, default=d.grid, help="training grid in patches, N or HxW")
    p.add_argument("--max-positions", type=_grid_arg, default=d.max_positions,
                   help="RPE-2D range L per axis (N or HxW); positions are drawn from [0, L)")
    p.add_argument("--position-sampling", choices=("rpe2d", "fixed"), default=d.position_sampling)
    p.add_argument("--position-encoding", choices=("sincos", "rope"), default=d.position_encoding,
                   help="sincos: DiT's 2-D sin-cos added to the tokens; rope: 2-D axial rotary "
                        "embedding of q and k (head dim = hidden size / heads divisible by 4)")
    p.add_argument("--no-micro-conditioning", dest="micro_conditioning", action="store_false")
    p.add_argument("--crop-prob", type=float, default=None,
                   help="probability of a random resize-and-crop (default 0.5 with "
                        "micro-conditioning, else 0)")
    p.add_argument("--max-zoom", type=float, default=d.max_zoom)
    p.add_argument("--patch-size", type=int, default=d.patch_size)
    p.add_argument("--hidden-size", type=int, default=d.hidden_size)
    p.add_argument("--depth", type=int, default=d.depth)
    p.add_argument("--num-heads", type=int, default=d.num_heads)
    p.add_argument("--mlp-ratio", type=float, default=d.mlp_ratio)
    p.add_argument("--num-classes", type=int, default=d.num_classes,
                   help="-1: from the labels in the data (0 = unconditional)")
    p.add_argument("--learn-sigma", action="store_true")
    p.add_argument("--class-dropout-prob", type=float, default=d.class_dropout_prob)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--ema", type=float, default=d.ema)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--latent-format", default=d.latent_format,
                   help="stored for the loader: sd1 (4-ch SD VAE), pixel, ...")
    p.add_argument("--latent-scale", type=float, default=d.latent_scale,
                   help="multiply stored latents by this (e.g. 0.18215 for raw SD-VAE latents)")
    p.add_argument("--init", default=d.init, help="checkpoint to fine-tune (e.g. official DiT-XL/2)")
    p.add_argument("--device", default=d.device)
    p.add_argument("--save-every", type=int, default=d.save_every,
                   help="write the checkpoint and <out>.state.pt every K steps")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=d.lr_schedule)
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear warm-up steps")
    p.add_argument("--lr-min", type=float, default=d.lr_min, help="end of the cosine schedule")
    p.add_argument("--min-snr-gamma", type=float, default=d.min_snr_gamma,
                   help="Min-SNR-gamma loss weights (0 = plain eps MSE; 5 is the paper's)")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip,
                   help="clip the gradient norm to this (0 = off)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>.state.pt (written with --save-every)")
    p.add_argument("--stop-after", type=int, default=d.stop_after,
                   help="stop after N steps of this run, saving the state (0 = run to --steps)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    kw = vars(args)
    data, n_scenes, scene_seed = kw.pop("data"), kw.pop("scenes"), kw.pop("scene_seed")
    overwrite = kw.pop("overwrite")
    from .run_records import check_output
    try:
        check_output(kw["out"], overwrite)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if kw["crop_prob"] is None:
        kw["crop_prob"] = 0.5 if kw["micro_conditioning"] else 0.0
    try:
        check_position_encoding(TrainConfig(**kw))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if n_scenes is not None:
        size = (kw["grid"][0] * kw["patch_size"], kw["grid"][1] * kw["patch_size"])
        data = scene_data(n_scenes, size, scene_seed)
        kw["latent_format"] = kw["latent_format"] or "pixel"
    cfg = TrainConfig(**kw)
    _, rank, _ = _dist_env()
    train(cfg, data, log=print if rank == 0 else (lambda *a, **k: None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
