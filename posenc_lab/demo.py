"""The demo (``python -m posenc_lab demo``): labelled PNGs that show the failure and the methods.

U-Net panel (``demo.png``): rows are seeds (seed i draws class i mod 4); the first column is the
reference U-Net's 1x (32x32) sample of that seed, shown enlarged, then one column per method at
``scale`` x the training size (default 4x: 128x128): direct, PBC N=3, PBC N=31, re-dilation.

RPE-2D panel (``demo_rpe2d.png``, when the bundled tiny DiTs are present): the same seeds, the
vanilla DiT at 1x, then at ``dit_scale`` x (default 2x: 64x64) vanilla + first, vanilla +
interpolate and RPE-2D + linspace (rpe2d_bench.py).

Every cell is captioned with its layout verdict (valid or not, suns, horizons), and a short table
of the same measures per column is returned for printing.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from .layout_metrics import layout_metrics
from .resolution_methods import LABELS, sample_with_method

DEMO_METHODS = ("direct", "pbc3", "pbc31", "redilate")
_BG, _FG, _OK, _BAD = (255, 255, 255), (20, 20, 20), (0, 120, 0), (190, 0, 0)


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:     # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def render_grid(columns: list[tuple[str, torch.Tensor, list[str], list[bool]]], row_names,
                cell: int = 256):
    """A PIL image: one column per (title, images (B,3,h,w), captions, ok flags), rows = images.

    Each image is resized (nearest) to fit a cell x cell square, keeping its aspect ratio."""
    from PIL import Image, ImageDraw

    rows = len(row_names)
    pad, head, foot, left = 8, 30, 22, 70
    width = left + len(columns) * (cell + pad) + pad
    height = head + rows * (cell + foot + pad) + pad
    canvas = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(canvas)
    title_font, cap_font = _font(16), _font(14)
    for c, (title, images, captions, oks) in enumerate(columns):
        x0 = left + pad + c * (cell + pad)
        draw.text((x0, 8), title, fill=_FG, font=title_font)
        for r in range(rows):
            y0 = head + r * (cell + foot + pad)
            img = images[r]
            h, w = img.shape[-2:]
            f = cell / max(h, w)
            arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            tile = Image.fromarray(arr).resize((max(1, round(w * f)), max(1, round(h * f))),
                                               Image.NEAREST)
            canvas.paste(tile, (x0, y0))
            draw.text((x0, y0 + tile.height + 3), captions[r], fill=_OK if oks[r] else _BAD,
                      font=cap_font)
    for r, name in enumerate(row_names):
        y0 = head + r * (cell + foot + pad)
        draw.text((8, y0 + cell // 2 - 8), name, fill=_FG, font=cap_font)
    return canvas


def _captions(report) -> tuple[list[str], list[bool]]:
    caps, oks = [], []
    for v, s, h in zip(report.valid.tolist(), report.suns.tolist(), report.horizons.tolist()):
        caps.append(f"{'valid' if v else 'invalid'}: {s} sun{'s' if s != 1 else ''}, "
                    f"{h} horizon{'s' if h != 1 else ''}")
        oks.append(bool(v))
    return caps, oks


def _table_lines(title: str, rows) -> list[str]:
    lines = [title, "", "| method | layout valid | mean suns | mean horizons | off-palette "
             "| seconds |", "|---|---:|---:|---:|---:|---:|"]
    for name, rep, dt in rows:
        s = rep.summary()
        lines.append(f"| {name} | {int(rep.valid.sum())}/{s['n']} | {s['mean_suns']:.2f} "
                     f"| {s['mean_horizons']:.2f} | {100 * s['palette_outside']:.1f}% "
                     f"| {'' if dt is None else f'{dt:.1f}'} |")
    return lines


DIT_COLUMNS = ("vanilla+first", "vanilla+interpolate", "rpe2d+linspace")


def _panel(out, sample, one_name, columns, seeds: int, base: int, scale: int, cell: int):
    """Sample and render one panel: `sample(name, labels, size, seeds)` -> images (B,3,H,W);
    the first column is `one_name` at base size, then `columns` (name, title) at scale x base.
    Returns the table rows (name, LayoutReport, seconds or None)."""
    from .scenes import CLASSES

    size = base * scale
    seed_list = list(range(seeds))
    labels = torch.tensor([s % len(CLASSES) for s in seed_list])
    row_names = [f"seed {s}\n{CLASSES[int(y)]}" for s, y in zip(seed_list, labels)]
    cols, rows = [], []
    todo = [(one_name[0], one_name[1], base)] + [(n, t, size) for n, t in columns]
    for i, (name, title, sz) in enumerate(todo, start=1):
        factor = "1x" if sz == base else f"{scale}x"
        print(f"[{Path(out).name} {i}/{len(todo)}] sampling {factor} {title} ({sz}x{sz}), "
              f"{seeds} seeds ...", end="", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        imgs = sample(name, labels, sz, seed_list)
        dt = time.perf_counter() - t0
        print(f" {dt:.1f} s", file=sys.stderr, flush=True)
        rep = layout_metrics(imgs, labels)
        cols.append((f"{factor} {title}" + (f" ({base}x{base})" if sz == base else ""), imgs,
                     *_captions(rep)))
        rows.append((f"{factor} {title} ({sz}x{sz})", rep, None if sz == base else dt))
    render_grid(cols, row_names, cell).save(out)
    return rows


def run_rpe2d_demo(out="demo_rpe2d.png", seeds: int = 4, scale: int = 2, steps: int = 25,
                   guidance: float = 1.0, methods=DIT_COLUMNS, models=None,
                   cell: int = 256) -> str:
    """Render the RPE-2D panel to `out`; returns its table (Markdown)."""
    from .rpe2d_bench import check_method, load_tiny_dits, sample_dit

    models = load_tiny_dits() if models is None else models
    vanilla = models["vanilla"]
    base = vanilla.config.grid[0] * vanilla.config.patch_size

    def sample(name, labels, size, seed_list):
        key, mode = check_method(name)
        return sample_dit(models[key], mode, labels, size, size, seed_list, steps, guidance)

    rows = _panel(out, sample, ("vanilla+first", "vanilla"), [(m, m) for m in methods], seeds,
                  base, scale, cell)
    return "\n".join(_table_lines(f"RPE-2D panel ({out}): tiny DiTs, {seeds} seeds, {steps} "
                                  f"DDIM steps, guidance {guidance:g}", rows))


def run_demo(out="demo.png", seeds: int = 4, scale: int = 4, steps: int = 25,
             guidance: float = 1.0, methods=DEMO_METHODS, model=None, cell: int = 256) -> str:
    """Render the demo PNG to `out`; returns the printed table (Markdown)."""
    from posenc.reference_unet import load_reference_unet

    model = load_reference_unet() if model is None else model
    base = int(model.base_resolution)
    start = time.perf_counter()

    def sample(name, labels, size, seed_list):
        return sample_with_method(model, name, labels, size, size, seed_list, steps, guidance)

    rows = _panel(out, sample, ("direct", "direct"), [(m, LABELS.get(m, m)) for m in methods],
                  seeds, base, scale, cell)
    total = time.perf_counter() - start
    return "\n".join(_table_lines(f"U-Net panel ({out}): reference U-Net, {seeds} seeds, {steps} "
                                  f"DDIM steps, guidance {guidance:g}, {total:.0f} s", rows))
