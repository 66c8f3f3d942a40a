"""Generate tests/fixtures/boundary_geometry.json from the Python geometry (posenc/boundaries.py and
the per-axis activation of posenc/boundary_drawing.py).  js/tests/ hold js/boundaries.js to it and
tests/test_boundary_fixture.py checks that the committed file is current.

    python tests/make_boundary_fixture.py          # rewrite the fixture
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "boundary_geometry.json"


def load_pack(name: str = "posenc_pack_under_test"):
    """Import the repository as a package (its folder name need not be a Python identifier).
    Without ComfyUI, its nodes import comfy_api from tests/standin, as under pytest."""
    if importlib.util.find_spec("comfy_api") is None:
        sys.path.append(str(ROOT / "tests" / "standin"))
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


U64 = (1 << 64) - 1
# seeds and keys are written as decimal strings: JSON numbers above 2**53 do not survive JS.
SEEDS = [0, 1, 42, 123456789, 2**53 + 1, U64]
KEYS = [0, 1, 0x3F800000, 0x41A00000, 0xFFFFFFFF]   # sigma_key(1.0), sigma_key(20.0), ...


def build_fixture() -> dict:
    load_pack()
    B = importlib.import_module("posenc_pack_under_test.posenc.boundaries")
    D = importlib.import_module("posenc_pack_under_test.posenc.boundary_drawing")

    splitmix = [{"x": str(x), "out": str(B.splitmix64(x))}
                for x in [0, 1, 2, 0x9E3779B97F4A7C15, U64, 1 << 63, 12345678901234567890]]
    hashes = []
    for seed in SEEDS:
        for key in KEYS[:3]:
            for index, side in [(1, 0), (2, 1), (31, 3), (256, 2)]:
                hashes.append({"parts": [str(seed), str(key), str(index), str(side)],
                               "out": str(B.hash_ints(seed, key, index, side))})
    hashes.append({"parts": ["-1"], "out": str(B.hash_ints(-1))})   # negatives wrap to 64 bits
    hashes.append({"parts": [], "out": str(B.hash_ints())})

    lambdas = {str(n): list(B.boundary_lambdas(n)) for n in [1, 2, 3, 7, 31, 255, 256]}
    nominal = [{"lam": lam, "size": s, "out": B.nominal_offset(lam, s)}
               for n in [1, 2, 3, 5, 31] for lam in B.boundary_lambdas(n) for s in [1, 2, 3, 5, 6, 7, 64, 97, 131]]

    geometry = []
    cases = [
        (8, 8, 1, 0, 0, 0, True, True),
        (64, 64, 31, 1, 0, 0, True, True),
        (64, 64, 31, 1, 42, 0x3F800000, True, True),
        (128, 128, 31, 2, 7, 0x41A00000, True, True),
        (32, 32, 31, 1, 0, 0, True, True),            # a boundary on every row
        (16, 16, 31, 3, 5, 1, True, True),            # dense: clamping at both ends
        (97, 131, 5, 1, 3, 0, True, True),            # odd sizes
        (128, 384, 31, 1, 0, 0, False, True),         # long axis only (vertical boundaries)
        (384, 128, 8, 1, 11, 0, True, False),         # long axis only (horizontal boundaries)
        (64, 64, 8, 0, 0, 0, False, False),           # at base: nothing
        (1, 1, 3, 2, 9, 9, True, True),               # degenerate map
        (2, 300, 256, 4, 2**53 + 1, 0xFFFFFFFF, True, True),
        (200, 50, 3, 1, U64, 0, True, True),
        (256, 256, 256, 1, 123456789, 0, True, True),
    ]
    for h, w, n, r, seed, key, rows, cols in cases:
        b = B.virtual_boundaries(h, w, n, jitter=r, seed=seed, key=key, rows=rows, cols=cols)
        geometry.append({"height": h, "width": w, "n": n, "jitter": r, "seed": str(seed),
                         "key": str(key), "rows": rows, "cols": cols,
                         "top": list(b.top), "bottom": list(b.bottom),
                         "left": list(b.left), "right": list(b.right)})
    for seed in SEEDS:
        for key in KEYS:
            b = B.virtual_boundaries(48, 80, 7, jitter=2, seed=seed, key=key)
            geometry.append({"height": 48, "width": 80, "n": 7, "jitter": 2, "seed": str(seed),
                             "key": str(key), "rows": True, "cols": True,
                             "top": list(b.top), "bottom": list(b.bottom),
                             "left": list(b.left), "right": list(b.right)})

    level_cases = [{"height": h, "width": w, "levels": lv, "out": [list(s) for s in B.level_sizes(h, w, lv)]}
                   for h, w, lv in [(256, 256, 4), (97, 131, 4), (1, 1, 3), (128, 384, 3), (300, 2, 8)]]

    plans = []
    for width, height, base, ds, levels, n, r, seed in [
        (1024, 1024, 512, 8, 4, 31, 1, 0),
        (2048, 2048, 512, 8, 4, 31, 1, 0),
        (3072, 1024, 1024, 8, 3, 31, 1, 0),     # SDXL 3:1: vertical boundaries only
        (1024, 3072, 1024, 8, 3, 8, 2, 5),      # tall: horizontal only
        (512, 512, 512, 8, 4, 31, 1, 0),        # at base
        (504, 520, 512, 8, 4, 3, 0, 0),         # one axis just below, the other just above
        (768, 768, 768, 8, 4, 31, 1, 0),        # SD 2.x v-prediction at base
        (128, 96, 64, 1, 3, 7, 1, 3),           # pixel-space reference model
        (776, 1000, 768, 8, 4, 5, 1, U64),
        (16384, 64, 1024, 8, 4, 4, 1, 1),       # extreme aspect
        (1024, 1024, 512, 8, 4, 0, 1, 0),       # auto: 2x -> N 1
        (2048, 2048, 512, 8, 4, 0, 1, 0),       # auto: 4x -> N 3
        (1280, 512, 512, 8, 4, 0, 1, 0),        # auto: 2.5x on one axis -> N 2 (floor(s+0.5), not
                                                # Python's round-half-even, which gives 1)
        (96, 32, 32, 1, 3, 0, 1, 0),            # auto on the pixel-space reference U-Net: 3x -> N 2
    ]:
        p = D.plan_boundaries(width, height, base, n, jitter=r, seed=seed, key=0, levels=levels,
                              latent_downscale=ds)
        plans.append({
            "width": width, "height": height, "base_resolution": base, "latent_downscale": ds,
            "levels": levels, "n": n, "resolved_n": p.n, "auto": p.auto, "jitter": r,
            "seed": str(seed), "key": "0",
            "latent_width": p.latent_width, "latent_height": p.latent_height,
            "rows": p.rows, "cols": p.cols,
            "level_maps": [{"height": lv.height, "width": lv.width,
                            "top": list(lv.boundaries.top), "bottom": list(lv.boundaries.bottom),
                            "left": list(lv.boundaries.left), "right": list(lv.boundaries.right)}
                           for lv in p.levels],
        })
    return {"comment": "Generated by tests/make_boundary_fixture.py from posenc/boundaries.py; "
                       "do not edit by hand.",
            "max_boundaries": B.MAX_BOUNDARIES, "splitmix64": splitmix, "hash_ints": hashes,
            "lambdas": lambdas, "nominal_offset": nominal, "virtual_boundaries": geometry,
            "level_sizes": level_cases, "plans": plans}


def render(data: dict) -> str:
    return json.dumps(data, indent=None, separators=(",", ":")) + "\n"


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(render(build_fixture()))
    print(f"wrote {FIXTURE.relative_to(ROOT)} ({FIXTURE.stat().st_size} bytes)")
