"""Training of the reference U-Net on the procedural scenes (``python -m posenc_lab train-unet``).

Objective: eps prediction on SD's discrete schedule (schedule.py), timesteps uniform in 0..999,
Min-SNR-5 loss weighting (Hang et al. 2023: weight min(SNR, 5) / SNR on the eps loss, which stops
the nearly clean timesteps from dominating a small model's capacity), 10 % label dropout to the
null label for classifier-free guidance.  Every step draws a fresh batch of scenes (seeded by the
run seed and the step), so there is no fixed training set to overfit.  AdamW, linear warm-up
then cosine decay; an exponential moving average (EMA) of the weights is what gets saved.

The run stops at ``steps`` or at ``max_minutes`` of wall time, whichever comes first; the learning
rate follows whichever of the two is further along, so a time-capped run still ends with a
decayed learning rate.  The card records the steps actually taken.
"""
from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path

import torch

from posenc import schedule
from .layout_metrics import layout_metrics
from posenc.reference_unet import ReferenceUNet, save_reference_unet
from .run_records import check_output
from .unet_sampling import ddim_sample
from .scenes import CLASSES, render, sample_params

MIN_SNR_GAMMA = 5.0


def evaluate_layout(model, seeds, size=32, steps: int = 25, guidance: float = 1.0) -> dict:
    """Sample one image per seed (classes cycling over the seeds) and measure their layout."""
    labels = torch.arange(len(seeds)) % len(CLASSES)
    h, w = (size, size) if isinstance(size, int) else size
    t0 = time.perf_counter()
    imgs = ddim_sample(model, labels, h, w, seeds, steps=steps, guidance=guidance)
    seconds = time.perf_counter() - t0
    out = layout_metrics(imgs, labels).summary()
    out.update({"size": f"{h}x{w}", "steps": steps, "guidance": guidance, "seconds": seconds})
    return out, imgs


def train_unet(out, steps: int = 4000, seed: int = 0, batch_size: int = 48, lr: float = 1e-3,
               warmup: int = 100, ema_decay: float = 0.999, label_dropout: float = 0.1,
               max_minutes: float | None = None, config: dict | None = None,
               eval_seeds: int = 64, eval_steps: int = 25, eval_guidance: float = 1.0,
               save_every: int = 250, threads: int | None = None, overwrite: bool = False,
               command: str | None = None, progress: bool = True, init=None) -> dict:
    """Train a ReferenceUNet, save EMA weights to ``out`` and a model card next to it.

    init: optional checkpoint to start from (its config and weights; for continuing a run).
    """
    check_output(out, overwrite)
    out = Path(out)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if init is not None:
        from posenc.reference_unet import load_reference_unet
        model = load_reference_unet(init).train()
        init_steps = int(model.checkpoint_metadata.get("steps", 0))
    else:
        model = ReferenceUNet(config)
        init_steps = 0
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    ab = schedule.alphas_cumprod().float()
    snr = ab / (1 - ab)
    weight = (snr.clamp(max=MIN_SNR_GAMMA) / snr)
    base = model.base_resolution
    nparams = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(seed + 1)
    losses = []
    t_start = time.perf_counter()
    max_s = None if max_minutes is None else 60.0 * max_minutes

    def progress_of(step):
        p = step / steps
        if max_s is not None:
            p = max(p, (time.perf_counter() - t_start) / max_s)
        return min(p, 1.0)

    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=steps, desc="train-unet", mininterval=5.0, file=sys.stderr)
        except ImportError:
            bar = None
    step = 0
    model.train()
    while step < steps and progress_of(step) < 1.0:
        frac = progress_of(step)
        cur_lr = lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = cur_lr
        params = sample_params(batch_size, seed * 1_000_003 + init_steps + step)
        x0 = render(params, base) * 2 - 1
        y = params.label.clone()
        y[torch.rand(batch_size, generator=g) < label_dropout] = model.num_classes
        t = torch.randint(0, schedule.NUM_TIMESTEPS, (batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        xt = schedule.add_noise(x0, noise, t)
        pred = model(xt, t.float(), y)
        per = (pred - noise).pow(2).mean(dim=(1, 2, 3))
        loss = (weight[t] * per).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        d = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        losses.append(float(per.detach().mean()))
        step += 1
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.4f}", lr=f"{cur_lr:.2e}")
        if save_every and step % save_every == 0:
            save_reference_unet(ema, out, CLASSES, schedule.SCHEDULE_INFO,
                                {"steps": step, "partial": True, "seed": seed})
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t_start

    meta = {"steps": step, "seed": seed, "init": str(init) if init else None,
            "init_steps": init_steps, "batch_size": batch_size, "lr": lr,
            "ema_decay": ema_decay, "label_dropout": label_dropout,
            "loss": f"eps MSE, Min-SNR-{MIN_SNR_GAMMA:g} weighted",
            "train_seconds": round(wall, 1), "parameters": nparams}
    save_reference_unet(ema, out, CLASSES, schedule.SCHEDULE_INFO, meta)

    evals = []
    if eval_seeds:
        seeds = list(range(eval_seeds))
        for gscale in sorted({1.0, float(eval_guidance)}):
            ev, _ = evaluate_layout(ema, seeds, base, eval_steps, gscale)
            evals.append(ev)
    summary = {"meta": meta, "loss_curve": loss_summary(losses), "eval_1x": evals,
               "command": command or "", "out": str(out)}
    write_model_card(out.with_suffix(".md"), summary, ema.config)
    return summary


def loss_summary(losses, points: int = 10) -> list:
    """Mean unweighted eps-MSE over ``points`` equal windows of the run: [(last step, mean)]."""
    if not losses:
        return []
    n = len(losses)
    out = []
    for i in range(points):
        a, b = i * n // points, (i + 1) * n // points
        if b > a:
            out.append((b, sum(losses[a:b]) / (b - a)))
    return out


def write_model_card(path, summary: dict, config: dict) -> None:
    """Markdown model card: command, seed, steps, wall time, loss curve, 1x layout metrics."""
    m = summary["meta"]
    lines = [
        "# Reference U-Net (posenc)",
        "",
        "A compact class-conditional pixel-space U-Net made of Stable Diffusion's parts "
        "(posenc/reference_unet.py), trained at 32x32 on the procedural scenes of "
        "posenc_lab/scenes.py (classes: " + ", ".join(CLASSES) + ").  eps prediction on SD's "
        "discrete scaled-linear schedule (1000 steps, beta 0.00085..0.012), so ComfyUI samples "
        "it with its default eps model sampling.",
        "",
        "## Training",
        "",
        f"* command: `{summary['command']}`",
        f"* seed {m['seed']}, {m['steps']} steps of batch {m['batch_size']}, "
        f"AdamW lr {m['lr']} (warm-up, cosine), EMA {m['ema_decay']}, "
        f"label dropout {m['label_dropout']}, loss: {m['loss']}",
        *([f"* continued from `{m['init']}` ({m['init_steps']} steps before this run)"]
          if m.get("init") else []),
        f"* parameters: {m['parameters']:,}; wall time {m['train_seconds'] / 60:.1f} min "
        f"({torch.get_num_threads()} CPU thread(s))",
        f"* config: `{json.dumps(config)}`",
        "",
        "Loss curve (unweighted eps MSE, mean over tenths of the run):",
        "",
        "| up to step | eps MSE |",
        "|---:|---:|",
    ]
    lines += [f"| {s} | {v:.4f} |" for s, v in summary["loss_curve"]]
    lines += ["", "## Layout at 1x (32x32)", "",
              "DDIM (posenc_lab/unet_sampling.py), seeds 0..N-1, classes cycling over the seeds; layout "
              "metrics of posenc_lab/layout_metrics.py against each image's class palette.", "",
              "| seeds | DDIM steps | guidance | layout valid | mean suns | mean horizons | "
              "sun below horizon | off-palette pixels | sampling s |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in summary["eval_1x"]:
        lines.append(f"| {e['n']} | {e['steps']} | {e['guidance']:g} | {e['valid_rate']:.1%} | "
                     f"{e['mean_suns']:.2f} | {e['mean_horizons']:.2f} | "
                     f"{e['sun_below_rate']:.1%} | {e['palette_outside']:.1%} | "
                     f"{e['seconds']:.1f} |")
    Path(path).write_text("\n".join(lines) + "\n")
