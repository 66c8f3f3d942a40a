"""The position probe (Table 1 of Zhou et al., arXiv 2503.09830, at our scale).

How much absolute position does the U-Net's last feature map carry?  Following the paper (which
follows Islam et al. 2020, "How much position information do CNNs encode?"), a *linear* probe
reads a position map from the features of the frozen U-Net, and its converged MSE is the measure:
low loss = position is linearly readable, loss near the target's variance = no position at all.

Exactly what is measured here:

* **Features**: the output of the U-Net's final decoder block (``model.output_blocks[-1]``), the
  input of the output head (GroupNorm, SiLU, 3x3 conv), captured by a forward hook: (B, 16, H, W)
  for the bundled model, at full resolution.
* **Target**: a 2-channel map (row, col) of normalised pixel-centre coordinates in (0, 1):
  ``((i + 0.5) / H, (j + 0.5) / W)``.  At 2x the target is the position within the whole 64x64
  map, also on its central 32x32 region (coordinates 0.25..0.75 there).
* **Probe**: one 1x1 conv, 16 -> 2 channels with bias, on features standardised per channel with
  the training set's mean and std (an affine map, so the probe stays linear).  One probe per
  (configuration, size), trained from zero with Adam on MSE (mean over both channels and all
  pixels) for a fixed number of steps on minibatches drawn by a seeded generator.  The reported
  loss is the held-out MSE of the trained probe on inputs it never saw.  Convergence is checked
  two ways: the mean of the last 100 training losses against the 100 before them (plateau), and
  against the least-squares optimum of the same linear probe on the training features.
* **Central region at 2x**: the loss of the *same* 2x probe (trained on the whole map) on the
  central 32x32 pixels only.  This is the question the paper asks: does the centre of a 2x map,
  far from the zero-padded border, still know where it is?  A probe that knows nothing there
  predicts about the mean, 0.5, and scores the centre's target variance (a quarter of the whole
  map's); the table reports every loss also as a share of its region's target variance
  (``1 - R^2``), so the three columns compare.
* **Inputs**: x_t of rendered scenes (posenc_lab/scenes.py, classes uniform, the scene's class label as
  the model's condition) at one timestep (default t = 500, mid-schedule).  Scenes carry position
  in their content (the sky is always on top), so by default each scene is first rolled
  (circularly shifted) by a random offset along both axes: the input distribution is then the
  same at every position, and whatever position the probe reads comes from the network
  (padding), not from the picture.  ``content="scenes"`` keeps them as rendered; ``"noise"`` feeds
  pure Gaussian noise (x_T).

Configurations (``CONFIGS``): ``zero`` (the model as it is: zero padding), ``circular`` (every
padded conv switched to ``padding_mode="circular"``: no border at all), ``redilate``
(redilation.py), ``pbc<N>`` (pbc.py, jitter 0 so the probe is deterministic).  Re-dilation and PBC
act only above the base size, so their 1x rows equal ``zero``'s by construction.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager

import torch
import torch.nn as nn

from posenc import schedule
from posenc.pbc import PBCRuntime, PBCSettings
from posenc.sampling_window import patched_module
from posenc.redilation import RedilationRuntime, RedilationSettings
from .scenes import render_scenes

CONFIGS = ("zero", "circular", "redilate", "pbc1", "pbc3", "pbc31")
LABELS = {"zero": "zero padding (as trained)", "circular": "circular padding",
          "redilate": "re-dilation", "pbc1": "PBC N=1", "pbc3": "PBC N=3", "pbc31": "PBC N=31"}
CONTENTS = ("rolled", "scenes", "noise")
CONTENT_TEXT = {"rolled": "x_t of rendered scenes, each rolled by a random offset along both axes",
                "scenes": "x_t of rendered scenes as they are (not rolled)",
                "noise": "pure Gaussian noise"}
PLATEAU_WINDOW = 100


def check_config(name: str) -> str:
    """A configuration name, or a ValueError listing the known ones."""
    if name in ("zero", "circular", "redilate"):
        return name
    if name.startswith("pbc") and name[3:].isdigit() and int(name[3:]) >= 1:
        return name
    raise ValueError(f"unknown probe configuration {name!r} (known: {', '.join(CONFIGS)}, "
                     f"or pbc<N> with N >= 1)")


def label(name: str) -> str:
    return LABELS.get(name, f"PBC N={name[3:]}" if name.startswith("pbc") else name)


# --- the pieces ---------------------------------------------------------------------------------

def position_target(height: int, width: int) -> torch.Tensor:
    """(2, H, W): row and column of every pixel centre, normalised to (0, 1)."""
    rows = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    cols = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    return torch.stack([rows.view(-1, 1).expand(height, width),
                        cols.view(1, -1).expand(height, width)])


def central_region(height: int, width: int, base_h: int, base_w: int) -> tuple[slice, slice]:
    """Row and column slices of the central base_h x base_w region of an H x W map."""
    if base_h > height or base_w > width:
        raise ValueError(f"central region {base_h}x{base_w} larger than the map {height}x{width}")
    top, left = (height - base_h) // 2, (width - base_w) // 2
    return slice(top, top + base_h), slice(left, left + base_w)


def feature_module(model) -> nn.Module:
    """The block whose output the probe reads: the U-Net's final decoder block."""
    return model.output_blocks[-1]


@contextmanager
def captured_features(model):
    """Hook the final decoder block; yields a dict whose "features" is set by each forward."""
    store = {}

    def hook(module, inputs, output):
        store["features"] = output.detach()

    handle = feature_module(model).register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


@contextmanager
def circular_padding(model):
    """Switch every padded Conv2d of the model to circular padding for the block; restores."""
    changed = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and not isinstance(module.padding, str) \
                and any(p > 0 for p in module.padding) and module.padding_mode == "zeros":
            module.padding_mode = "circular"
            changed.append(module)
    try:
        yield changed
    finally:
        for module in changed:
            module.padding_mode = "zeros"


@contextmanager
def configured(model, config: str, height: int, width: int, sigma: float):
    """The model in configuration ``config`` for calls at height x width and this sigma."""
    config = check_config(config)
    base = int(getattr(model, "base_resolution", 32))
    if config == "zero":
        yield
    elif config == "circular":
        with circular_padding(model):
            yield
    elif config == "redilate":
        runtime = RedilationRuntime(RedilationSettings(base, base))
        with patched_module(model, runtime), runtime.step(height, width, sigma):
            yield
    else:
        runtime = PBCRuntime(PBCSettings(boundaries=int(config[3:]), jitter=0, seed=0,
                                         base_height=base, base_width=base))
        with patched_module(model, runtime), runtime.step(height, width, sigma):
            yield


def probe_inputs(n: int, height: int, width: int, seed: int, timestep: int,
                 content: str = "rolled"):
    """(x_t (n, 3, H, W), timesteps (n,), labels (n,)), deterministic in the seed."""
    if content not in CONTENTS:
        raise ValueError(f"unknown content {content!r} (known: {', '.join(CONTENTS)})")
    images, labels, _ = render_scenes(n, (height, width), seed)
    g = torch.Generator().manual_seed(int(seed) + 7919)
    if content == "rolled":
        shifts = torch.randint(0, 1 << 30, (n, 2), generator=g)
        images = torch.stack([torch.roll(img, (int(s[0]) % height, int(s[1]) % width), (1, 2))
                              for img, s in zip(images, shifts)])
    noise = torch.randn(images.shape, generator=g)
    t = torch.full((n,), int(timestep), dtype=torch.long)
    x = noise if content == "noise" else schedule.add_noise(2 * images - 1, noise, t)
    return x, t, labels


@torch.no_grad()
def extract_features(model, config: str, x, t, labels, batch_size: int = 16,
                     on_batch=None) -> torch.Tensor:
    """Last features (n, C, H, W) of the model in ``config`` for inputs x_t at timesteps t."""
    h, w = x.shape[-2:]
    sigma = float(schedule.sigmas()[int(t[0])])
    out = []
    with configured(model, config, h, w, sigma), captured_features(model) as store:
        for i in range(0, x.shape[0], batch_size):
            model(x[i:i + batch_size], t[i:i + batch_size], labels[i:i + batch_size])
            out.append(store["features"].float())
            if on_batch is not None:
                on_batch(min(batch_size, x.shape[0] - i))
    return torch.cat(out)


# --- the probe ----------------------------------------------------------------------------------

class LinearProbe(nn.Module):
    """A 1x1 conv from standardised features to the (row, col) map; starts at zero."""

    def __init__(self, channels: int, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.view(1, -1, 1, 1))
        self.register_buffer("std", std.view(1, -1, 1, 1))
        self.conv = nn.Conv2d(channels, 2, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv((features - self.mean) / self.std)


def region_mse(pred: torch.Tensor, target: torch.Tensor, region=None) -> float:
    """MSE over all images, both channels and the pixels of ``region`` (row, col slices)."""
    if region is not None:
        pred, target = pred[..., region[0], region[1]], target[..., region[0], region[1]]
    return float(((pred - target.expand_as(pred)) ** 2).mean())


def target_variance(target: torch.Tensor, region=None) -> float:
    """The loss of the best constant prediction: the target's variance (mean over channels)."""
    if region is not None:
        target = target[..., region[0], region[1]]
    return float(target.reshape(2, -1).var(dim=1, unbiased=False).mean())


EDGE_BANDS = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64))


def edge_distance(height: int, width: int) -> torch.Tensor:
    """(H, W): pixels to the nearest image edge (0 on the border row/column)."""
    rows = torch.arange(height).view(-1, 1)
    cols = torch.arange(width).view(1, -1)
    return torch.minimum(torch.minimum(rows, height - 1 - rows),
                         torch.minimum(cols, width - 1 - cols))


def band_profile(pred: torch.Tensor, target: torch.Tensor, bands=EDGE_BANDS) -> list[dict]:
    """Per band of distance to the edge [lo, hi) px: MSE, the band's target variance, and the
    ratio (1 - R^2 within the band); bands with no pixels are left out."""
    dist = edge_distance(*target.shape[-2:])
    out = []
    for lo, hi in bands:
        mask = (dist >= lo) & (dist < hi)
        if not bool(mask.any()):
            continue
        err = ((pred - target.expand_as(pred)) ** 2)[..., mask].mean()
        var = target[:, mask].var(dim=1, unbiased=False).mean()
        out.append({"band": [lo, hi], "mse": float(err), "variance": float(var),
                    "ratio": float(err / var)})
    return out


def least_squares_mse(features: torch.Tensor, target: torch.Tensor) -> float:
    """Training MSE of the optimal affine 1x1 map (closed form): the floor the probe converges to."""
    n, c, h, w = features.shape
    a = features.permute(0, 2, 3, 1).reshape(-1, c).double()
    a = torch.cat([a, torch.ones(a.shape[0], 1, dtype=a.dtype)], dim=1)
    b = target.permute(1, 2, 0).reshape(1, h * w, 2).expand(n, h * w, 2).reshape(-1, 2).double()
    solution = torch.linalg.lstsq(a, b, driver="gelsd").solution
    return float(((a @ solution - b) ** 2).mean())


def train_probe(features: torch.Tensor, target: torch.Tensor, steps: int = 1500,
                batch_size: int = 8, lr: float = 0.02, seed: int = 0, on_step=None):
    """Train a LinearProbe on (n, C, H, W) features against the (2, H, W) target.

    Adam, cosine-decayed learning rate, minibatches of ``batch_size`` images drawn with a
    generator seeded by ``seed``.  Returns (probe, per-step training losses).
    """
    if steps < 1:
        raise ValueError("probe steps must be >= 1")
    n, c = features.shape[:2]
    mean = features.mean(dim=(0, 2, 3))
    std = features.std(dim=(0, 2, 3)).clamp_min(1e-6)
    probe = LinearProbe(c, mean, std)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    g = torch.Generator().manual_seed(int(seed))
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=g)
        loss = ((probe(features[idx]) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step()
    return probe.eval(), losses


def plateau(losses, window: int = PLATEAU_WINDOW) -> dict:
    """Mean of the last ``window`` losses, of the ``window`` before, and their relative change."""
    last = sum(losses[-window:]) / len(losses[-window:])
    before = losses[-2 * window:-window] or losses[:1]
    prev = sum(before) / len(before)
    return {"last_mean": last, "previous_mean": prev,
            "relative_change": (prev - last) / prev if prev else 0.0}


# --- the whole probe ----------------------------------------------------------------------------

def run_position_probe(model, configs=CONFIGS, scales=(1, 2), n_train: int = 64,
                       n_test: int = 32, steps: int = 1500, seed: int = 0, timestep: int = 500,
                       content: str = "rolled", batch_size: int = 8, lr: float = 0.02,
                       progress: bool = True) -> dict:
    """Probe every configuration at every scale; returns {"rows": [...], settings...}.

    Each row: config, scale, size, test MSE over the whole map and (above 1x) over the central
    base-size region, the matching target variances, the plateau check and the least-squares
    floor on the training features.
    """
    from tqdm import tqdm

    configs = [check_config(c) for c in configs]
    if not 0 <= int(timestep) < schedule.NUM_TIMESTEPS:
        raise ValueError(f"timestep must be in 0..{schedule.NUM_TIMESTEPS - 1} (got {timestep})")
    if n_train < 1 or n_test < 1:
        raise ValueError("n_train and n_test must be >= 1")
    base = int(model.base_resolution)
    sizes = []
    for s in scales:
        if int(s) != s or s < 1:
            raise ValueError(f"scales must be positive integers (got {s})")
        sizes.append((base * int(s), base * int(s)))
        model.check_size(*sizes[-1])
    model.eval()   # frozen: features are taken under no_grad, only the probe is trained
    total = len(configs) * len(sizes) * (n_train + n_test + steps)
    bar = tqdm(total=total, unit="it", disable=not progress, dynamic_ncols=True,
               desc="position probe")
    rows = []
    start = time.perf_counter()
    for (h, w), scale in zip(sizes, scales):
        train_in = probe_inputs(n_train, h, w, seed, timestep, content)
        test_in = probe_inputs(n_test, h, w, seed + 1, timestep, content)
        target = position_target(h, w)
        center = central_region(h, w, base, base) if (h, w) != (base, base) else None
        for config in configs:
            bar.set_description(f"{h}x{w} {config}")
            f_train = extract_features(model, config, *train_in, on_batch=bar.update)
            f_test = extract_features(model, config, *test_in, on_batch=bar.update)
            probe, losses = train_probe(f_train, target, steps, batch_size, lr, seed,
                                        on_step=lambda: bar.update(1))
            with torch.no_grad():
                pred = torch.cat([probe(f_test[i:i + 16]) for i in range(0, n_test, 16)])
            row = {"config": config, "label": label(config), "scale": scale, "size": [h, w],
                   "mse": region_mse(pred, target), "variance": target_variance(target),
                   "center_mse": None, "center_variance": None,
                   "train_plateau": plateau(losses), "train_final": losses[-1],
                   "least_squares_train_mse": least_squares_mse(f_train, target),
                   "edge_bands": band_profile(pred, target)}
            if center is not None:
                row["center_mse"] = region_mse(pred, target, center)
                row["center_variance"] = target_variance(target, center)
            rows.append(row)
    bar.close()
    return {"rows": rows, "configs": configs, "scales": list(scales), "base": base,
            "n_train": n_train, "n_test": n_test, "steps": steps, "seed": seed,
            "timestep": int(timestep), "content": content, "batch_size": batch_size, "lr": lr,
            "seconds": time.perf_counter() - start}


def _cell(mse, var) -> str:
    return "—" if mse is None else f"{mse:.4f} ({100 * mse / var:.0f}%)"


def format_table(result: dict) -> str:
    """Markdown: one row per configuration; MSE (share of the target variance) per column."""
    base = result["base"]
    rows = result["rows"]
    scales = result["scales"]
    by = {(r["config"], r["scale"]): r for r in rows}
    head = ["configuration"]
    for s in scales:
        n = base * s
        if s == 1:
            head.append(f"{s}x ({n}x{n})")
        else:
            head += [f"{s}x ({n}x{n}), whole map", f"{s}x, central {base}x{base}"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    # The no-information row: the variance of the target (the loss of predicting its mean).
    cells = ["no position (target variance)"]
    for s in scales:
        r = next(r for r in rows if r["scale"] == s)
        cells.append(f"{r['variance']:.4f} (100%)")
        if s != 1:
            cells.append(f"{r['center_variance']:.4f} (100%)")
    lines.append("| " + " | ".join(cells) + " |")
    for config in result["configs"]:
        cells = [label(config)]
        for s in scales:
            r = by[(config, s)]
            cells.append(_cell(r["mse"], r["variance"]))
            if s != 1:
                cells.append(_cell(r["center_mse"], r["center_variance"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_bands(result: dict, scale: int) -> str:
    """Markdown: held-out MSE as a share of the band's target variance, by distance to the edge."""
    rows = [r for r in result["rows"] if r["scale"] == scale]
    if not rows:
        return ""
    bands = [b["band"] for b in rows[0]["edge_bands"]]
    h, w = rows[0]["size"]
    head = ["configuration"] + [f"{lo}-{hi - 1} px from the edge" for lo, hi in bands]
    lines = [f"{scale}x ({h}x{w}): " + "MSE / target variance within the band", "",
             "| " + " | ".join(head) + " |", "|---" + "|---:" * len(bands) + "|"]
    for r in rows:
        lines.append(f"| {r['label']} | " + " | ".join(f"{100 * b['ratio']:.0f}%"
                                                      for b in r["edge_bands"]) + " |")
    return "\n".join(lines)


def format_convergence(result: dict) -> str:
    """Markdown: the plateau check and the least-squares floor of every probe."""
    lines = ["| configuration | size | train MSE, last 100 steps | previous 100 | change | "
             "least-squares floor (train) | held-out MSE |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        p = r["train_plateau"]
        lines.append(f"| {r['label']} | {r['size'][0]}x{r['size'][1]} | {p['last_mean']:.5f} | "
                     f"{p['previous_mean']:.5f} | {100 * p['relative_change']:+.2f}% | "
                     f"{r['least_squares_train_mse']:.5f} | {r['mse']:.5f} |")
    return "\n".join(lines)


def format_report(result: dict, command: str | None = None) -> str:
    """The whole Markdown report: settings, the main table, edge bands, convergence."""
    r = result
    lines = ["# Position probe: output of one run", ""]
    if command:
        lines += ["    " + command, ""]
    lines += [f"Bundled reference U-Net, features of its final decoder block; inputs: "
              f"{CONTENT_TEXT[r['content']]}, t = {r['timestep']}; {r['n_train']} training and "
              f"{r['n_test']} held-out images per size; linear probe (1x1 conv) trained "
              f"{r['steps']} Adam steps (lr {r['lr']}, cosine, batch {r['batch_size']} images), "
              f"seed {r['seed']}; target (row, col) in (0, 1).  Held-out MSE (share of the "
              f"target variance).  Wall time {r['seconds']:.0f} s.", "",
              format_table(r), ""]
    for s in r["scales"]:
        if s != 1:
            lines += [format_bands(r, s), ""]
    lines += ["Convergence (train MSE is the mean over both channels and all pixels):", "",
              format_convergence(r), ""]
    return "\n".join(lines)


def write_outputs(result: dict, out, command: str | None = None) -> str:
    """Write the Markdown report to ``out`` and the raw result as JSON next to it."""
    import json
    from pathlib import Path

    text = format_report(result, command)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    return text
