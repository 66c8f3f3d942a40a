"""The V1 contract of the pack's nodes: what /object_info shows the frontend and what saved
workflows rely on (node ids, display names, categories, descriptions; input names, order, types,
defaults, limits and tooltips; outputs with their names and tooltips).

tests/fixtures/node_contract_v1.json holds server.py's node_info() of the V1 node classes, recorded
before the nodes moved to ComfyUI's V3 schema.  The V3 view (GET_NODE_INFO_V1) differs in shape
only, and `contract` maps both to one form: a combo is ("COMBO", {"multiselect": False,
"options": [...]}) instead of ([...], {}); output_tooltips is always there (None where unset)
while a V1 node without OUTPUT_TOOLTIPS had no key; deprecated / experimental / api_node are
there when False; python_module depends on where the pack is installed and is left out.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from posenc_lab.workflow_format import combo_options

RECORD = Path(__file__).resolve().parent / "fixtures" / "node_contract_v1.json"


def recorded() -> dict:
    return json.loads(RECORD.read_text())["nodes"]


def contract(info: dict) -> dict:
    info = json.loads(json.dumps(info))     # tuples -> lists, str subclasses -> str
    inputs = {}
    for section, spec in info["input"].items():
        for name, entry in spec.items():
            typ, opts = entry[0], dict(entry[1]) if len(entry) > 1 else {}
            if typ == "COMBO" or isinstance(typ, list):
                typ = ["COMBO", combo_options(typ, opts)]
                opts.pop("options", None)
                if opts.get("multiselect") is False:
                    opts.pop("multiselect")
            inputs[f"{section}/{name}"] = [typ, opts]
    n = len(info["output"])
    return {
        "input": inputs,
        "input_order": info["input_order"],
        "output": info["output"],
        "output_name": info["output_name"],
        "output_is_list": info["output_is_list"],
        "output_tooltips": info.get("output_tooltips") or [None] * n,
        **{k: info[k] for k in ("name", "display_name", "description", "category", "output_node")},
        "flags": sorted(k for k in ("deprecated", "experimental", "api_node") if info.get(k)),
    }


@pytest.fixture
def no_model_files(monkeypatch):
    """folder_paths listing no model files, so the DiT loader's dit_name lists the bundled DiTs
    only, as when the record was made (ComfyUI's folder_paths may see the user's models)."""
    import folder_paths
    monkeypatch.setattr(folder_paths, "get_filename_list", lambda folder: [])
