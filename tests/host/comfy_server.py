"""A real ComfyUI server for host tests: a free loopback port, a temporary --base-directory whose
custom_nodes/ holds this repository as "ComfyUI-posenc" (a folder name that is not a Python
identifier, as users' clones often are), ready once /object_info lists one of the pack's nodes."""
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
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


@contextmanager
def running_comfyui(artifacts: Path, prefix: str, ready_node: str, timeout: float = 240):
    """Start ComfyUI (COMFYUI_PATH, run by COMFYUI_PYTHON) with the pack; yields
    {"url", "base", "log"}; the log goes to artifacts/comfyui.log.  Stops it afterwards."""
    comfy = Path(os.environ["COMFYUI_PATH"])
    if not (comfy / "main.py").exists():
        pytest.fail(f"COMFYUI_PATH={comfy} has no main.py")
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    artifacts.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=prefix))
    proc = None
    try:
        (base / "custom_nodes").mkdir()
        (base / "user").mkdir()
        (base / "custom_nodes" / "ComfyUI-posenc").symlink_to(ROOT, target_is_directory=True)
        url = f"http://127.0.0.1:{free_port()}/"
        log = artifacts / "comfyui.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port",
                 url.rsplit(":", 1)[1].strip("/"), "--base-directory", str(base),
                 "--disable-auto-launch"],
                cwd=comfy, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ComfyUI exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if ready_node in get_json(f"{url}object_info/{ready_node}", 5):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"ComfyUI did not serve {ready_node} within {timeout:g} s:\n"
                            f"{log.read_text()[-4000:]}")
            time.sleep(1)
        yield {"url": url, "base": base, "log": log}
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)
