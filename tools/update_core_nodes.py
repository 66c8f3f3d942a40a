"""Regenerate tests/fixtures/core_nodes.json from a real ComfyUI's /object_info.

The workflow tests (tests/test_workflows.py) run without ComfyUI; this file is their record of
ComfyUI's core nodes: the ComfyUI version, the names of all core node types (python_module not
under custom_nodes), and the input/output specs of the core node types that example_workflows/*.json use.
One record per ComfyUI version the workflows are checked against (tests/fixtures/core_nodes.json:
0.3.64; core_nodes_0.33.0.json: 0.33.0, with --out); the tests check each workflow against every
record that has all its node types.

    # against a running ComfyUI
    python tools/update_core_nodes.py --url http://127.0.0.1:8188/
    # or start one (no custom nodes, on a free port, in a temporary base directory)
    python tools/update_core_nodes.py --comfyui /path/to/ComfyUI --python /path/to/comfy-venv/bin/python
    # the 0.33.0 record
    python tools/update_core_nodes.py --comfyui /path/to/ComfyUI-0.33.0 --python ... \
        --out tests/fixtures/core_nodes_0.33.0.json

Rerun it after adding a core node type to a workflow or when moving to a new ComfyUI version.
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "core_nodes.json"
WORKFLOWS = ROOT / "example_workflows"
FRONTEND_ONLY = {"Note", "MarkdownNote"}
KEEP = ("input", "input_order", "output", "output_name", "output_is_list", "output_node", "python_module")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def workflow_types() -> set[str]:
    types = set()
    for path in sorted(WORKFLOWS.glob("*.json")):
        types.update(n["type"] for n in json.loads(path.read_text())["nodes"])
    return types - FRONTEND_ONLY


def record(object_info: dict, version: str) -> dict:
    core = {name: info for name, info in object_info.items()
            if not str(info.get("python_module", "")).startswith("custom_nodes")}
    used = sorted(t for t in workflow_types() if t in core)
    return {
        "comfyui_version": version,
        "source": "GET /object_info and /system_stats of a running ComfyUI; tools/update_core_nodes.py",
        "core_node_names": sorted(core),
        "nodes": {name: {k: core[name][k] for k in KEEP if k in core[name]} for name in used},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(comfyui: Path, python: str):
    base = Path(tempfile.mkdtemp(prefix="core-nodes-"))
    (base / "custom_nodes").mkdir()
    port = _free_port()
    proc = subprocess.Popen([python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                             "--base-directory", str(base), "--disable-auto-launch"],
                            cwd=comfyui, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        if proc.poll() is not None:
            raise SystemExit(f"ComfyUI exited with {proc.returncode}")
        try:
            _get(url + "system_stats")
            return proc, base, url
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise SystemExit("ComfyUI did not start within 240 s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running ComfyUI, e.g. http://127.0.0.1:8188/")
    ap.add_argument("--comfyui", type=Path, help="a ComfyUI checkout to start")
    ap.add_argument("--python", default=sys.executable, help="the Python that runs ComfyUI")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not args.url and not args.comfyui:
        ap.error("give --url or --comfyui")
    proc = base = None
    url = args.url
    try:
        if not url:
            proc, base, url = _start(args.comfyui, args.python)
        url = url.rstrip("/") + "/"
        version = _get(url + "system_stats")["system"]["comfyui_version"]
        data = record(_get(url + "object_info"), version)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
    missing = sorted(workflow_types() - set(data["core_node_names"]) - set(_pack_nodes()))
    if missing:
        print(f"warning: node types in example_workflows/ that are neither core nor ours: {missing}",
              file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}: ComfyUI {version}, {len(data['core_node_names'])} core node types, "
          f"specs of {len(data['nodes'])}: {', '.join(data['nodes'])}")
    return 0


def _pack_nodes() -> list[str]:
    """The pack's node ids, from the node_id="..." of each V3 schema in nodes/."""
    import re
    names = []
    for path in (ROOT / "nodes").glob("*.py"):
        names += re.findall(r'node_id="(\w+)"', path.read_text())
    return names


if __name__ == "__main__":
    sys.exit(main())
