"""A real ComfyUI server with this pack, for the host tests and tools/soak.py: a free loopback port,
`--cpu`, a temporary --base-directory whose custom_nodes/ holds this repository as "ComfyUI-posenc"
(a folder name that is not a Python identifier, as users' clones often are), ready once
/object_info lists one of the pack's nodes.  Standard library only (it runs in any host's Python).

``running_comfyui`` links the repository into custom_nodes/ (the default) or copies the pack's
runtime files there (``copy_pack=True``), so that a caller can put files into the pack's own
models/ folder without touching the repository; ``prepare(base)`` runs before the server starts
(to place files in base/models/...).  A server that exits or never gets ready raises
``ServerError`` with the end of its log.
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
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK_FOLDER = "ComfyUI-posenc"
# What a copy of the pack leaves out: the repository's development folders (not the runtime).
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "tests", "tools", "posenc_lab", "docs", "out",
                                     "node_modules", "__pycache__", "*.pyc", ".pytest_cache", "build")


class ServerError(RuntimeError):
    """ComfyUI exited, or did not get ready in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def host_paths(host: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(ComfyUI checkout, its Python): HOST/ComfyUI and HOST/venv/bin/python for a host folder as
    tools/host_tests.sh takes it, else COMFYUI_PATH and COMFYUI_PYTHON (default: this Python)."""
    if host:
        return Path(host) / "ComfyUI", str(Path(host) / "venv" / "bin" / "python")
    if not os.environ.get("COMFYUI_PATH"):
        raise ServerError("no ComfyUI: pass a host folder or set COMFYUI_PATH (and COMFYUI_PYTHON)")
    return Path(os.environ["COMFYUI_PATH"]), os.environ.get("COMFYUI_PYTHON", sys.executable)


@contextmanager
def running_comfyui(artifacts: Path, prefix: str, ready_node: str, timeout: float = 240, *,
                    comfyui: Path | None = None, python: str | None = None, copy_pack: bool = False,
                    prepare=None, extra_args=(), env=None):
    """Start ComfyUI (``comfyui``/``python``, default COMFYUI_PATH / COMFYUI_PYTHON) with the pack;
    yields {"url", "base", "log", "proc", "pack"}; the log goes to artifacts/comfyui.log.  ``env``:
    variables to set for the server (OMP_NUM_THREADS ...).  Stops it and removes the base
    directory afterwards."""
    if comfyui is None:
        comfyui, env_python = host_paths()
        python = python or env_python
    comfyui = Path(comfyui)
    python = python or sys.executable
    if not (comfyui / "main.py").exists():
        raise ServerError(f"{comfyui} has no main.py")
    artifacts.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=prefix))
    proc = None
    try:
        (base / "custom_nodes").mkdir()
        (base / "user").mkdir()
        pack = base / "custom_nodes" / PACK_FOLDER
        if copy_pack:
            shutil.copytree(ROOT, pack, ignore=COPY_IGNORE)
        else:
            pack.symlink_to(ROOT, target_is_directory=True)
        if prepare is not None:
            prepare(base)
        url = f"http://127.0.0.1:{free_port()}/"
        log = artifacts / "comfyui.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port",
                 url.rsplit(":", 1)[1].strip("/"), "--base-directory", str(base),
                 "--disable-auto-launch", *extra_args],
                cwd=comfyui, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise ServerError(f"ComfyUI exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if ready_node in get_json(f"{url}object_info/{ready_node}", 5):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise ServerError(f"ComfyUI did not serve {ready_node} within {timeout:g} s:\n"
                                  f"{log.read_text()[-4000:]}")
            time.sleep(1)
        yield {"url": url, "base": base, "log": log, "proc": proc, "pack": pack}
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)
