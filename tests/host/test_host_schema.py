"""The nodes' V3 schemas through ComfyUI's real comfy_api (opt-in: COMFYUI_PATH).

The stand-in tests use tests/standin/comfy_api; here the same checks run against the real one,
and the stand-in's V1 view of every node is compared with the real one, so the stand-in cannot
drift from ComfyUI 0.3.64 unnoticed."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from conftest import registered_nodes
from node_contract import contract, no_model_files, recorded  # noqa: F401 (a fixture)

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="host test: set COMFYUI_PATH to a ComfyUI "
                                "checkout (and run with ComfyUI's Python) to run it")
ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standin"
RECORDED = recorded() if COMFYUI_PATH else {}


def _api_modules():
    return [k for k in sys.modules if k == "comfy_api" or k.startswith("comfy_api.")]


@pytest.fixture(scope="module")
def standin_pack():
    """The pack imported a second time, with tests/standin's comfy_api in place of the real one."""
    import folder_paths  # noqa: F401 (the real one stays in place)
    real = {k: sys.modules.pop(k) for k in _api_modules()}
    sys.path.insert(0, str(STANDIN))
    try:
        name = "posenc_pack_on_standin_api"
        spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        pack = importlib.util.module_from_spec(spec)
        sys.modules[name] = pack
        spec.loader.exec_module(pack)
        io = sys.modules["comfy_api.latest"].io
    finally:
        sys.path.remove(str(STANDIN))
        for k in _api_modules():
            del sys.modules[k]
        sys.modules.update(real)
    assert Path(io.__file__).is_relative_to(STANDIN)
    return pack


def test_the_pack_uses_the_real_comfy_api(pack):
    import comfy_api.latest
    assert Path(comfy_api.latest.__file__).resolve().is_relative_to(Path(COMFYUI_PATH).resolve())
    for cls, _ in registered_nodes(pack).values():
        assert issubclass(cls, comfy_api.latest.io.ComfyNode)
        cls.GET_SCHEMA()           # ComfyUI's own checks: define_schema and execute, unique ids


@pytest.mark.parametrize("node_id", sorted(RECORDED))
def test_v1_view_is_unchanged_in_comfyui(pack, node_id, no_model_files):
    cls, _ = registered_nodes(pack)[node_id]
    assert contract(cls.GET_NODE_INFO_V1()) == contract(RECORDED[node_id])


@pytest.mark.parametrize("node_id", sorted(RECORDED))
def test_standin_gives_the_same_v1_view(pack, standin_pack, node_id, no_model_files):
    """The stand-in is ComfyUI 0.3.64's view.  A newer ComfyUI adds keys to every node's V1 view
    (0.33.0: dev_only, essentials_category, has_intermediate_output, is_input_list,
    output_matchtypes, price_badge, search_aliases); those must hold their neutral value (the
    pack sets none of them), except search_aliases, which must be the node's own SEARCH_ALIASES."""
    def view(p):
        info = json.loads(json.dumps(registered_nodes(p)[node_id][0].GET_NODE_INFO_V1()))
        info.pop("python_module")
        return info
    standin, real = view(standin_pack), view(pack)
    newer = {k: real.pop(k) for k in set(real) - set(standin)}
    assert standin == real
    aliases = newer.pop("search_aliases", None)
    if aliases is not None:
        assert aliases == registered_nodes(pack)[node_id][0].SEARCH_ALIASES
    assert all(v in (False, None, [], {}) for v in newer.values()), newer


def test_standin_node_output_behaves_alike(standin_pack):
    from comfy_api.latest import io as real
    fake = sys.modules[standin_pack.nodes.pbc_patcher.__name__].io
    for io in (real, fake):
        out = io.NodeOutput(1, 2)
        assert (out.result, out.args, out[1]) == ((1, 2), (1, 2), 2)
        assert io.NodeOutput().result is None


def test_comfyuis_own_registry_parser_reads_issues_and_classifiers():
    """ComfyUI's comfy_config parser (what the Registry tooling shares) finds the issues link,
    the OS and the accelerators in pyproject.toml."""
    from comfy_config import config_parser
    cfg = config_parser.extract_node_configuration(str(ROOT))
    assert cfg.project.urls.issues.endswith("/issues")
    assert cfg.project.supported_os == ["OS Independent"]
    assert "GPU :: NVIDIA CUDA" in cfg.project.supported_accelerators
