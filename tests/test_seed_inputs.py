"""No input of the pack gets the frontend's "control after generate: randomize" widget (issue #15).

ComfyUI's frontend adds that widget, defaulting to randomize, to every INT input whose spec sets
control_after_generate, and to every INT input named ``seed`` or ``noise_seed`` whose spec does
not say otherwise (frontend 1.27, useIntWidget).  A randomized jitter seed changes PBC's result
and re-runs the DiT loader on every queue, so the pack's seeds are named ``jitter_seed`` and
``position_seed``; js/saved_values.js loads workflows saved with the old names.
"""
from __future__ import annotations

import json
from pathlib import Path

from conftest import registered_nodes

ROOT = Path(__file__).resolve().parents[1]


def _randomized_by_frontend(name: str, spec: list) -> bool:
    typ, opts = spec[0], (spec[1] if len(spec) > 1 else {})
    if typ != "INT":
        return False
    flag = opts.get("control_after_generate")
    return bool(flag) if flag is not None else name in ("seed", "noise_seed")


def test_no_input_of_the_pack_gets_a_randomize_control(pack):
    found = []
    for node_id, (cls, _) in registered_nodes(pack).items():
        info = json.loads(json.dumps(cls.GET_NODE_INFO_V1()))
        for section in info["input"].values():
            for name, spec in section.items():
                if _randomized_by_frontend(name, spec):
                    found.append(f"{node_id}.{name}")
    assert found == []


def test_the_rule_flags_what_the_frontend_randomizes():
    assert _randomized_by_frontend("seed", ["INT", {"default": 0}])
    assert _randomized_by_frontend("noise_seed", ["INT", {}])
    assert _randomized_by_frontend("x", ["INT", {"control_after_generate": True}])
    assert not _randomized_by_frontend("seed", ["INT", {"control_after_generate": False}])
    assert not _randomized_by_frontend("jitter_seed", ["INT", {}])


def test_renamed_seeds_match_the_js_rename_table(pack):
    """js/saved_values.js names the new inputs; they must be the nodes' real input names."""
    text = (ROOT / "js" / "saved_values.js").read_text()
    nodes = registered_nodes(pack)
    for node_id, new in (("PBCModelPatcher", "jitter_seed"), ("BoundaryVisualizer", "jitter_seed"),
                         ("RPE2DDiTLoader", "position_seed")):
        assert f'{node_id}: ["seed", "{new}"]' in text
        info = nodes[node_id][0].GET_NODE_INFO_V1()
        assert new in info["input"]["required"] and "seed" not in info["input"]["required"]
