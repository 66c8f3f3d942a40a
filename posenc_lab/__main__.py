"""Command line of the pack: ``python -m posenc_lab <command> ...``.

A plain dispatch: each subcommand registers its arguments in an ``add_<name>`` function and runs
in a ``run_<name>`` function; add a command by adding both and one line to COMMANDS.
"""
from __future__ import annotations

import argparse
import json
import sys


def add_train_unet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output .safetensors path (a model card .md is "
                   "written next to it); bundled weights under models/ need --overwrite")
    p.add_argument("--steps", type=int, default=4000, help="training steps (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="seed of init, data and noise (default 0)")
    p.add_argument("--batch-size", type=int, default=48)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much wall time (the LR schedule follows it)")
    p.add_argument("--channels", type=int, default=None, help="model_channels (default 16)")
    p.add_argument("--config", default=None, help="JSON object of ReferenceUNet config keys over "
                   "the defaults, e.g. '{\"attention\": \"middle\", \"downsample\": \"avgpool\"}'")
    p.add_argument("--eval-seeds", type=int, default=64, help="seeds for the 1x layout check")
    p.add_argument("--eval-steps", type=int, default=25, help="DDIM steps of the 1x check")
    p.add_argument("--eval-guidance", type=float, default=1.0,
                   help="also evaluate with this classifier-free guidance scale")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--init", default=None, help="start from this checkpoint (continue a run)")
    p.add_argument("--warmup", type=int, default=100, help="learning-rate warm-up steps")
    p.add_argument("--overwrite", action="store_true", help="allow replacing bundled weights")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train_unet(args: argparse.Namespace) -> int:
    from .run_records import command_line
    from .train_unet import train_unet

    config = json.loads(args.config) if args.config else {}
    if not isinstance(config, dict):
        print("error: --config must be a JSON object", file=sys.stderr)
        return 2
    if args.channels:
        config["model_channels"] = args.channels
    try:
        summary = train_unet(args.out, steps=args.steps, seed=args.seed,
                             batch_size=args.batch_size, lr=args.lr, max_minutes=args.max_minutes,
                             config=config or None, eval_seeds=args.eval_seeds,
                             eval_steps=args.eval_steps,
                             eval_guidance=args.eval_guidance, threads=args.threads,
                             overwrite=args.overwrite, command=command_line(),
                             progress=not args.no_progress, init=args.init,
                             warmup=args.warmup)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"meta": summary["meta"], "eval_1x": summary["eval_1x"]}, indent=1))
    return 0


def _set_threads(threads):
    if threads:
        import torch
        torch.set_num_threads(threads)


def add_bench(p: argparse.ArgumentParser) -> None:
    from .layout_bench import DEFAULT_METHODS, DEFAULT_SIZES
    p.add_argument("--seeds", type=int, default=64, help="seeds per cell (default 64)")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    p.add_argument("--guidance", type=float, default=1.0, help="CFG scale (default 1)")
    p.add_argument("--sizes", default=",".join(f"{h}x{w}" for h, w in DEFAULT_SIZES),
                   help="comma-separated HxW sizes (1x is always run)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated methods: direct, pbc<N> (e.g. pbc3), pbc-auto, redilate, "
                   "unidirectional (zero padding around the central base-size region), entropy "
                   "(attention-entropy scaling); knobs appended as :key=value: window=A-B "
                   "(fractions of the steps, default 0-0.5, entropy 0-1; not direct), minsize=S "
                   "(boundaries only on feature maps >= S along the axis; pbc, unidirectional), "
                   "merge=product|strongest (several boundaries on one row: product of lambdas "
                   "or the smallest; pbc); what users do instead: hires (two-pass hires fix; "
                   "knobs up=nearest|bilinear, denoise=D, pbc=N|auto for PBC in the img2img "
                   "pass), progressive (1x -> half -> target; same knobs), deepshrink (ComfyUI's "
                   "PatchModelAddDownscale; knob pbc=N|auto); e.g. pbc31:merge=strongest,"
                   "pbc3:minsize=64:window=0-0.3,hires:up=bilinear:denoise=0.4:pbc=31 "
                   "(default: %(default)s)")
    p.add_argument("--out", default="docs/bench_layout.md",
                   help="Markdown table (raw numbers go next to it as .json)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--weights", default=None, help="U-Net weights (default: the bundled ones)")
    p.add_argument("--model-name", default=None,
                   help="how the table names the model (default: the bundled reference U-Net)")
    p.add_argument("--seed-start", type=int, default=0,
                   help="first seed (default 0); held-out seeds: a range never used while "
                   "choosing settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_bench(args: argparse.Namespace) -> int:
    from .layout_bench import parse_size, run_layout_bench, write_outputs
    from posenc.reference_unet import load_reference_unet
    from .resolution_methods import check_method
    from .run_records import command_line

    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        methods = [check_method(m.strip()) for m in args.methods.split(",") if m.strip()]
        if args.seeds < 1 or args.steps < 1:
            raise ValueError("--seeds and --steps must be >= 1")
        if args.seed_start < 0:
            raise ValueError("--seed-start must be >= 0")
        model = load_reference_unet(args.weights)
        for h, w in sizes:
            model.check_size(h, w)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _set_threads(args.threads)
    command = command_line()
    result = run_layout_bench(model, sizes, methods, args.seeds, args.steps, args.guidance,
                              progress=not args.no_progress,
                              on_cell=lambda r: write_outputs(r, args.out, command),
                              seed_start=args.seed_start,
                              model_name=args.model_name or (
                                  f"Reference U-Net from {args.weights}" if args.weights else None))
    print(write_outputs(result, args.out, command))
    return 0


def add_bench_rpe2d(p: argparse.ArgumentParser) -> None:
    from .rpe2d_bench import DEFAULT_SIZES, METHODS
    p.add_argument("--seeds", type=int, default=64, help="seeds per cell (default 64)")
    p.add_argument("--seed-start", type=int, default=0,
                   help="first seed (held-out runs: seeds never used while choosing settings)")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    p.add_argument("--guidance", type=float, default=1.0, help="CFG scale (default 1)")
    p.add_argument("--sizes", default=",".join(f"{h}x{w}" for h, w in DEFAULT_SIZES),
                   help="comma-separated HxW sizes in pixels, multiples of the models' patch size")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="comma-separated <model>+<position mode> (model vanilla, rpe2d, rope or rope_rpe2d), or <model>+hires[:denoise=D][:up=nearest|bilinear][:mode=M] for the two-pass hires fix")
    p.add_argument("--out", default="docs/bench_rpe2d.md",
                   help="Markdown table (raw numbers go next to it as .json)")
    p.add_argument("--weights-dir", default=None,
                   help="folder with tiny_dit_vanilla/rpe2d.safetensors (default: models/)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_bench_rpe2d(args: argparse.Namespace) -> int:
    from .layout_bench import parse_size
    from .rpe2d_bench import load_tiny_dits, parse_method, run_rpe2d_bench, write_outputs
    from .run_records import command_line

    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        keys = sorted({parse_method(m).model for m in methods})
        if args.seeds < 1 or args.steps < 1:
            raise ValueError("--seeds and --steps must be >= 1")
        models = load_tiny_dits(args.weights_dir, keys)
        _set_threads(args.threads)
        result = run_rpe2d_bench(models, sizes, methods, args.seeds, args.steps, args.guidance,
                                 progress=not args.no_progress, seed_start=args.seed_start)
        result["weights_dir"] = args.weights_dir  # None: the bundled models
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(write_outputs(result, args.out, command_line()))
    return 0


def add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo.png",
                   help="output PNG of the U-Net panel (default demo.png); the RPE-2D panel goes "
                   "next to it as <name>_rpe2d.png")
    p.add_argument("--seeds", type=int, default=4, help="number of seeds = rows (default 4)")
    p.add_argument("--scale", type=int, default=4,
                   help="U-Net panel: size factor over 32x32 (default 4)")
    p.add_argument("--dit-scale", type=int, default=2,
                   help="RPE-2D panel: size factor over 32x32 (default 2)")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    p.add_argument("--guidance", type=float, default=1.0, help="CFG scale (default 1)")
    p.add_argument("--methods", default=None,
                   help="comma-separated U-Net columns after the 1x one (default: direct,pbc3,"
                   "pbc31,redilate)")
    p.add_argument("--no-rpe2d", action="store_true", help="skip the RPE-2D panel")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")


def run_demo(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from .demo import DEMO_METHODS, run_demo as demo, run_rpe2d_demo
    from .resolution_methods import check_method
    from .rpe2d_bench import load_tiny_dits

    start = time.perf_counter()
    try:
        methods = ([check_method(m.strip()) for m in args.methods.split(",") if m.strip()]
                   if args.methods else list(DEMO_METHODS))
        if args.seeds < 1 or args.steps < 1 or args.scale < 1 or args.dit_scale < 1:
            raise ValueError("--seeds, --steps, --scale and --dit-scale must be >= 1")
        dits = None if args.no_rpe2d else load_tiny_dits()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _set_threads(args.threads)
    print(demo(args.out, seeds=args.seeds, scale=args.scale, steps=args.steps,
               guidance=args.guidance, methods=methods))
    print(f"wrote {args.out}")
    if dits is not None:
        out = Path(args.out)
        out2 = str(out.with_name(out.stem + "_rpe2d" + out.suffix))
        print()
        print(run_rpe2d_demo(out2, seeds=args.seeds, scale=args.dit_scale, steps=args.steps,
                             guidance=args.guidance, models=dits))
        print(f"wrote {out2}")
    print(f"demo: {time.perf_counter() - start:.0f} s in all")
    return 0


def add_probe(p: argparse.ArgumentParser) -> None:
    from .position_probe import CONFIGS, CONTENTS
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help="comma-separated: zero, circular, redilate, pbc<N> (default: all of "
                   + ", ".join(CONFIGS) + ")")
    p.add_argument("--scales", default="1,2", help="comma-separated integer size factors over "
                   "the training size (default 1,2)")
    p.add_argument("--train-images", type=int, default=64, help="probe training images per size")
    p.add_argument("--test-images", type=int, default=32, help="held-out images per size")
    p.add_argument("--steps", type=int, default=1500, help="probe training steps (default 1500)")
    p.add_argument("--timestep", type=int, default=500, help="diffusion timestep of the noisy "
                   "inputs, 0..999 (default 500)")
    p.add_argument("--content", default="rolled", choices=CONTENTS,
                   help="rolled: scenes circularly shifted by a random offset (default); "
                   "scenes: as rendered; noise: pure Gaussian noise")
    p.add_argument("--seed", type=int, default=0, help="seed of scenes, noise and minibatches")
    p.add_argument("--out", default="docs/position_probe_results.md",
                   help="Markdown report (raw numbers go next to it as .json); '' = print only")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--weights", default=None, help="U-Net weights (default: the bundled ones)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_probe(args: argparse.Namespace) -> int:
    from .position_probe import check_config, format_report, run_position_probe, write_outputs
    from posenc.reference_unet import load_reference_unet
    from .run_records import command_line

    try:
        configs = [check_config(c.strip()) for c in args.configs.split(",") if c.strip()]
        if not configs:
            raise ValueError("--configs is empty")
        try:
            scales = [int(s) for s in args.scales.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--scales must be comma-separated integers (got {args.scales!r})") from None
        if not scales or min(scales) < 1:
            raise ValueError(f"--scales must be integers >= 1 (got {args.scales!r})")
        if args.train_images < 1 or args.test_images < 1 or args.steps < 1:
            raise ValueError("--train-images, --test-images and --steps must be >= 1")
        if not 0 <= args.timestep <= 999:
            raise ValueError(f"--timestep must be in 0..999 (got {args.timestep})")
        model = load_reference_unet(args.weights)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _set_threads(args.threads)
    result = run_position_probe(model, configs, scales, args.train_images, args.test_images,
                                args.steps, args.seed, args.timestep, args.content,
                                progress=not args.no_progress)
    command = command_line()
    if args.out:
        print(write_outputs(result, args.out, command))
        print(f"wrote {args.out}")
    else:
        print(format_report(result, command))
    return 0


COMMANDS = {
    "train-unet": (add_train_unet, run_train_unet,
                   "train the reference U-Net on the procedural scenes"),
    "bench": (add_bench, run_bench, "layout benchmark: resolution methods on the reference U-Net"),
    "bench-rpe2d": (add_bench_rpe2d, run_bench_rpe2d,
                    "RPE-2D benchmark: position modes on the bundled tiny DiTs"),
    "demo": (add_demo, run_demo, "side-by-side PNGs: direct vs PBC vs re-dilation at 4x on the "
                                "reference U-Net, vanilla vs RPE-2D at 2x on the tiny DiTs"),
    "probe": (add_probe, run_probe, "position probe: how much absolute position the U-Net's "
              "last features carry, per padding / method (the PBC paper's Table 1)"),
}


# Commands with their own argument parser: the rest of the command line is handed to main(argv).
PASS_THROUGH = {
    "train-dit": ("posenc_lab.train_dit", "train a DiT with RPE-2D positions (or vanilla) on latents "
                  "or on the procedural scenes"),
    "bench-dit": ("posenc_lab.bench_dit", "speed of the DiT forward pass per position mode vs the "
                  "plain DiT"),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASS_THROUGH:
        import importlib
        module = importlib.import_module(PASS_THROUGH[argv[0]][0])
        return module.main(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="python -m posenc_lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, _run, help_text) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    for name, (_module, help_text) in PASS_THROUGH.items():
        sub.add_parser(name, help=help_text + f" (python -m posenc_lab {name} --help)", add_help=False)
    args = parser.parse_args(argv)
    return COMMANDS[args.command][1](args) or 0


if __name__ == "__main__":
    sys.exit(main())
