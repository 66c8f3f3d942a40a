"""Test setup: the repository root is importable as a package (as ComfyUI imports a custom node
folder), and `comfy` and `comfy_api` resolve to real ComfyUI when COMFYUI_PATH is set, else to
tests/standin."""
import asyncio
import importlib.util
import os
import sys

import pytest
import torch

# One thread: on a shared 2-core machine, OpenMP threads that compete with another process make
# small ops 5-10x slower; one thread keeps the suite's time steady.
torch.set_num_threads(int(os.environ.get("POSENC_TEST_THREADS", "1")))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
PACK_NAME = "posenc_pack_under_test"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")

for p in (ROOT, TESTS):
    if p not in sys.path:
        sys.path.insert(0, p)

if COMFYUI_PATH:
    if COMFYUI_PATH not in sys.path:
        sys.path.insert(0, COMFYUI_PATH)
    import comfy.options
    comfy.options.enable_args_parsing()
    _argv, sys.argv = sys.argv, [sys.argv[0], "--cpu"]   # ComfyUI parses sys.argv once, on import
    try:
        import comfy.cli_args  # noqa: F401
        import comfy.model_management  # noqa: F401
    finally:
        sys.argv = _argv
else:
    sys.path.insert(0, os.path.join(TESTS, "standin"))


def load_pack():
    """Import the repository as a package under a name unlike its folder's, as ComfyUI does."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(PACK_NAME, os.path.join(ROOT, "__init__.py"),
                                                  submodule_search_locations=[ROOT])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


def registered_nodes(pack=None) -> dict:
    """{node id: (class, display name)} as ComfyUI registers the pack: through comfy_entrypoint,
    the node id and display name from each node's schema (nodes.py, load_custom_node)."""
    pack = pack or load_pack()

    async def node_list():
        return await (await pack.comfy_entrypoint()).get_node_list()
    out = {}
    for cls in asyncio.run(node_list()):
        schema = cls.GET_SCHEMA()
        out[schema.node_id] = (cls, schema.display_name)
    return out


@pytest.fixture(scope="session")
def pack():
    return load_pack()
