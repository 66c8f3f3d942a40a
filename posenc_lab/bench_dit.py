"""Forward cost of the position-aware DiT against a plain DiT forward, side by side in one run.

The plain forward is the official facebookresearch/DiT ``forward`` written out (patch embedding
+ a precomputed ``pos_embed`` for that grid, blocks, final layer, unpatchify).  Ours is
``DiT.forward`` with a position mode, which is what the RPE-2D DiT Loader calls: it looks the
encoding up in the per-(grid, mode, seed, dtype, device) cache.  Calls alternate between the two
(ABBA order) so that load from other processes hits both alike.  With one torch thread (the
default) the clock is the CPU time of the calling thread (``time.thread_time``), which time spent
preempted by other processes does not inflate; with more threads it is wall time.  Two ratios
are printed: of the minima and of the medians.  Separately, the only extra work of ours -- the
cached encoding lookup -- is timed on its own and shown as a share of the plain forward.

    python -m posenc_lab.bench_dit --preset S --scale 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from posenc import position_modes
from posenc.dit import DiT, DiTConfig

PRESETS = {  # official DiT configs (models.py), and a tiny one for a quick check
    "tiny": dict(hidden_size=128, depth=4, num_heads=4),
    "S": dict(hidden_size=384, depth=12, num_heads=6),
    "B": dict(hidden_size=768, depth=12, num_heads=12),
    "L": dict(hidden_size=1024, depth=24, num_heads=16),
    "XL": dict(hidden_size=1152, depth=28, num_heads=16),
}


def plain_forward(model: DiT, x, t, y, pos_embed):
    """The official DiT forward with a fixed pos_embed (square or not)."""
    h, w = x.shape[-2] // model.patch_size, x.shape[-1] // model.patch_size
    tok = model.x_embedder(x) + pos_embed
    c = model.t_embedder(t) + model.y_embedder.embedding_table(y)
    for block in model.blocks:
        tok = block(tok, c)
    return model.unpatchify(model.final_layer(tok, c), h, w)


def bench(preset="S", grid=16, scale=2.0, batch=2, repeats=10, modes=("linspace", "interpolate"),
          max_positions=None, threads=None, seed=0, out=print):
    """Returns {mode: dict(min/median ms of both, ratio_min, ratio_median)} at grid*scale patches
    per side."""
    if threads:
        torch.set_num_threads(threads)
    cfg = DiTConfig(in_channels=4, patch_size=2, mlp_hidden=4 * PRESETS[preset]["hidden_size"],
                    num_classes=1000, learn_sigma=True, grid=(grid, grid),
                    max_positions=(max_positions or 2 * grid,) * 2, position_sampling="rpe2d",
                    **PRESETS[preset])
    torch.manual_seed(seed)
    model = DiT(cfg).eval()
    n = int(round(grid * scale))
    x = torch.randn(batch, 4, n * 2, n * 2)
    t = torch.full((batch,), 500.0)
    y = torch.arange(batch) % 1000
    results = {}
    with torch.inference_mode():
        for mode in modes:
            rows, cols = position_modes.grid_positions((n, n), cfg.max_positions, mode, seed)
            pe = position_modes.sincos_2d(rows, cols, cfg.hidden_size).float()  # precomputed, as plain DiT
            ref = plain_forward(model, x, t, y, pe)
            got = model(x, t, y, mode=mode, seed=seed)
            if not torch.allclose(ref, got, atol=1e-5, rtol=1e-4):
                raise AssertionError(f"mode {mode}: the two forwards disagree")
            clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
            times = {"plain": [], "ours": []}
            for i in range(repeats):
                order = ("plain", "ours") if i % 2 == 0 else ("ours", "plain")
                for which in order:
                    t0 = clock()
                    if which == "plain":
                        plain_forward(model, x, t, y, pe)
                    else:
                        model(x, t, y, mode=mode, seed=seed)
                    times[which].append(clock() - t0)
            a, b = statistics.median(times["plain"]), statistics.median(times["ours"])
            amin, bmin = min(times["plain"]), min(times["ours"])
            results[mode] = {"plain_min_ms": amin * 1e3, "ours_min_ms": bmin * 1e3,
                             "plain_median_ms": a * 1e3, "ours_median_ms": b * 1e3,
                             "ratio_min": bmin / amin, "ratio_median": b / a}
            t0 = time.perf_counter()
            for _ in range(1000):
                model.encode_positions((n, n), mode=mode, seed=seed, device=x.device, dtype=x.dtype)
            lookup = (time.perf_counter() - t0) / 1000
            results[mode]["lookup_ms"] = lookup * 1e3
            out(f"DiT-{preset}/2 {n}x{n} patches ({scale:g}x of {grid}), batch {batch}, "
                f"{mode:<11}: min plain {amin * 1e3:7.1f} ms ours {bmin * 1e3:7.1f} ms "
                f"ratio {bmin / amin:.3f} | median ratio {b / a:.3f} | lookup {lookup * 1e6:.1f} us "
                f"= {lookup / amin * 100:.4f}% of plain")
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m posenc_lab bench-dit", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="S")
    p.add_argument("--grid", type=int, default=16, help="training grid in patches (16 = 256 px)")
    p.add_argument("--scale", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--modes", default="linspace,interpolate,random,first,ntk")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch default)")
    a = p.parse_args(argv)
    bench(a.preset, a.grid, a.scale, a.batch, a.repeats, tuple(a.modes.split(",")),
          threads=a.threads or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
