"""Speed and memory of PBC against the unpatched model, measured side by side in one run.

    python tools/bench_pbc.py                    # single 3x3 convs only (plain PyTorch)
    COMFYUI_PATH=/path/to/ComfyUI python tools/bench_pbc.py --unet   # + real ComfyUI U-Nets

Prints a Markdown table of ratios (PBC / unpatched) for a single 3x3 conv and for whole U-Net
forwards with the SD 1.5 and SDXL topologies (ComfyUI's own UNetModel, random weights) at 1.5x
and 2x their base size.  Times: median of --repeats interleaved runs after a warm-up.  Peak
memory: each configuration runs in a fresh subprocess; peak resident set size (VmHWM) minus the
resident size before the forward, with glibc told to mmap every allocation of 64 KiB or more so
that freed tensors leave the resident set at once (MALLOC_MMAP_THRESHOLD_).  These are CPU numbers on this machine, not GPU numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from posenc.pbc import PBCRuntime, PBCSettings
from posenc.sampling_window import patched_module  # noqa: E402

UNET_CASES = [("SD15", 512, 1.5), ("SD15", 512, 2.0), ("SDXL", 1024, 1.5), ("SDXL", 1024, 2.0)]
CONV_CASES = [  # (label, channels, latent side at 2x of SD 1.5 levels / SDXL level 0)
    ("3x3 conv 320ch, SD1.5 level 0", 320, 64), ("3x3 conv 640ch, SD1.5 level 1", 640, 32),
    ("3x3 conv 1280ch, SD1.5 level 2", 1280, 16), ("3x3 conv 320ch, SDXL level 0", 320, 128)]


def _rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Workloads.  Each returns (run_plain, run_pbc): zero-argument callables doing one forward.

def conv_workload(channels, side, scale, n, jitter, method):
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
    h = int(round(side * scale))
    x = torch.randn(1, channels, h, h)
    rt = PBCRuntime(PBCSettings(boundaries=n, jitter=jitter, base_height=side, base_width=side, method=method))

    def plain():
        with torch.no_grad():
            return conv(x)

    def pbc():
        with torch.no_grad(), patched_module(conv, rt), rt.step(h, h, 5.0):
            return conv(x)
    return plain, pbc


def unet_workload(kind, base_px, scale, n, jitter, method, channels):
    sys.path.insert(0, os.environ["COMFYUI_PATH"])
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import comfy.options
    comfy.options.enable_args_parsing()
    # PyTorch's fused SDPA attention, as ComfyUI uses on GPUs (its CPU default, sub-quadratic
    # attention, is several times slower and would shrink the convs' share of the time).
    argv, sys.argv = sys.argv, [sys.argv[0], "--cpu", "--use-pytorch-cross-attention"]
    try:
        import comfy.model_management  # noqa: F401
    finally:
        sys.argv = argv
    from host.comfy_models import SD15_UNET, SDXL_UNET
    import comfy.supported_models as sm
    unet = dict(SD15_UNET if kind == "SD15" else SDXL_UNET)
    real = sm.SD15.unet_config if kind == "SD15" else sm.SDXL.unet_config
    unet.update({"model_channels": channels, "context_dim": real["context_dim"], "dtype": torch.float32})
    unet.pop("num_heads", None), unet.pop("num_head_channels", None)
    unet.update({"num_heads": 8, "num_head_channels": -1} if kind == "SD15" else {"num_head_channels": 64})
    if kind == "SDXL":
        unet["transformer_depth"], unet["transformer_depth_middle"] = [0, 0, 2, 2, 10, 10], 10
        unet["transformer_depth_output"] = [0, 0, 0, 2, 2, 2, 10, 10, 10]
    config = (sm.SD15 if kind == "SD15" else sm.SDXL)(unet)
    config.set_inference_dtype(torch.float32, None)
    dm = config.get_model({}).diffusion_model.eval()
    with torch.no_grad():
        for p in dm.parameters():
            p.normal_(0, 0.02)
    side = int(round(base_px // 8 * scale))
    x = torch.randn(1, 4, side, side)
    t = torch.tensor([500.0])
    ctx = torch.randn(1, 77, real["context_dim"])
    y = torch.randn(1, unet["adm_in_channels"]) if kind == "SDXL" else None
    rt = PBCRuntime(PBCSettings(boundaries=n, jitter=jitter, base_height=base_px // 8,
                                base_width=base_px // 8, method=method))

    def plain():
        with torch.no_grad():
            return dm(x, t, context=ctx, y=y)

    def pbc():
        with torch.no_grad(), patched_module(dm, rt), rt.step(side, side, 5.0):
            return dm(x, t, context=ctx, y=y)
    return plain, pbc


def make_workload(spec):
    if spec["kind"] == "conv":
        return conv_workload(spec["channels"], spec["side"], spec["scale"], spec["n"], spec["jitter"], spec["method"])
    return unet_workload(spec["model"], spec["base"], spec["scale"], spec["n"], spec["jitter"], spec["method"],
                         spec["channels"])


def measure_memory(spec, which):
    """In a fresh process: peak RSS growth (KiB) during one forward (after one warm-up)."""
    code = ("import json,sys; sys.argv=['x']; sys.path.insert(0, %r); import bench_pbc as b; "
            "spec=json.loads(%r); run=b.make_workload(spec)[%d]; run(); import gc; gc.collect(); "
            "b._reset_peak(); r0=b._rss_kb('VmRSS'); run(); print(b._rss_kb('VmHWM')-r0)"
            % (os.path.dirname(os.path.abspath(__file__)), json.dumps(spec), 0 if which == "plain" else 1))
    # Allocations of 64 KiB and more are mmapped and unmapped at free, so the resident set follows
    # the live tensors instead of glibc's cache of freed memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return int(out.stdout.strip().splitlines()[-1])


def measure_time(plain, pbc, repeats):
    plain(), pbc()  # warm-up (plans are built here, as in the first call of a sampling step)
    tp, tq = [], []
    for _ in range(repeats):
        for fn, acc in ((plain, tp), (pbc, tq)):
            s = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - s)
    return statistics.median(tp), statistics.median(tq)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unet", action="store_true", help="also benchmark whole U-Nets (needs COMFYUI_PATH)")
    ap.add_argument("--channels", type=int, default=320, help="U-Net model_channels (SD: 320)")
    ap.add_argument("--boundaries", type=int, default=31)
    ap.add_argument("--jitter", type=int, default=1)
    ap.add_argument("--method", default="auto", choices=["auto", "per_tap", "strips"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--out", help="also write the Markdown table to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    specs = []
    for label, ch, side in CONV_CASES:
        for scale in (1.5, 2.0):
            specs.append(dict(kind="conv", label=f"{label} @ {scale}x", channels=ch, side=side, scale=scale))
    if args.unet:
        if not os.environ.get("COMFYUI_PATH"):
            ap.error("--unet needs COMFYUI_PATH pointing at a ComfyUI checkout")
        for model, base, scale in UNET_CASES:
            specs.append(dict(kind="unet", label=f"{model} U-Net ({args.channels}ch) @ {scale}x",
                              model=model, base=base, scale=scale, channels=args.channels))
    for s in specs:
        s.update(n=args.boundaries, jitter=args.jitter, method=args.method)

    rows = []
    for spec in tqdm(specs, desc="benchmark", unit="case"):
        plain, pbc = make_workload(spec)
        t_plain, t_pbc = measure_time(plain, pbc, args.repeats)
        del plain, pbc
        if args.no_memory:
            mem = ""
        else:
            m_plain, m_pbc = measure_memory(spec, "plain"), measure_memory(spec, "pbc")
            mem = f"{m_pbc / max(m_plain, 1):.2f} ({m_plain / 1024:.0f} -> {m_pbc / 1024:.0f} MiB)"
        rows.append(f"| {spec['label']} | {t_plain * 1e3:.1f} | {t_pbc * 1e3:.1f} | {t_pbc / t_plain:.2f} | {mem} |")
        tqdm.write(rows[-1])
    table = "\n".join([
        f"PBC N={args.boundaries}, jitter={args.jitter}, method={args.method}; CPU, {args.threads} threads, "
        f"torch {torch.__version__}; median of {args.repeats}.",
        "",
        "| case | unpatched ms | PBC ms | time ratio | peak-memory ratio (growth during forward) |",
        "|---|---|---|---|---|", *rows])
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
