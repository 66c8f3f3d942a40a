"""Speed and memory of PBC against the unpatched model, measured side by side in one run.

    python tools/bench_pbc.py                    # single 3x3 convs only (plain PyTorch)
    COMFYUI_PATH=/path/to/ComfyUI python tools/bench_pbc.py --unet   # + real ComfyUI U-Nets

The full run of issue #11 (conv rows, SD 1.5 at 64 channels with and without attention, full-width
SD 1.5 and SDXL; add --device cuda on a GPU):

    COMFYUI_PATH=/path/to/ComfyUI python tools/bench_pbc.py --unet \
        --unet-cases SD15:64:2.0,SD15:64:2.0:noattn,SD15:320:2.0,SDXL:320:1.5 --repeats 2

Prints a Markdown table of ratios (PBC / unpatched) for a single 3x3 conv and for whole U-Net
forwards with the SD 1.5 and SDXL topologies (ComfyUI's own UNetModel, random weights).  A U-Net
case is MODEL:CHANNELS:SCALE[:noattn] ("noattn": every transformer depth 0, the conv-only U-Net).
Times: median of --repeats interleaved runs after a warm-up.  Each patched run is the next step
of a sampling run (its own sigma): with jitter > 0 each step has its own boundary set, so the PBC
time includes building that step's plans (multipliers, the form chosen by the cost model, index
tensors), as every step of a real run does.  "first call": the first patched forward at a new
size (nothing cached from an earlier step) against the unpatched forward's median.  Peak memory on CPU: each configuration
runs in a fresh subprocess; peak resident set size (VmHWM) minus the resident size before the
forward, with glibc told to mmap every allocation of 64 KiB or more so that freed tensors leave
the resident set at once (MALLOC_MMAP_THRESHOLD_).  On CUDA: torch.cuda.max_memory_allocated
growth during the forward, in process.
"""
from __future__ import annotations

import argparse
import itertools
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

from posenc.pbc import PBCRuntime, PBCSettings  # noqa: E402
from posenc.sampling_window import patched_module  # noqa: E402
from posenc.valued_padding import METHODS  # noqa: E402
from posenc.valued_padding_triton import INSTALL_HINT, triton_available  # noqa: E402

BASE_PX = {"SD15": 512, "SDXL": 1024}
DEFAULT_UNET_CASES = "SD15:64:1.5,SD15:64:2.0,SDXL:64:1.5,SDXL:64:2.0"
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

def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _step_sigmas():
    """The noise levels of successive patched calls: each call is the next step of a sampling run.
    With jitter > 0 every step has its own boundary set (Eq. 3, keyed by sigma), so its plans are
    built inside that step's call, as in a real run; with jitter 0 they are built once."""
    return (14.6 * 0.93 ** k for k in itertools.count())


def conv_workload(channels, side, scale, n, jitter, method, device="cpu"):
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1).to(device)
    h = int(round(side * scale))
    x = torch.randn(1, channels, h, h, device=device)
    rt = PBCRuntime(PBCSettings(boundaries=n, jitter=jitter, base_height=side, base_width=side, method=method))

    def plain():
        with torch.no_grad():
            return conv(x)

    sigmas = _step_sigmas()

    def pbc():
        with torch.no_grad(), patched_module(conv, rt), rt.step(h, h, next(sigmas)):
            return conv(x)
    return plain, pbc, rt


def unet_workload(kind, base_px, scale, n, jitter, method, channels, attention=True, device="cpu"):
    sys.path.insert(0, os.environ["COMFYUI_PATH"])
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import comfy.options
    comfy.options.enable_args_parsing()
    # PyTorch's fused SDPA attention, as ComfyUI uses on GPUs (its CPU default, sub-quadratic
    # attention, is several times slower and would shrink the convs' share of the time).
    argv, sys.argv = sys.argv, [sys.argv[0], *(["--cpu"] if device == "cpu" else []),
                                "--use-pytorch-cross-attention"]
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
    if not attention:   # the conv-only U-Net: ResBlocks, down/upsamplers, no transformer blocks
        for key in ("transformer_depth", "transformer_depth_output"):
            unet[key] = [0] * len(unet[key])
        unet["transformer_depth_middle"] = -1   # a middle block of ResBlocks alone
    config = (sm.SD15 if kind == "SD15" else sm.SDXL)(unet)
    config.set_inference_dtype(torch.float32, None)
    dm = config.get_model({}).diffusion_model.eval().to(device)
    with torch.no_grad():
        for p in dm.parameters():
            p.normal_(0, 0.02)
    side = int(round(base_px // 8 * scale))
    x = torch.randn(1, 4, side, side, device=device)
    t = torch.tensor([500.0], device=device)
    ctx = torch.randn(1, 77, real["context_dim"], device=device)
    y = torch.randn(1, unet["adm_in_channels"], device=device) if kind == "SDXL" else None
    rt = PBCRuntime(PBCSettings(boundaries=n, jitter=jitter, base_height=base_px // 8,
                                base_width=base_px // 8, method=method))

    def plain():
        with torch.no_grad():
            return dm(x, t, context=ctx, y=y)

    sigmas = _step_sigmas()

    def pbc():
        with torch.no_grad(), patched_module(dm, rt), rt.step(side, side, next(sigmas)):
            return dm(x, t, context=ctx, y=y)
    return plain, pbc, rt


def make_workload(spec):
    """(run_plain, run_pbc, runtime) of one table row."""
    if spec["kind"] == "conv":
        return conv_workload(spec["channels"], spec["side"], spec["scale"], spec["n"], spec["jitter"],
                             spec["method"], spec["device"])
    return unet_workload(spec["model"], spec["base"], spec["scale"], spec["n"], spec["jitter"], spec["method"],
                         spec["channels"], spec["attention"], spec["device"])


def parse_unet_cases(text):
    """"SD15:64:2.0,SDXL:320:1.5:noattn" -> [(model, channels, scale, attention)]."""
    cases = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parts = item.split(":")
        if len(parts) not in (3, 4) or parts[0] not in BASE_PX or parts[3:] not in ([], ["noattn"]):
            raise ValueError(f"bad U-Net case {item!r}: write MODEL:CHANNELS:SCALE[:noattn], MODEL "
                             f"one of {', '.join(BASE_PX)}, e.g. SD15:64:2.0:noattn")
        cases.append((parts[0], int(parts[1]), float(parts[2]), len(parts) == 3))
    return cases


def measure_memory_cuda(spec, which):
    """On CUDA, in process: growth (KiB) of the peak allocated memory during one forward."""
    run = make_workload(spec)[0 if which == "plain" else 1]
    run()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    run()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) // 1024


def measure_memory(spec, which):
    """In a fresh process: peak RSS growth (KiB) during one forward (after one warm-up)."""
    if spec["device"].startswith("cuda"):
        return measure_memory_cuda(spec, which)
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


def measure_time(plain, pbc, rt, repeats, device="cpu"):
    """Medians of interleaved unpatched / patched forwards (each patched forward a new step, see
    _step_sigmas), and the first patched forward at a new size (the runtime's plans dropped, so
    they are built inside the timed call)."""
    def timed(fn):
        _sync(device)
        s = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - s

    plain(), pbc()  # warm-up of both (allocator, kernels)
    rt._plans, rt._plans_for = {}, None
    first = timed(pbc)
    tp, tq = [], []
    for _ in range(repeats):
        tp.append(timed(plain))
        tq.append(timed(pbc))
    return statistics.median(tp), statistics.median(tq), first


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unet", action="store_true", help="also benchmark whole U-Nets (needs COMFYUI_PATH)")
    ap.add_argument("--unet-cases", default=DEFAULT_UNET_CASES,
                    help="comma-separated MODEL:CHANNELS:SCALE[:noattn] (default %(default)s)")
    ap.add_argument("--no-convs", action="store_true", help="skip the single-conv rows")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--boundaries", type=int, default=31)
    ap.add_argument("--jitter", type=int, default=1)
    ap.add_argument("--method", default="auto", choices=list(METHODS),
                    help=("valued-padding form (default %(default)s: the cost model's pure-torch form, "
                          "as the node runs it; fused: the opt-in Triton kernel, CUDA only)"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--out", help="also write the Markdown table to this file")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA device; "
                 "run on a machine with a GPU and a CUDA build of torch, or drop --device")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        ap.error(f"--device must be cpu or cuda[:N] (got {args.device!r})")
    if args.method == "fused":
        if not triton_available():
            ap.error(f"--method fused needs Triton, which does not import here: {INSTALL_HINT}")
        if not args.device.startswith("cuda"):
            ap.error("--method fused: the Triton kernel runs on CUDA only (add --device cuda); on the CPU "
                     "the pure-torch forms would run and be timed instead")
    try:
        unet_cases = parse_unet_cases(args.unet_cases)
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    specs = []
    if not args.no_convs:
        for label, ch, side in CONV_CASES:
            for scale in (1.5, 2.0):
                specs.append(dict(kind="conv", label=f"{label} @ {scale}x", channels=ch, side=side, scale=scale))
    if args.unet:
        if not os.environ.get("COMFYUI_PATH"):
            ap.error("--unet needs COMFYUI_PATH pointing at a ComfyUI checkout")
        for model, channels, scale, attention in unet_cases:
            what = "" if attention else ", no attention"
            specs.append(dict(kind="unet", label=f"{model} U-Net ({channels}ch{what}) @ {scale}x",
                              model=model, base=BASE_PX[model], scale=scale, channels=channels,
                              attention=attention))
    for s in specs:
        s.update(n=args.boundaries, jitter=args.jitter, method=args.method, device=args.device)

    rows = []
    for spec in tqdm(specs, desc="benchmark", unit="case"):
        plain, pbc, rt = make_workload(spec)
        t_plain, t_pbc, t_first = measure_time(plain, pbc, rt, args.repeats, args.device)
        del plain, pbc, rt
        if args.no_memory:
            mem = ""
        else:
            m_plain, m_pbc = measure_memory(spec, "plain"), measure_memory(spec, "pbc")
            mem = f"{m_pbc / max(m_plain, 1):.2f} ({m_plain / 1024:.0f} -> {m_pbc / 1024:.0f} MiB)"
        rows.append(f"| {spec['label']} | {t_plain * 1e3:.1f} | {t_pbc * 1e3:.1f} | {t_pbc / t_plain:.2f} "
                    f"| {t_first / t_plain:.2f} | {mem} |")
        tqdm.write(rows[-1])
    device_label = (f"CPU, {args.threads} threads" if args.device == "cpu"
                    else f"{torch.cuda.get_device_name(args.device)}")
    kernel = ""
    if args.method == "fused":
        kernel = " (fused Triton kernel)"
    table = "\n".join([
        f"PBC N={args.boundaries}, jitter={args.jitter}, method={args.method}{kernel}; {device_label}, "
        f"torch {torch.__version__}; median of {args.repeats}; each patched forward is a new "
        f"sampling step (with jitter, its plans are built inside it).",
        "",
        "| case | unpatched ms | PBC ms | time ratio | first call ratio | peak-memory ratio (growth during forward) |",
        "|---|---|---|---|---|---|", *rows])
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
