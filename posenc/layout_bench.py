"""The layout benchmark (issue 3): resolution methods side by side on the bundled reference U-Net.

Every method runs in one harness on the same seeds (0..n-1) and labels (class = seed mod 4), so
every cell starts from the same noise.  Per size and method: layout-valid rate, mean suns, mean
horizons, sun-below-horizon rate, off-palette pixel share (metrics.py, against each image's class
palette) and the sampling time relative to ``direct`` at the same size, measured in the same run.
The 1x (training size) valid rate of the model is measured in the same run and printed next to
every row: a comparison means something only if the model is good at 1x.

The 1x cell is always run (it is the model's reference); at 1x PBC and re-dilation are off by
definition, and the table shows that they reproduce direct there.  ``pbc-auto`` resolves to a
fixed N per size (resolution_methods.py); when that N is also benchmarked, its row is a copy.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .metrics import layout_metrics
from .resolution_methods import LABELS, check_method, resolve, sample_with_method

DEFAULT_SIZES = ((32, 32), (64, 64), (128, 128), (32, 128))
DEFAULT_METHODS = ("direct", "pbc1", "pbc3", "pbc31", "pbc-auto", "redilate")


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
                     progress: bool = True, on_cell=None) -> dict:
    """Run the benchmark; returns {"rows": [...], "valid_1x": float, ...}.

    on_cell(result_so_far) is called after every (size, method) cell (for incremental output).
    """
    from tqdm import tqdm

    methods = [check_method(m) for m in methods]
    if "direct" not in methods:
        methods = ["direct"] + methods
    methods = ["direct"] + [m for m in methods if m != "direct"]
    base = int(model.base_resolution)
    sizes = [tuple(s) for s in sizes]
    if (base, base) not in sizes:
        sizes = [(base, base)] + sizes
    seed_list = list(range(seeds))
    labels = torch.tensor([s % 4 for s in seed_list])
    result = {"seeds": seeds, "steps": steps, "guidance": guidance, "base": base, "rows": [],
              "valid_1x": None}
    total = len(sizes) * len(methods) * seeds
    bar = tqdm(total=total, unit="img", disable=not progress, dynamic_ncols=True)
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
                images, elapsed = [], 0.0
                for start in range(0, seeds, chunk):
                    part = seed_list[start:start + chunk]
                    t0 = time.perf_counter()
                    images.append(sample_with_method(model, method, labels[start:start + chunk],
                                                     h, w, part, steps, guidance))
                    elapsed += time.perf_counter() - t0
                    bar.update(len(part))
                images = torch.cat(images)
                summary = layout_metrics(images, labels).summary()
                if method == "direct":
                    direct_time = elapsed
                row = dict(summary, method=method, height=h, width=w, seconds=elapsed,
                           time_ratio=elapsed / direct_time, same_as=None,
                           resolved=concrete if concrete != method else None)
            done[method] = row
            result["rows"].append(row)
            if (h, w) == (base, base) and method == "direct":
                result["valid_1x"] = row["valid_rate"]
            if on_cell is not None:
                on_cell(result)
    bar.close()
    return result


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def markdown_table(result: dict, command: str | None = None) -> str:
    """The benchmark as Markdown: a header stating the setup (and command), then one row per
    (size, method)."""
    base = result["base"]
    v1 = result["valid_1x"]
    lines = ["# Layout benchmark (reference U-Net)", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [
        f"Bundled reference U-Net (models/reference_unet.safetensors, trained at {base}x{base}); "
        f"{result['seeds']} seeds per cell (seeds 0..{result['seeds'] - 1}, class = seed mod 4, "
        f"the same noise for every method), {result['steps']} DDIM steps, guidance "
        f"{result['guidance']:g}.  PBC: jitter 1, seed 0, first half of the steps; re-dilation "
        "(ScaleCrafter-style, 3x3 convs dilated by the scale factor per axis): same window.  "
        "`PBC N=auto` = max(1, round(scale) - 1).  Metrics: posenc/metrics.py against each "
        "image's class palette.  Time ratio: sampling time / direct at the same size, same run, "
        "one torch thread on a shared CPU.",
        "",
        f"**Model at 1x: {_pct(v1) if v1 is not None else 'n/a'} layout-valid** (repeated in "
        "every row; at 1x the methods are off and must equal direct).",
        "",
        "| size | method | layout valid | mean suns | mean horizons | sun below horizon "
        "| off-palette pixels | time ratio | 1x valid |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        name = LABELS.get(r["method"], r["method"])
        if r["method"] == "pbc-auto":
            name += f" (= N={(r.get('same_as') or r.get('resolved'))[3:]})"
        lines.append(
            f"| {size_name(r['height'], r['width'], base)} | {name} | {_pct(r['valid_rate'])} "
            f"| {r['mean_suns']:.2f} | {r['mean_horizons']:.2f} | {_pct(r['sun_below_rate'])} "
            f"| {_pct(r['palette_outside'])} | {r['time_ratio']:.2f} "
            f"| {_pct(v1) if v1 is not None else 'n/a'} |")
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, out: str | Path, command: str | None = None) -> str:
    """Write the Markdown table to `out` and the raw numbers next to it (.json); returns the table."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = markdown_table(result, command)
    out.write_text(table)
    out.with_suffix(".json").write_text(json.dumps(dict(result, command=command), indent=1))
    return table
