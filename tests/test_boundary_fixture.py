"""The committed JS parity fixture must be what the Python geometry produces today."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_boundary_fixture import FIXTURE, build_fixture, render  # noqa: E402


def test_fixture_is_current():
    committed = json.loads(FIXTURE.read_text())
    fresh = json.loads(render(build_fixture()))
    assert committed == fresh, ("tests/fixtures/boundary_geometry.json is stale: run "
                                "python tests/make_boundary_fixture.py and commit it")


def test_fixture_covers_the_cases_the_js_tests_rely_on():
    data = json.loads(FIXTURE.read_text())
    geo = data["virtual_boundaries"]
    assert any(c["rows"] != c["cols"] for c in geo)                  # per-axis activation
    assert any(c["height"] != c["width"] for c in geo)               # non-square
    assert len({c["seed"] for c in geo}) >= 5 and len({c["key"] for c in geo}) >= 4
    assert len({c["n"] for c in geo}) >= 5 and len({c["jitter"] for c in geo}) >= 4
    assert any(int(c["seed"]) >= 2**53 for c in geo)                 # beyond JS Number precision
    plans = data["plans"]
    assert any(not (p["rows"] or p["cols"]) for p in plans)          # at base
    assert any(p["rows"] != p["cols"] for p in plans)                # long axis only
    assert any(p["latent_downscale"] == 1 for p in plans)            # pixel-space model
