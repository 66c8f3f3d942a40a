"""A real ComfyUI server for host tests (posenc_lab/comfy_server.py, shared with tools/soak.py): a
free loopback port, a temporary --base-directory whose custom_nodes/ holds this repository as
"ComfyUI-posenc", ready once /object_info lists one of the pack's nodes.  A server that does not
start fails the test with the end of its log."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from posenc_lab import comfy_server
from posenc_lab.comfy_server import free_port, get_json  # noqa: F401 (the host tests import them from here)

ROOT = comfy_server.ROOT


@contextmanager
def running_comfyui(artifacts: Path, prefix: str, ready_node: str, timeout: float = 240, **options):
    """Start ComfyUI (COMFYUI_PATH, run by COMFYUI_PYTHON) with the pack; yields
    {"url", "base", "log", "proc", "pack"}; the log goes to artifacts/comfyui.log.  Stops it afterwards."""
    try:
        with comfy_server.running_comfyui(artifacts, prefix, ready_node, timeout, **options) as srv:
            yield srv
    except comfy_server.ServerError as e:
        pytest.fail(str(e))
