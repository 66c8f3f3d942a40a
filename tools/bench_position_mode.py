"""What DiT Position Mode costs per step: a toy-width Flux at 2048 px, patched (yarn, base 1024)
against unpatched, in one process, interleaved.

    COMFYUI_PATH=/path/to/ComfyUI <ComfyUI's python> tools/bench_position_mode.py [--size 2048] [--reps 5]

Prints, per repetition, the time of one diffusion-model call (cond and uncond batched, as a
sampler makes it) unpatched and patched, and the ratio of their medians (whole calls: on a busy
machine this ratio scatters by tens of percent); then the embedder alone, interleaved: the patched
embedder's call against the original's on the same ids (what the patch adds to every step after
the first) and the time it spends building the rotations (``ModeRoPE.compute``, once per size),
each as a share of one unpatched model call.  Run it with nothing else busy.
The toy model is tests/host/dit_toys.py's Flux (hidden 64, one double and one single block), so
the attention is small next to a real Flux: the patch's share here is an upper bound.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--base", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    comfy = os.environ.get("COMFYUI_PATH") or sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    for p in (comfy, str(ROOT / "tests"), str(ROOT)):
        sys.path.insert(0, p)
    import comfy.options
    comfy.options.enable_args_parsing()
    sys.argv = [sys.argv[0], "--cpu"]
    import torch
    torch.set_num_threads(args.threads)
    import conftest                                  # the pack as ComfyUI imports it
    from host import dit_toys
    pack = conftest.load_pack()
    model = dit_toys.build("Flux")
    patched = pack.nodes.dit_position_mode.DiTPositionMode.execute(model, "yarn", args.base, 0).result[0]
    emb = patched.object_patches["diffusion_model.pe_embedder"]

    import comfy.model_management
    g = torch.Generator().manual_seed(0)
    cells = args.size // 8
    x = torch.randn(2, 16, cells, cells, generator=g)
    t = torch.tensor([0.5, 0.5])
    ctx = torch.randn(2, 6, 64, generator=g)
    y = torch.randn(2, 32, generator=g)
    guidance = torch.tensor([3.5, 3.5])

    def call(m):
        comfy.model_management.load_models_gpu([m])
        dm = m.model.diffusion_model
        start = time.perf_counter()
        with torch.no_grad():
            dm(x, t, ctx, y=y, guidance=guidance)
        return time.perf_counter() - start

    call(model), call(patched)                       # warm-up; the patch builds its rotations here
    plain, withmode = [], []
    for i in range(args.reps):
        plain.append(call(model))
        withmode.append(call(patched))
        print(f"rep {i}: unpatched {plain[-1]:.3f} s, patched {withmode[-1]:.3f} s")
    ratio = statistics.median(withmode) / statistics.median(plain)
    print(f"median patched / unpatched per call at {args.size} px: {ratio:.4f} ({(ratio - 1) * 100:+.2f}%)")
    ids = next(iter(emb._cache.values()))[0]
    orig = model.model.diffusion_model.pe_embedder
    cached, original, builds = [], [], []
    for _ in range(max(20, args.reps)):             # the embedder alone: small, so many repetitions
        start = time.perf_counter(); emb(ids); cached.append(time.perf_counter() - start)
        start = time.perf_counter(); orig(ids); original.append(time.perf_counter() - start)
        start = time.perf_counter(); emb.compute(ids); builds.append(time.perf_counter() - start)
    step = statistics.median(plain)
    extra = statistics.median(cached) - statistics.median(original)
    print(f"embedder per call ({ids.shape[1]} tokens): unpatched {statistics.median(original) * 1000:.2f} ms, "
          f"patched {statistics.median(cached) * 1000:.2f} ms: {extra * 1000:+.2f} ms = {extra / step * 100:+.3f}% "
          "of one unpatched model call (every step after the first)")
    print(f"building the rotations (the first call at a size): {statistics.median(builds) * 1000:.1f} ms "
          f"= {statistics.median(builds) / step * 100:.2f}% of one unpatched model call, once per run")


if __name__ == "__main__":
    main()
