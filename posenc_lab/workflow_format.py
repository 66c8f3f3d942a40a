"""ComfyUI's two workflow formats: converting a saved (UI) workflow to an API prompt, for the
workflow tests and tools/make_workflows.py.

UI format (what the web UI saves, what workflows/*.json hold): ``nodes`` with ``id``, ``type``,
``inputs`` (the sockets; ``link`` is a link id or null), ``outputs`` (``links``: link ids) and
``widgets_values`` (the widget values in the order the frontend creates the widgets), plus
``links`` as ``[link_id, origin_id, origin_slot, target_id, target_slot, type]``.

API format (what POST /prompt takes): ``{node_id: {"class_type": ..., "inputs": {name: value or
[origin_id, origin_slot]}}}``.

The frontend creates one widget per input whose type is a widget type (INT, FLOAT, STRING,
BOOLEAN, or COMBO: a list of choices in V1 nodes' specs, ``"COMBO"`` with ``options`` in V3
ones), in the order of the node's declared inputs (required, then optional), unless the input
is ``forceInput``.  An INT input with ``control_after_generate`` (or, by the frontend's legacy
rule, an INT named ``seed`` or ``noise_seed`` without the flag) gets a second widget, "control
after generate" (fixed / increment / decrement / randomize), whose value follows it in
``widgets_values`` but is never sent to the backend.
"""
from __future__ import annotations

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
# Nodes that exist only in the frontend (never sent to the backend).
FRONTEND_ONLY = ("Note", "MarkdownNote")
# Bypassed (4) and muted (2) nodes are not executed.
SKIPPED_MODES = (2, 4)


def input_specs(node_info: dict) -> list[tuple[str, object, dict, bool]]:
    """(name, type, options, required) of a node's declared inputs in the frontend's order.
    ``node_info`` is one entry of /object_info (or the same shape); type is a string or a list
    (V1 COMBO choices; see combo_options)."""
    out = []
    order = node_info.get("input_order") or {}
    for section in ("required", "optional"):
        spec = node_info.get("input", {}).get(section, {}) or {}
        names = order.get(section) or list(spec)
        for name in names:
            entry = spec[name]
            typ = entry[0]
            opts = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            out.append((name, typ, opts, section == "required"))
    return out


def kind(typ) -> str:
    """INT / FLOAT / STRING / BOOLEAN / COMBO for widget inputs, the socket type otherwise."""
    if isinstance(typ, list):
        return "COMBO"
    return typ


def combo_options(typ, opts) -> list:
    """The choices of a COMBO input: V1 specs give them as the type, V3 specs as opts["options"]."""
    return list(typ) if isinstance(typ, list) else list(opts.get("options") or [])


def is_widget(typ, opts) -> bool:
    return kind(typ) in WIDGET_TYPES and not opts.get("forceInput", False)


def has_control(name, typ, opts) -> bool:
    if kind(typ) != "INT":
        return False
    flag = opts.get("control_after_generate")
    if flag is None:
        return name in ("seed", "noise_seed")
    return bool(flag)


def widget_slots(node_info: dict) -> list[tuple[str, object, dict] | None]:
    """One entry per value in widgets_values: (name, type, options), or None for a
    control-after-generate value."""
    slots = []
    for name, typ, opts, _ in input_specs(node_info):
        if not is_widget(typ, opts):
            continue
        slots.append((name, typ, opts))
        if has_control(name, typ, opts):
            slots.append(None)
    return slots


def widget_values(node: dict, node_info: dict) -> dict:
    """{input name: value} of a UI node's widgets; raises ValueError if the count is wrong."""
    values = node.get("widgets_values") or []
    if isinstance(values, dict):   # some nodes save a dict keyed by name
        return dict(values)
    slots = widget_slots(node_info)
    if len(values) != len(slots):
        raise ValueError(f"node {node['id']} ({node['type']}): {len(values)} widget values, "
                         f"expected {len(slots)} ({[s[0] if s else 'control' for s in slots]})")
    return {slot[0]: v for slot, v in zip(slots, values) if slot is not None}


def control_values(node: dict, node_info: dict) -> list:
    """The control-after-generate values of a UI node."""
    values = node.get("widgets_values") or []
    return [v for slot, v in zip(widget_slots(node_info), values) if slot is None]


def to_api(workflow: dict, object_info: dict) -> dict:
    """The API-format prompt of a UI-format workflow (frontend-only, muted and bypassed nodes
    left out; a bypassed node in a chain is not supported and raises)."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY or node.get("mode", 0) in SKIPPED_MODES:
            continue
        info = object_info.get(node["type"])
        if info is None:
            raise ValueError(f"node {node['id']}: unknown node type {node['type']!r}")
        inputs = widget_values(node, info)
        for sock in node.get("inputs", []):
            if sock.get("link") is None:
                continue
            _, origin, origin_slot, _, _, _ = links[sock["link"]]
            if nodes[origin].get("mode", 0) in SKIPPED_MODES:
                raise ValueError(f"node {node['id']}: input {sock['name']} comes from a skipped node")
            inputs[sock["name"]] = [str(origin), origin_slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
