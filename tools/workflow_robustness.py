"""How robust are the reference-workflow directions over seeds?  Samples the bundled reference
U-Net at 128x128 (4x) through ComfyUI's own sampler, as example_workflows/reference_unet_4x_direct_pbc_
redilation.json does (ddim, ddim_uniform, 25 steps, cfg 1, PBC N=3 jitter 1 / re-dilation in the
first half), for several seeds, and prints one JSON line of layout metrics per seed and method.

    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python tools/workflow_robustness.py --seeds 8

docs/workflows.md quotes its output (8 seeds x 8 images, class day:
about 20 minutes on a busy 2-core CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--label", default="day")
    args = ap.parse_args(argv)
    if not os.environ.get("COMFYUI_PATH"):
        ap.error("set COMFYUI_PATH to a ComfyUI checkout and run with its Python")
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest  # sets up `comfy` from COMFYUI_PATH and loads the pack as ComfyUI does
    import torch

    pack = conftest.load_pack()
    import comfy.sample
    from posenc_lab.layout_metrics import layout_metrics
    from posenc.reference_unet import BUNDLED_UNET
    from posenc_lab.scenes import CLASSES

    (model,) = pack.nodes.reference_models.ReferenceModelLoader.execute(BUNDLED_UNET.name).result
    (pbc,) = pack.nodes.pbc_patcher.PBCModelPatcher.execute(
        model, boundaries=3, jitter=1, start_percent=0.0, end_percent=0.5, base_resolution=0, jitter_seed=0).result
    (red,) = pack.nodes.redilation_patcher.RedilationPatcher.execute(
        model, start_percent=0.0, end_percent=0.5, base_resolution=0).result
    labels = pack.nodes.reference_models.ReferenceClassLabel
    pos, neg = labels.execute(args.label)[0], labels.execute("unconditional")[0]
    for seed in range(args.seeds):
        row = {"seed": seed}
        for name, m in (("direct", model), ("pbc3", pbc), ("redilation", red)):
            start = time.time()
            latent = torch.zeros(args.batch, 3, 128, 128)
            noise = comfy.sample.prepare_noise(latent, seed)
            out = comfy.sample.sample(m, noise, 25, 1.0, "ddim", "ddim_uniform", pos, neg, latent,
                                      disable_pbar=True, seed=seed)
            report = layout_metrics(((out + 1) / 2).clamp(0, 1), CLASSES.index(args.label))
            row[name] = {**report.summary(), "seconds": round(time.time() - start, 1)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
