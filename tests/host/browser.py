"""Run one of the host tests' browser scripts (tests/host/browser_*.mjs, playwright-core driving
headless Chromium) against a test server.

Every script takes the server's URL, a folder for its screenshots and Chromium's path, then its
own arguments, and prints its findings as one JSON line.  Needs Chromium (CHROMIUM, default
/usr/bin/chromium: `apt-get install chromium`), node, and playwright-core (PLAYWRIGHT_CORE_DIR
holding node_modules/playwright-core, or `npm ci --prefix tests/host`, which this runs itself when
npm is there); without them the calling test is skipped, saying which is missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HOST_DIR = Path(__file__).resolve().parent


def playwright_dir() -> Path | None:
    """The folder whose node_modules holds playwright-core, installing it with npm if need be."""
    for d in filter(None, [os.environ.get("PLAYWRIGHT_CORE_DIR"), str(HOST_DIR)]):
        if (Path(d) / "node_modules" / "playwright-core" / "package.json").exists():
            return Path(d)
    if shutil.which("npm"):
        r = subprocess.run(["npm", "ci", "--prefix", str(HOST_DIR), "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=300)
        if r.returncode == 0 and (HOST_DIR / "node_modules" / "playwright-core").exists():
            return HOST_DIR
    return None


def run_script(script: str, url: str, out_dir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`node tests/host/<script> URL OUT_DIR CHROMIUM ARGS...`; its stdout and stderr are also
    written to OUT_DIR/<script name>.out.  Skips the test when Chromium, node or playwright-core is
    missing."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium}: apt-get install chromium, or set CHROMIUM")
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    pw = playwright_dir()
    if pw is None:
        pytest.skip("playwright-core not found: npm ci --prefix tests/host, or set PLAYWRIGHT_CORE_DIR")
    out_dir.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([node, str(HOST_DIR / script), url, str(out_dir), chromium, *args], cwd=pw,
                       env={**os.environ, "PLAYWRIGHT_CORE_DIR": str(pw)}, capture_output=True, text=True,
                       timeout=timeout)
    (out_dir / f"{Path(script).stem}.out").write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
    return r
