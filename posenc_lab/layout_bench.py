"""The layout benchmark: resolution methods side by side on the bundled reference U-Net.

Every method runs in one harness on the same seeds (0..n-1) and labels (class = seed mod 4), so
every cell starts from the same noise.  Per size and method: layout-valid rate, mean suns, mean
horizons, sun-below-horizon rate, off-palette pixel share (layout_metrics.py, against each image's class
palette), the PBC paper's two measures on a fixed random feature network (feature_metrics.py):
KID between the outputs area-resized to the training size and the model's 1x outputs of the same
seeds and classes, and Content Richness as the mean pairwise cosine similarity of the 3x3 patch
features (lower = richer), and the sampling time relative to ``direct`` at the same size, measured
in the same run.  The 1x (training size) valid rate of the model is measured in the same run and
printed next to every row: a comparison means something only if the model is good at 1x.  The
KID noise floor, KID between the 1x outputs of seeds n..2n-1 and those of seeds 0..n-1, is
measured too: a KID below it is "as close to the 1x model as another batch of the 1x model".

The 1x cell is always run first (it is the model's reference); at 1x every method is off by
definition, and the table shows that they reproduce direct there (their 1x images are the KID
reference itself, so KID is not shown for them).  ``pbc-auto`` resolves to a fixed N per size
(resolution_methods.py); when that N is also benchmarked with the same knobs, its row is a copy.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .feature_metrics import features, kid_from_features, patch_similarity
from .layout_metrics import layout_metrics
from .run_records import pct
from .resolution_methods import check_method, method_label, parse_method, resolve, sample_with_method
from .seam_metric import seam_score
from .two_pass import NotApplicable

DEFAULT_SIZES = ((32, 32), (64, 64), (128, 128), (32, 128))
DEFAULT_METHODS = ("direct", "pbc1", "pbc3", "pbc31", "pbc-auto", "redilate", "unidirectional",
                   "entropy", "pbc31:merge=strongest", "pbc3:minsize=64")


def parse_size(text: str) -> tuple[int, int]:
    """"HxW" -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 64x64 (got {text!r})") from None
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive (got {text!r})")
    return h, w


def size_name(h: int, w: int, base: int) -> str:
    if h == w and h % base == 0:
        return f"{h // base}x ({h}x{w})"
    return f"{h}x{w}"


def run_layout_bench(model, sizes=DEFAULT_SIZES, methods=DEFAULT_METHODS, seeds: int = 64,
                     steps: int = 25, guidance: float = 1.0, chunk: int = 8,
                     progress: bool = True, on_cell=None, seed_start: int = 0,
                     model_name: str | None = None) -> dict:
    """Run the benchmark; returns {"rows": [...], "valid_1x": float, ...}.

    on_cell(result_so_far) is called after every (size, method) cell (for incremental output).
    """
    from tqdm import tqdm

    methods = [check_method(m) for m in methods]
    methods = ["direct"] + [m for m in dict.fromkeys(methods) if m != "direct"]
    base = int(model.base_resolution)
    sizes = [tuple(s) for s in sizes]
    sizes = [(base, base)] + [s for s in dict.fromkeys(sizes) if s != (base, base)]
    seed_list = list(range(seed_start, seed_start + seeds))
    labels = torch.tensor([s % 4 for s in seed_list])
    result = {"seeds": seeds, "seed_start": seed_start, "model": model_name,
              "steps": steps, "guidance": guidance, "base": base, "rows": [],
              "valid_1x": None, "kid_floor": None, "kid_scale": 1000, "wall_seconds": None}
    total = len(sizes) * len(methods) * seeds + seeds
    bar = tqdm(total=total, unit="img", disable=not progress, dynamic_ncols=True)
    reference = ref_features = None
    t_start = time.perf_counter()

    def sample(method, h, w, seed_values, label_values):
        images, elapsed = [], 0.0
        for start in range(0, len(seed_values), chunk):
            part = seed_values[start:start + chunk]
            t0 = time.perf_counter()
            images.append(sample_with_method(model, method, label_values[start:start + chunk],
                                             h, w, part, steps, guidance))
            elapsed += time.perf_counter() - t0
            bar.update(len(part))
        return torch.cat(images), elapsed

    for h, w in sizes:
        done: dict[str, dict] = {}
        direct_time = None
        # Warm-up (allocator, kernels) so that the first timed method is not penalised.
        sample_with_method(model, "direct", labels[:1], h, w, seed_list[:1], 2, guidance)
        for method in methods:
            concrete = resolve(method, h, w, base, base)
            bar.set_description(f"{h}x{w} {method}")
            if concrete in done and concrete != method:
                row = dict(done[concrete], method=method, same_as=concrete)
                bar.update(seeds)
            else:
                try:
                    images, elapsed = sample(method, h, w, seed_list, labels)
                except NotApplicable as e:
                    row = dict(method=method, height=h, width=w, not_applicable=str(e))
                    bar.update(seeds)
                    done[method] = row
                    result["rows"].append(row)
                    continue
                summary = layout_metrics(images, labels).summary()
                if reference is None:
                    # The first cell is direct at 1x: the KID reference, and its noise floor
                    # from another batch of seeds of the same classes.
                    reference, ref_features = images, features(images)
                    other, _ = sample("direct", h, w, [seeds + s for s in seed_list], labels)
                    result["kid_floor"] = kid_from_features(features(other), ref_features)
                if (h, w) == (base, base) and torch.equal(images, reference):
                    kid = None
                else:
                    kid = kid_from_features(features(images), ref_features)
                if method == "direct":
                    direct_time = elapsed
                row = dict(summary, method=method, height=h, width=w, seconds=elapsed,
                           time_ratio=elapsed / direct_time, same_as=None,
                           resolved=concrete if concrete != method else None, kid=kid,
                           patch_similarity=float(patch_similarity(images).mean()),
                           seam=seam_score(images))
            done[method] = row
            result["rows"].append(row)
            if (h, w) == (base, base) and method == "direct":
                result["valid_1x"] = row["valid_rate"]
            result["wall_seconds"] = time.perf_counter() - t_start
            if on_cell is not None:
                on_cell(result)
    bar.close()
    return result


def row_label(row: dict) -> str:
    """The method's table name; pbc-auto rows say which N they stand for at their size."""
    name = method_label(row["method"])
    concrete = row.get("same_as") or row.get("resolved")
    if parse_method(row["method"]).kind == "pbc-auto" and concrete:
        name += f" (= N={parse_method(concrete).boundaries})"
    return name


def _kid(value, scale) -> str:
    return "ref" if value is None else f"{scale * value:.2f}"


def markdown_table(result: dict, command: str | None = None) -> str:
    """The benchmark as Markdown: a header stating the setup (and command), then one row per
    (size, method)."""
    base = result["base"]
    v1 = result["valid_1x"]
    scale = result.get("kid_scale", 1000)
    floor = result.get("kid_floor")
    lines = ["# Layout benchmark (reference U-Net)", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    if result.get("wall_seconds") is not None:
        lines += [f"Wall time: {result['wall_seconds'] / 60:.1f} min.", ""]
    s0 = result.get("seed_start", 0)
    n = result["seeds"]
    model = result.get("model") or "Bundled reference U-Net (models/reference_unet.safetensors)"
    lines += [
        f"{model}, trained at {base}x{base}; "
        f"{n} seeds per cell (seeds {s0}..{s0 + n - 1}, class = seed mod 4, "
        f"the same noise for every method), {result['steps']} DDIM steps, guidance "
        f"{result['guidance']:g}.  PBC: jitter 1, seed 0, first half of the steps; re-dilation "
        "(ScaleCrafter-style, 3x3 convs dilated by the scale factor per axis) and the "
        "unidirectional centre (zero padding, lambda 0, around the central base-size region of "
        "every feature map): same window; attention-entropy scaling (logits x "
        "sqrt(log_{n_train} n_test)): every step.  `PBC N=auto` = max(1, round(scale) - 1).  "
        "Knobs: `merge strongest` = one lambda (the smallest) where boundaries share a row "
        "instead of their product; `maps >= S` = boundaries only on feature maps at least S "
        "long along the axis.  Layout metrics: posenc_lab/layout_metrics.py against each image's class "
        "palette.  "
        f"**KID x{scale:g}**: unbiased MMD^2, cubic polynomial kernel, on the features of a fixed "
        "random conv net (posenc_lab/feature_metrics.py), between the outputs area-resized to "
        f"{base}x{base} and the 1x direct outputs of the same seeds (lower = closer to what the "
        "model draws at its training size; `ref` = the reference itself).  **Patch similarity** "
        "(Content Richness): mean pairwise cosine similarity of the 3x3 patch features of an "
        "image, mean over images; **lower = richer content**, repeats raise it.  Time ratio: "
        "sampling time / direct at the same size, same run, one torch thread on a shared CPU.  "
        "Peers (what users do instead): `hires fix` = sample at 1x (the smaller side at the "
        "training size), upscale (nearest-exact = LatentUpscaleBy's default, or bilinear = the "
        "pixel route; on a pixel-space model they differ only in the interpolation), img2img "
        "at the target with the given denoise (DDIM, the last `steps` of int(steps / denoise) "
        "timesteps, as KSampler); `progressive` = 1x -> half the target -> target; "
        "`Deep Shrink` = ComfyUI's PatchModelAddDownscale algorithm (features after the first "
        "downsampling block shrunk by the scale, bicubic, sigma window 0-0.35 of the schedule); "
        "`+ PBC N=n` = PBC in the img2img pass(es) (or Deep Shrink's pass), first half of that "
        "pass's steps.  **Seam x100** (posenc_lab/seam_metric.py): correlation between images "
        "of their high-passed row/column edge profiles: lines at the same place in every image "
        "(faint boundary rectangles, blocky upscaling); about 0 for rendered scenes, about 5 "
        "for scenes with faint rectangles drawn on PBC's N=3 boundaries; lower = fewer seams.",
        "",
        f"**Model at 1x: {pct(v1) if v1 is not None else 'n/a'} layout-valid** (repeated in "
        "every row; at 1x the methods are off and must equal direct)."
        + (f"  **KID noise floor x{scale:g}: {scale * floor:.2f}** (1x outputs of seeds "
           f"{s0 + n}..{s0 + 2 * n - 1} against seeds {s0}..{s0 + n - 1}, "
           "same classes)." if floor is not None else ""),
        "",
        "| size | method | layout valid | mean suns | mean horizons | sun below horizon "
        f"| off-palette pixels | KID x{scale:g} | patch similarity (lower = richer) | seam x100 "
        "| time ratio | 1x valid |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        if r.get("not_applicable"):
            lines.append(f"| {size_name(r['height'], r['width'], base)} | {row_label(r)} "
                         + "| n/a " * 9 + "| " + (pct(v1) if v1 is not None else "n/a") + " |")
            continue
        seam = f"{100 * r['seam']:.1f}" if r.get("seam") is not None else "n/a"
        lines.append(
            f"| {size_name(r['height'], r['width'], base)} | {row_label(r)} "
            f"| {pct(r['valid_rate'])} | {r['mean_suns']:.2f} | {r['mean_horizons']:.2f} "
            f"| {pct(r['sun_below_rate'])} | {pct(r['palette_outside'])} "
            f"| {_kid(r.get('kid'), scale)} | {r['patch_similarity']:.3f} | {seam} "
            f"| {r['time_ratio']:.2f} "
            f"| {pct(v1) if v1 is not None else 'n/a'} |")
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, out: str | Path, command: str | None = None,
                  table_of=None) -> str:
    """Write the Markdown table to `out` and the raw numbers next to it (.json); returns the table.
    ``table_of(result, command)`` makes the table (default: this benchmark's markdown_table)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = (table_of or markdown_table)(result, command)
    out.write_text(table)
    out.with_suffix(".json").write_text(json.dumps(dict(result, command=command), indent=1))
    return table
