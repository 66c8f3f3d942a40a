"""The RPE-2D benchmark: the bundled tiny DiTs at and above their training size.

Two DiTs of the same size, trained on the same procedural scenes (scenes.py) at 32x32 with the
same number of steps and batch size (models/tiny_dits.md): ``vanilla`` (DiT's sin-cos at the
training grid, positions 0..15) and ``rpe2d`` (positions drawn per axis from [0, L), L = 64 = the
grid at 4x, with crop micro-conditioning; Liu, Hou et al., arXiv 2503.18719; docs/DESIGN.md
section 3).  ``--weights-dir`` also takes the RoPE pair (``rope``, ``rope_rpe2d``).  Methods, each
a (model, position mode) pair of posenc/position_modes.py:

* ``vanilla+first``: positions 0..n-1, plain extrapolation (what a DiT does by default);
* ``vanilla+interpolate``: positional interpolation onto the trained grid (fractional positions);
* ``vanilla+ntk``: positions 0..n-1 with NTK-scaled sin-cos frequencies;
* ``vanilla+yarn``: positions 0..n-1 with YaRN's per-frequency blend (no attention temperature on
  a sin-cos DiT, docs/DESIGN.md section 9);
* ``rpe2d+linspace``: round(linspace(0, L-1, n)), the loader's default for RPE-2D checkpoints;
* ``rpe2d+random``: a seeded sorted subset of [0, L) (seed 0).

And what a ComfyUI user does instead (docs/DESIGN.md section 7), for any model:

* ``<model>+hires``: the two-pass hires fix (two_pass.py): sample at the training size in the
  model's default mode, upscale (nearest-exact, as LatentUpscaleBy), then img2img at the target
  size (denoise 0.5: the last 25 steps of a 50-step schedule, dit_diffusion.pass_timesteps) in the
  same mode.  Knobs ``:denoise=D``, ``:up=nearest|bilinear`` and ``:mode=M`` (the position mode of
  both passes); n/a where the smaller side is at the training size (1x, 32x64).

All methods run on the same seeds (image i starts from the noise of seed i, class = seed mod 4)
with the DiT's DDIM sampler (dit_diffusion.py).  Per size and method: the layout measures of
layout_metrics.py (layout-valid rate, mean suns, mean horizons, sun below horizon, off-palette pixels),
the KID and patch similarity (Content Richness) of feature_metrics.py, and the sampling time
relative to ``vanilla+first`` at the same size, same run.  KID compares a method's outputs
(area-resized to 32x32) with *its own model's* 1x outputs of the same seeds in the model's default
mode (``DEFAULT_MODE``: first for fixed positions, linspace for RPE-2D), as the layout benchmark does for the U-Net.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import torch

from . import dit_diffusion
from .feature_metrics import features, kid_from_features, patch_similarity
from .layout_metrics import layout_metrics
from .run_records import pct
from posenc.checkpoint_files import BUNDLED_DIR
from .two_pass import UPSCALES, NotApplicable, parse_denoise, pass_sizes, upscale
from .unet_sampling import initial_noise

DEFAULT_MODE = {"vanilla": "first", "rpe2d": "linspace", "rope": "first", "rope_rpe2d": "linspace"}
MODELS = {"vanilla": "tiny_dit_vanilla.safetensors", "rpe2d": "tiny_dit_rpe2d.safetensors",
          "rope": "tiny_dit_rope.safetensors", "rope_rpe2d": "tiny_dit_rope_rpe2d.safetensors"}
#: The models loaded when none are named: the sin-cos pair (the RoPE pair is optional).
DEFAULT_MODELS = ("vanilla", "rpe2d")
METHODS = ("vanilla+first", "vanilla+interpolate", "vanilla+ntk", "vanilla+yarn", "vanilla+hires",
           "rpe2d+linspace", "rpe2d+random", "rpe2d+hires")
DEFAULT_SIZES = ((32, 32), (48, 48), (64, 64), (96, 96), (32, 64))
NUM_CLASSES = 4
HIRES_DENOISE = 0.5


class DiTMethod(NamedTuple):
    """A parsed method: the model, the position mode, and whether it is the hires fix (with its
    denoise and upscale)."""
    model: str
    mode: str
    hires: bool = False
    denoise: float = HIRES_DENOISE
    up: str = "nearest"


def parse_method(method: str) -> DiTMethod:
    """"model+mode" or "model+hires[:denoise=D][:up=U][:mode=M]" (module docstring), with a
    clear error for anything else."""
    from posenc.position_modes import POSITION_MODES
    model, _, rest = method.partition("+")
    name, *knobs = rest.split(":")
    usage = (f"expected <model>+<position mode> or <model>+hires[:denoise=D][:up=U][:mode=M], "
             f"model in {', '.join(MODELS)}, mode in {', '.join(POSITION_MODES)} "
             f"(e.g. {', '.join(METHODS)}, vanilla+hires:mode=interpolate)")
    if model not in MODELS or not (name in POSITION_MODES and not knobs or name == "hires"):
        raise ValueError(f"unknown method {method!r}: {usage}")
    if name != "hires":
        return DiTMethod(model, name)
    spec = DiTMethod(model, DEFAULT_MODE[model], hires=True)
    seen = set()
    for knob in knobs:
        key, eq, value = knob.partition("=")
        if not eq or key in seen:
            raise ValueError(f"knob {knob!r} of {method!r} must look like key=value, once each")
        seen.add(key)
        if key == "denoise":
            spec = spec._replace(denoise=parse_denoise(value))
        elif key == "up" and value in UPSCALES:
            spec = spec._replace(up=value)
        elif key == "mode" and value in POSITION_MODES:
            spec = spec._replace(mode=value)
        else:
            raise ValueError(f"knob {knob!r} of {method!r}: the hires fix takes denoise in (0, 1), "
                             f"up in {', '.join(UPSCALES)}, mode in {', '.join(POSITION_MODES)}")
    return spec


def check_method(method: str) -> tuple[str, str]:
    """"model+mode" -> (model, mode) for a position mode (not the hires fix), with a clear error
    for anything else."""
    spec = parse_method(method)
    if spec.hires:
        raise ValueError(f"{method!r} is the hires fix, not a position mode")
    return spec.model, spec.mode


def load_tiny_dits(folder=None, names=None) -> dict:
    """The bundled tiny DiTs (or those of `folder`), as {"vanilla": DiT, "rpe2d": DiT}."""
    from posenc.dit import load_dit
    folder = Path(folder) if folder is not None else BUNDLED_DIR
    out = {}
    for key in names or DEFAULT_MODELS:
        path = folder / MODELS[key]
        if not path.is_file():
            raise FileNotFoundError(f"tiny DiT weights not found: {path} (train them with the "
                                    f"command in models/tiny_dits.md)")
        model, _ = load_dit(str(path))
        out[key] = model.float().eval()
    return out


def check_size(model, height: int, width: int) -> None:
    p = model.config.patch_size
    if height % p or width % p or height < p or width < p:
        raise ValueError(f"size {height}x{width} is not a multiple of the DiT's patch size {p}")


@torch.no_grad()
def sample_dit(model, mode: str, labels, height: int, width: int, seeds, steps: int = 25,
               guidance: float = 1.0, position_seed: int = 0) -> torch.Tensor:
    """DDIM samples (B, 3, H, W) in [0, 1]; image i starts from the noise of seeds[i]."""
    check_size(model, height, width)
    labels = torch.as_tensor(labels).reshape(-1).expand(len(seeds)).clone()
    noise = initial_noise(seeds, model.config.in_channels, height, width)
    x = dit_diffusion.ddim_sample(model, tuple(noise.shape), steps=steps, y=labels, cfg_scale=guidance,
                              noise=noise, mode=mode, seed=position_seed)
    return x.add(1).div(2).clamp(0, 1)


@torch.no_grad()
def sample_hires(model, spec: DiTMethod, labels, height: int, width: int, seeds, steps: int = 25,
                 guidance: float = 1.0) -> torch.Tensor:
    """The hires fix (module docstring): (B, 3, H, W) in [0, 1].  NotApplicable where the target's
    smaller side is at the training size.  The img2img pass starts from each seed's own noise at
    the target size, as a second KSampler with the same seed does."""
    check_size(model, height, width)
    p = model.config.patch_size
    base = model.config.grid[0] * p
    (h1, w1), _ = pass_sizes("hires", height, width, base, p)
    first = sample_dit(model, spec.mode, labels, h1, w1, seeds, steps, guidance)
    init = upscale(first, height, width, spec.up) * 2 - 1
    labels = torch.as_tensor(labels).reshape(-1).expand(len(seeds)).clone()
    noise = initial_noise(seeds, model.config.in_channels, height, width)
    x = dit_diffusion.ddim_sample(model, tuple(noise.shape), steps=steps, y=labels,
                                  cfg_scale=guidance, noise=noise, init=init,
                                  denoise=spec.denoise, mode=spec.mode, seed=0)
    return x.add(1).div(2).clamp(0, 1)


def sample_method(model, spec: DiTMethod, labels, height: int, width: int, seeds,
                  steps: int = 25, guidance: float = 1.0) -> torch.Tensor:
    """A parsed method's samples: the hires fix, or one pass in the method's position mode."""
    if spec.hires:
        return sample_hires(model, spec, labels, height, width, seeds, steps, guidance)
    return sample_dit(model, spec.mode, labels, height, width, seeds, steps, guidance)


def method_name(spec: DiTMethod) -> str:
    """The canonical name of a parsed method (the hires fix's knobs only where not default)."""
    if not spec.hires:
        return f"{spec.model}+{spec.mode}"
    knobs = [f":denoise={spec.denoise:g}"] if spec.denoise != HIRES_DENOISE else []
    knobs += [f":up={spec.up}"] if spec.up != "nearest" else []
    knobs += [f":mode={spec.mode}"] if spec.mode != DEFAULT_MODE[spec.model] else []
    return f"{spec.model}+hires" + "".join(knobs)


def size_name(h: int, w: int, base: int) -> str:
    if h == w:
        return f"{h / base:g}x ({h}x{w})"
    return f"{h}x{w}"


def run_rpe2d_bench(models: dict, sizes=DEFAULT_SIZES, methods=METHODS, seeds: int = 64,
                    steps: int = 25, guidance: float = 1.0, chunk: int = 16,
                    progress: bool = True, seed_start: int = 0) -> dict:
    """Run the benchmark on seeds seed_start .. seed_start + seeds - 1 (class = seed mod 4);
    returns {"rows": [...], ...} (one row per size and method)."""
    from tqdm import tqdm

    specs = [parse_method(m) for m in methods]
    methods = [method_name(spec) for spec in specs]
    for key, *_ in specs:
        if key not in models:
            raise ValueError(f"method needs the {key!r} model, which was not loaded")
    first = next(iter(models.values()))
    base = first.config.grid[0] * first.config.patch_size
    for h, w in sizes:
        for m in models.values():
            check_size(m, h, w)
    seed_list = list(range(seed_start, seed_start + seeds))
    labels = torch.tensor([s % NUM_CLASSES for s in seed_list])
    result = {"seeds": seeds, "seed_start": seed_start, "steps": steps, "guidance": guidance,
              "base": base, "rows": [], "threads": torch.get_num_threads(),
              "models": {k: {"file": MODELS.get(k, k), "patch": m.config.patch_size,
                             "grid": list(m.config.grid), "L": list(m.config.max_positions),
                             "positions": m.config.position_sampling,
                             "encoding": m.config.position_encoding}
                         for k, m in models.items()},
              "kid_scale": 1000}
    keys = sorted({spec.model for spec in specs})
    bar = tqdm(total=(len(sizes) * len(specs) + len(keys)) * seeds, unit="img",
               disable=not progress, dynamic_ncols=True)

    def sample_all(spec, h, w):
        out, elapsed = [], 0.0
        for start in range(0, seeds, chunk):
            part = seed_list[start:start + chunk]
            t0 = time.perf_counter()
            out.append(sample_method(models[spec.model], spec, labels[start:start + chunk], h, w,
                                     part, steps, guidance))
            elapsed += time.perf_counter() - t0
            bar.update(len(part))
        return torch.cat(out), elapsed

    reference = {}  # KID reference: each model's 1x outputs in its default mode
    for key in keys:
        bar.set_description(f"1x reference {key}")
        reference[key] = features(sample_all(DiTMethod(key, DEFAULT_MODE[key]), base, base)[0])
    for h, w in sizes:
        reference_time = None
        sample_dit(first, "first", labels[:1], h, w, seed_list[:1], 2, guidance)  # warm-up
        for method, spec in zip(methods, specs):
            bar.set_description(f"{h}x{w} {method}")
            try:
                images, elapsed = sample_all(spec, h, w)
            except NotApplicable as e:
                result["rows"].append(dict(method=method, height=h, width=w,
                                           not_applicable=str(e)))
                bar.update(seeds)
                continue
            summary = layout_metrics(images, labels).summary()
            reference_time = elapsed if reference_time is None else reference_time
            kid = kid_from_features(features(images), reference[spec.model]) if seeds > 1 else None
            result["rows"].append(dict(summary, method=method, height=h, width=w,
                                       seconds=elapsed, time_ratio=elapsed / reference_time,
                                       kid=kid,
                                       patch_similarity=float(patch_similarity(images).mean())))
    bar.close()
    return result


def _kid(value) -> str:
    return "n/a" if value is None else f"{1000 * value:.2f}"


def _threads(result: dict) -> str:
    n = result.get("threads", 1)  # results written before the count was recorded ran on one
    return "one torch thread" if n == 1 else f"{n} torch threads"


def _model_list(result: dict) -> str:
    models = result.get("models")
    if not models:  # results written before the models were recorded
        return "models/tiny_dit_vanilla.safetensors, models/tiny_dit_rpe2d.safetensors"
    return "; ".join(f"{k}: {v['file']}, {v['encoding']}, patch {v['patch']}, positions "
                     f"{v['positions']} L={v['L'][0]}x{v['L'][1]}" for k, v in models.items())


def _origin(result: dict) -> tuple[str, str]:
    """Where the weights came from, for the title and the card reference: the bundled ones
    (models/, their card models/tiny_dits.md) unless the run named a folder (``--weights-dir``)."""
    folder = result.get("weights_dir")
    if folder is None:
        return "bundled tiny DiTs", "models/tiny_dits.md"
    return f"tiny DiTs from {folder}", f"weights from {folder}"


def markdown_table(result: dict, command: str | None = None) -> str:
    base = result["base"]
    title, card = _origin(result)
    hires_note = ""
    if any("+hires" in r["method"] for r in result["rows"]):
        hires_note = (f"  hires (the hires fix): sample at {base}x{base} in the model's default mode, "
                      "upscale (nearest-exact unless :up=bilinear), img2img at the target size "
                      f"(denoise {HIRES_DENOISE:g} unless :denoise=D); n/a where the smaller side is already "
                      f"{base}.")
    lines = [f"# RPE-2D benchmark ({title})", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [
        f"Tiny DiTs ({_model_list(result)}; trained at {base}x{base}, same steps and batch; "
        f"{card}).  "
        f"{result['seeds']} seeds per cell (seeds {result.get('seed_start', 0)}.."
        f"{result.get('seed_start', 0) + result['seeds'] - 1}, class = seed mod 4, "
        f"the same noise for every method), {result['steps']} DDIM steps, guidance "
        f"{result['guidance']:g}.  Layout metrics: posenc_lab/layout_metrics.py against each image's "
        "class palette.  KID x1000 (lower = closer): outputs area-resized to 32x32 against the "
        "same model's 1x outputs of the same seeds in its default mode (fixed positions: first, "
        "RPE-2D: linspace), on the fixed random feature network of posenc_lab/feature_metrics.py.  Patch "
        "similarity (Content Richness): mean cosine similarity of the 3x3 patches' features, "
        "lower = richer.  Time ratio: sampling time (both passes for the hires fix) / the first "
        f"method at the same size, same run, {_threads(result)} on a shared CPU." + hires_note,
        "",
        "| size | method | layout valid | mean suns | mean horizons | sun below horizon "
        "| off-palette pixels | KID x1000 | patch similarity | time ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        if r.get("not_applicable"):
            lines.append(f"| {size_name(r['height'], r['width'], base)} | {r['method']} "
                         + "| n/a " * 8 + "|")
            continue
        lines.append(
            f"| {size_name(r['height'], r['width'], base)} | {r['method']} "
            f"| {pct(r['valid_rate'])} | {r['mean_suns']:.2f} | {r['mean_horizons']:.2f} "
            f"| {pct(r['sun_below_rate'])} | {pct(r['palette_outside'])} "
            f"| {_kid(r.get('kid'))} "
            f"| {r['patch_similarity']:.3f} | {r['time_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, out, command: str | None = None) -> str:
    """The table to `out`, the raw numbers next to it (.json), as the layout benchmark does."""
    from .layout_bench import write_outputs as write
    return write(result, out, command, table_of=markdown_table)
