"""Peak memory of the nodes at their largest inputs, each case in a fresh Python process.

    python -m posenc_lab.memory_peaks            # the cases the fast tests also run
    python -m posenc_lab.memory_peaks --all      # plus the ones that need about 4 GiB of RAM

A case prepares its input and warms up (fonts, kernels) at a small size, then the process's peak
resident memory (getrusage ru_maxrss) is read before and after the measured call: the difference
is what the call itself needed on top of its input.  docs/reliability.md has the figures and the
budgets they are held to (posenc/limits.py); tests/test_memory_budget.py checks them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


def _peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024     # bytes on macOS, KiB on Linux


# ---------------------------------------------------------------------------------------------
# Cases: each returns the call to measure, its input already built and a small run done.


def _visualizer(width: int, height: int, image: str | None):
    """The Boundary Visualizer's work (plan + drawing) at N = 256, 8 levels.  image: None, a
    contiguous float32 IMAGE of width x height ("full"), or one that costs no memory itself
    ("broadcast": one pixel expanded), which shows what the node allocates for an input that
    large without the test holding it."""
    import torch
    from posenc.boundary_drawing import plan_boundaries, render_boundaries

    render_boundaries(plan_boundaries(64, 64, 32, 3, levels=1), image=torch.rand(1, 8, 8, 3))
    img = None
    if image == "full":
        img = torch.empty(1, height, width, 3)
        img.uniform_(generator=torch.Generator().manual_seed(0))
    elif image == "broadcast":
        img = torch.rand(1, 1, 1, 3).expand(1, height, width, 3)

    def call():
        plan = plan_boundaries(width, height, 512, 256, jitter=3, levels=8)
        out, _ = render_boundaries(plan, image=img)
        return {"output_mib": round(out.numel() * out.element_size() / MiB, 1)}
    return call


def _plan(size: int, n: int, merge: str):
    """The valued-padding plan of a 3x3 conv on a size x size feature map, N boundaries."""
    from posenc.boundaries import virtual_boundaries
    from posenc.valued_padding import ConvSpec, make_plan

    spec = ConvSpec(3, 3, 1, 1, 1, 1, 1)
    make_plan(virtual_boundaries(16, 16, 3, jitter=1), spec, "auto", merge)
    bounds = virtual_boundaries(size, size, n, jitter=1)

    def call():
        try:
            plan = make_plan(bounds, spec, "auto", merge)
        except ValueError as e:
            return {"refused": str(e)}
        table = spec.kh * spec.kw * size * size * 8          # float64 multipliers, stride 1
        return {"method": plan.method, "table_mib": round(table / MiB, 1)}
    return call


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    make: Callable[[], Callable[[], dict]]
    heavy: bool = False          # needs GiBs of RAM for its input: only with --all


CASES = {c.name: c for c in [
    Case("visualizer-16384", "Boundary Visualizer 16384x16384, N 256, 8 levels, no IMAGE",
         lambda: _visualizer(16384, 16384, None)),
    Case("visualizer-8192-broadcast-image", "Boundary Visualizer over an 8192x8192 IMAGE "
         "(a broadcast one: the input itself costs nothing)",
         lambda: _visualizer(8192, 8192, "broadcast")),
    Case("visualizer-16384-image", "Boundary Visualizer over a 16384x16384 IMAGE (3 GiB)",
         lambda: _visualizer(16384, 16384, "full"), heavy=True),
    Case("plan-256-strongest-N256", "plan of a 3x3 conv, 256x256 map, N 256, merge strongest",
         lambda: _plan(256, 256, "strongest")),
    Case("plan-512-strongest-N256", "plan of a 3x3 conv, 512x512 map, N 256, merge strongest",
         lambda: _plan(512, 256, "strongest")),
    Case("plan-2048-N31", "plan of a 3x3 conv, 2048x2048 map (SD/SDXL at 16384 px), N 31",
         lambda: _plan(2048, 31, "product")),
    Case("plan-2048-N256", "plan of a 3x3 conv, 2048x2048 map (SD/SDXL at 16384 px), N 256",
         lambda: _plan(2048, 256, "product")),
    Case("plan-16384-N3", "plan of a 3x3 conv, 16384x16384 map (a pixel-space model at "
         "16384 px), N 3", lambda: _plan(16384, 3, "product")),
]}


def _child(name: str) -> None:
    import torch
    torch.set_num_threads(1)
    call = CASES[name].make()
    before = _peak_bytes()
    result = call()
    result["peak_extra_mib"] = round((_peak_bytes() - before) / MiB, 1)
    print(json.dumps(result))


def measure(name: str) -> dict:
    """Run one case in a fresh process: its result, with peak_extra_mib, the peak resident memory
    the measured call added (MiB)."""
    if name not in CASES:
        raise ValueError(f"unknown case {name!r} (known: {', '.join(CASES)})")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-m", "posenc_lab.memory_peaks", "--child", name],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"memory case {name} failed (exit code {res.returncode}):\n"
                           f"{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m posenc_lab.memory_peaks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cases", nargs="*", help=f"cases to run (default: all light ones): {', '.join(CASES)}")
    p.add_argument("--all", action="store_true", help="also the heavy cases (about 4 GiB of RAM)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    names = args.cases or [n for n, c in CASES.items() if args.all or not c.heavy]
    print("| case | peak memory added | result |\n|---|---:|---|")
    for name in names:
        r = measure(name)
        peak = r.pop("peak_extra_mib")
        print(f"| {CASES[name].what} | {peak:.0f} MiB | {json.dumps(r)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
