"""Browser test of the boundary-grid widget (js/boundary_grid.js) in real ComfyUI.  Opt-in.

Runs when COMFYUI_PATH points at a ComfyUI checkout.  Starts ComfyUI on 127.0.0.1 (a free port)
with --base-directory in a temporary folder whose custom_nodes/ holds a symlink to this repository
(so nothing is written into the ComfyUI checkout), opens it in headless Chromium driven by
playwright-core (tests/host/browser_widget.mjs), and checks from the widget canvases' pixels that
the grid is drawn, follows width and N, and also renders in the Vue node renderer; that a linked
SDXL checkpoint sets the patcher's family; and, on every example workflow's node at 100% zoom in
both renderers, that each text the canvas draws fits its line (measured by the canvas API) and
overlaps none, and the bar's fields and menu are not clipped;
tests/host/browser_vue_ids.mjs checks that in the Vue renderer the grid goes into its own node
only, when node ids repeat across subgraphs and workflow tabs.  Screenshots go to
tests/artifacts/browser_widget/.

Needs: COMFYUI_PATH; the Python that runs ComfyUI (COMFYUI_PYTHON, default: this interpreter);
Chromium (CHROMIUM, default /usr/bin/chromium: `apt-get install chromium`); node; playwright-core
(PLAYWRIGHT_CORE_DIR holding node_modules/playwright-core, or `npm ci --prefix tests/host`, which
this test runs itself when npm is there).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from host import browser
from host.comfy_server import running_comfyui

HOST_DIR = Path(__file__).resolve().parent
ROOT = HOST_DIR.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser_widget"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")

pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="browser test of the widget: set COMFYUI_PATH "
                                "to a ComfyUI checkout (and COMFYUI_PYTHON to its Python) to run it")


@pytest.fixture(scope="module")
def comfy_server():
    """ComfyUI on a free loopback port with this pack in a temporary --base-directory."""
    with running_comfyui(ARTIFACTS, "pbc-comfy-", "BoundaryVisualizer") as server:
        yield server


def _post(url: str, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _run_prompt(url: str, prompt: dict, timeout: float = 120) -> dict:
    status, answer = _post(url, "prompt", {"prompt": prompt})
    assert status == 200, answer
    pid = answer["prompt_id"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"{url}history/{pid}", timeout=10) as r:
            hist = json.load(r)
        if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
            return hist[pid]
        if pid in hist and hist[pid].get("status", {}).get("status_str") == "error":
            return hist[pid]
        time.sleep(0.5)
    pytest.fail(f"prompt {pid} did not finish in {timeout}s")


def _viz(**kw):
    inputs = {"width": 2048, "height": 1024, "base_resolution": 512, "boundaries": 31, "jitter": 1,
              "jitter_seed": 0, "levels": 0}
    inputs.update(kw)
    return {"1": {"class_type": "BoundaryVisualizer", "inputs": inputs},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}


def test_visualizer_runs_in_comfyui(comfy_server):
    url = comfy_server["url"]
    done = _run_prompt(url, _viz())
    assert done["status"]["status_str"] == "success", done["status"]
    images = done["outputs"]["2"]["images"]
    assert len(images) == 1 and images[0]["filename"].endswith(".png")
    # a run-time error names the input (base_resolution not a multiple of 8)
    done = _run_prompt(url, _viz(base_resolution=500))
    assert done["status"]["status_str"] == "error"
    messages = json.dumps(done["status"]["messages"])
    assert "base_resolution" in messages and "multiple of 8" in messages
    # out-of-range values are refused by ComfyUI's own validation of the declared min/max
    status, answer = _post(url, "prompt", {"prompt": _viz(boundaries=-1)})   # 0 = auto is valid
    assert status == 400 and "boundaries" in json.dumps(answer)


def _run_browser_script(comfy_server, script: str, artifacts: Path) -> tuple[subprocess.CompletedProcess, dict, str]:
    """Run tests/host/<script> against the server in headless Chromium; (process, its JSON line of
    checks, a one-line-per-check summary).  Skips without Chromium, node or playwright-core."""
    r = browser.run_script(script, comfy_server["url"], artifacts, timeout=600)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('{"checks"')]
    results = json.loads(lines[-1]) if lines else {"checks": []}
    summary = "\n".join(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}" for c in results["checks"])
    print(summary)
    return r, results, summary


def test_boundary_grid_widget_in_chromium(comfy_server):
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    r, results, summary = _run_browser_script(comfy_server, "browser_widget.mjs", ARTIFACTS)
    assert r.returncode == 0, f"{summary}\n{r.stderr[-4000:]}"
    assert len(results["checks"]) >= 20 and all(c["ok"] for c in results["checks"])
    assert len(list(ARTIFACTS.glob("*.png"))) >= 8


def test_grid_mounts_only_in_its_own_vue_node_when_ids_repeat(comfy_server):
    """Vue node renderer (issue #15, item 7): a Boundary Visualizer inside a subgraph, or in a
    workflow tab switched away from, shares its node id with a node on screen; its grid must not be
    mounted in that node (browser_vue_ids.mjs says how it is set up).  Failing details, with
    where each grid was found, are in tests/artifacts/browser_widget/vue_ids/browser_vue_ids.out."""
    artifacts = ARTIFACTS / "vue_ids"
    for old in artifacts.glob("*.png"):
        old.unlink()
    r, results, summary = _run_browser_script(comfy_server, "browser_vue_ids.mjs", artifacts)
    failed = [c for c in results["checks"] if not c["ok"]]
    assert r.returncode == 0 and not failed, f"{summary}\n" + "\n".join(
        f"{c['name']}: {json.dumps(c['detail'])[:1500]}" for c in failed) + f"\n{r.stderr[-2000:]}"
    assert len(results["checks"]) >= 10
