"""Every node's V1 view (/object_info: input names, order, types, defaults, limits, tooltips,
outputs, display name, category) is what it was before the move to the V3 schema
(tests/node_contract.py says what the record is and which shape changes are mapped back).
tests/host/test_host_schema.py checks the same against ComfyUI's real comfy_api."""
import asyncio

import pytest

from conftest import load_pack, registered_nodes
from node_contract import contract, no_model_files, recorded  # noqa: F401 (a fixture)

RECORDED = recorded()


def test_the_same_nodes_are_registered():
    assert sorted(registered_nodes()) == sorted(RECORDED)


@pytest.mark.parametrize("node_id", sorted(RECORDED))
def test_v1_view_is_unchanged(node_id, no_model_files):
    cls, display_name = registered_nodes()[node_id]
    info = cls.GET_NODE_INFO_V1()
    assert info["display_name"] == display_name
    assert contract(info) == contract(RECORDED[node_id])


@pytest.mark.parametrize("node_id", sorted(RECORDED))
def test_v1_class_attributes(node_id, no_model_files):
    """What V1-era code reads off a node class, through ComfyUI's V1 compatibility."""
    cls, _ = registered_nodes()[node_id]
    old = RECORDED[node_id]
    inputs = cls.INPUT_TYPES()
    assert {k: list(v) for k, v in inputs.items()} == old["input_order"]
    assert list(cls.RETURN_TYPES) == old["output"] and list(cls.RETURN_NAMES) == old["output_name"]
    assert cls.CATEGORY == old["category"] and cls.DESCRIPTION == old["description"]
    assert list(cls.OUTPUT_TOOLTIPS) == old.get("output_tooltips", [None] * len(old["output"]))


def test_entrypoint_is_the_only_registration():
    """ComfyUI takes its V1 path when a pack has NODE_CLASS_MAPPINGS; this pack has only the
    V3 entry point, and its extension lists every node once."""
    pack = load_pack()
    assert not hasattr(pack, "NODE_CLASS_MAPPINGS") and pack.WEB_DIRECTORY == "./js"
    ext = asyncio.run(pack.comfy_entrypoint())
    nodes = asyncio.run(ext.get_node_list())
    assert nodes == pack.nodes.NODES and len(set(nodes)) == len(nodes)
