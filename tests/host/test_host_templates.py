"""The pack's example workflows as a user finds them in the real frontend's Templates browser
(issue #32, item 4).  Opt-in (COMFYUI_PATH; Chromium, node and playwright-core as for the other
browser tests).

Starts ComfyUI with the pack (tests/host/comfy_server.py), opens Browse Templates in headless
Chromium (tests/host/browser_templates.mjs), picks the pack's folder and checks that

- the cards come in the workflows' numbered order, 01, 02, ... (ComfyUI's server lists them in
  directory order, and frontends 1.27 to 1.58 show that order as it comes; js/template_order.js
  sorts the pack's list),
- every card's thumbnail (<name>.jpg) is served, none a 404,
- opening each GPU workflow from its card, the frontend lists every model file the workflow
  declares (properties.models) as missing: 1.27's Missing Models dialog, the Errors panel of 1.49
  and 1.58 (the test's ComfyUI has no models).

Screenshots go to tests/artifacts/templates/frontend-<version>/: the Templates browser with each
row of cards in view, and each opened workflow with its missing models.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from host.comfy_server import running_comfyui
from host import browser

HOST_DIR = Path(__file__).resolve().parent
ROOT = HOST_DIR.parents[1]
WORKFLOWS = ROOT / "example_workflows"
ARTIFACTS = ROOT / "tests" / "artifacts" / "templates"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
FOLDER = "ComfyUI-posenc"        # the pack's folder name in the test server (comfy_server.py)

pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="browser test of Browse Templates: set "
                                "COMFYUI_PATH to a ComfyUI checkout to run it")


def _declared_models(path: Path) -> list[str]:
    wf = json.loads(path.read_text())
    return sorted({m["name"] for n in wf["nodes"] for m in n.get("properties", {}).get("models", [])}
                  | {m["name"] for m in wf.get("models", [])})


def test_templates_browser_shows_the_workflows_in_order_with_thumbnails_and_their_models():
    names = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    gpu = [n for n in names if re.match(r"^\d\d GPU, ", n)]
    shots = ARTIFACTS / "run"
    shutil.rmtree(shots, ignore_errors=True)
    with running_comfyui(ARTIFACTS, "posenc-templates-", "PBCModelPatcher") as server:
        r = browser.run_script("browser_templates.mjs", server["url"], shots, FOLDER, *gpu)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('{"frontend"')]
    assert r.returncode == 0 and lines, r.stderr[-4000:]
    seen = json.loads(lines[-1])
    version = seen["frontend"] or "unknown"
    keep = ARTIFACTS / f"frontend-{version}"
    shutil.rmtree(keep, ignore_errors=True)
    shots.rename(keep)
    print(f"frontend {version}: screenshots in {keep}")

    assert seen["order"] == names, f"frontend {version} lists the templates as {seen['order']}"
    assert seen["thumbnails"] == {n: 200 for n in names}, seen["thumbnails"]
    for name in gpu:
        listed = seen["missing"].get(name, "")
        absent = [m for m in _declared_models(WORKFLOWS / f"{name}.json") if m not in listed]
        assert listed and absent == [], (version, name, absent, listed)
    # errors while the page starts are the frontend's own (1.27 logs one from its settings store)
    assert [e for e in seen["pageErrors"] if not e.startswith("startup:")] == [], seen["pageErrors"]
