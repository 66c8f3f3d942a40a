"""Browser test of the boundary-grid widget (js/boundary_grid.js) in real ComfyUI.  Opt-in.

Runs when COMFYUI_PATH points at a ComfyUI checkout.  Starts ComfyUI on 127.0.0.1 (a free port)
with --base-directory in a temporary folder whose custom_nodes/ holds a symlink to this repository
(so nothing is written into the ComfyUI checkout), opens it in headless Chromium driven by
playwright-core (tests/host/browser_widget.mjs), and checks from the widget canvases' pixels that
the grid is drawn, follows width and N, and also renders in the Vue node renderer.  Screenshots go
to tests/artifacts/browser_widget/.

Needs: COMFYUI_PATH; the Python that runs ComfyUI (COMFYUI_PYTHON, default: this interpreter);
Chromium (CHROMIUM, default /usr/bin/chromium: `apt-get install chromium`); node; playwright-core
(PLAYWRIGHT_CORE_DIR holding node_modules/playwright-core, or `npm ci --prefix tests/host`, which
this test runs itself when npm is there).

If this branch has no PBCModelPatcher node yet, a declaration-only stand-in with the patcher's
inputs (tests/host/stub_pbc_patcher) is installed beside the pack so the widget can be checked on it.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

HOST_DIR = Path(__file__).resolve().parent
ROOT = HOST_DIR.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser_widget"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")

pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="browser test of the widget: set COMFYUI_PATH "
                                "to a ComfyUI checkout (and COMFYUI_PYTHON to its Python) to run it")


def _playwright_dir() -> Path | None:
    for d in filter(None, [os.environ.get("PLAYWRIGHT_CORE_DIR"), str(HOST_DIR)]):
        if (Path(d) / "node_modules" / "playwright-core" / "package.json").exists():
            return Path(d)
    if shutil.which("npm"):
        r = subprocess.run(["npm", "ci", "--prefix", str(HOST_DIR), "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=300)
        if r.returncode == 0 and (HOST_DIR / "node_modules" / "playwright-core").exists():
            return HOST_DIR
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pack_defines(node_id: str) -> bool:
    return any(f'"{node_id}"' in p.read_text() for p in (ROOT / "nodes").glob("*.py"))


def _wait_for_node(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ComfyUI exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}object_info/BoundaryVisualizer", timeout=5) as r:
                if "BoundaryVisualizer" in json.load(r):
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"ComfyUI did not serve BoundaryVisualizer within {timeout}s:\n{log.read_text()[-4000:]}")


def test_boundary_grid_widget_in_chromium():
    comfy = Path(COMFYUI_PATH)
    if not (comfy / "main.py").exists():
        pytest.fail(f"COMFYUI_PATH={COMFYUI_PATH} has no main.py")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium}: apt-get install chromium, or set CHROMIUM")
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    pw = _playwright_dir()
    if pw is None:
        pytest.skip("playwright-core not found: npm ci --prefix tests/host, or set PLAYWRIGHT_CORE_DIR")
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    base = Path(tempfile.mkdtemp(prefix="pbc-comfy-"))
    proc = None
    try:
        (base / "custom_nodes").mkdir()
        (base / "user").mkdir()
        # a folder name that is not a Python identifier, as users' clones often are
        (base / "custom_nodes" / "ComfyUI-posenc").symlink_to(ROOT, target_is_directory=True)
        stub = not _pack_defines("PBCModelPatcher")
        if stub:
            (base / "custom_nodes" / "zz_pbc_patcher_stub").symlink_to(HOST_DIR / "stub_pbc_patcher")
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        log = ARTIFACTS / "comfyui.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                 "--base-directory", str(base), "--disable-auto-launch"],
                cwd=comfy, stdout=out, stderr=subprocess.STDOUT)
        _wait_for_node(url, proc, log)
        r = subprocess.run([node, str(HOST_DIR / "browser_widget.mjs"), url, str(ARTIFACTS), chromium],
                           cwd=pw, env={**os.environ, "PLAYWRIGHT_CORE_DIR": str(pw)},
                           capture_output=True, text=True, timeout=600)
        (ARTIFACTS / "browser_widget.out").write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith('{"checks"')]
        results = json.loads(lines[-1]) if lines else {"checks": []}
        summary = "\n".join(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}" for c in results["checks"])
        print(("PBCModelPatcher: test stub (the pack has none on this branch)\n" if stub else "") + summary)
        assert r.returncode == 0, f"{summary}\n{r.stderr[-4000:]}"
        assert len(results["checks"]) >= 20 and all(c["ok"] for c in results["checks"])
        assert len(list(ARTIFACTS.glob("*.png"))) >= 8
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)
