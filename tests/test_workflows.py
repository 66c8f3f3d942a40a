"""The example workflows (example_workflows/*.json, ComfyUI's UI format) against the nodes they use.

No ComfyUI needed: core node specs come from the records tests/fixtures/core_nodes*.json (each
recorded from a real ComfyUI's /object_info by tools/update_core_nodes.py: 0.3.64 and 0.33.0), the
pack's from its nodes' schemas (the /object_info entry ComfyUI derives from them, GET_NODE_INFO_V1).
Each workflow is checked against every record that has all its node types (read from the record,
never from its version number): the older workflows against both, Flux.2's against 0.33.0 only.  Every workflow must still
convert to the API prompt recorded before the nodes moved to the V3 schema
(tests/fixtures/workflow_prompts.json).  The host test tests/host/test_host_workflows.py runs the
CPU workflows in real ComfyUI.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import math
import re
from pathlib import Path

import pytest

from conftest import registered_nodes
from posenc_lab import workflow_views
from posenc_lab.workflow_format import (CONTROL_VALUES, FRONTEND_ONLY, combo_options, input_specs, is_widget,
                                        kind, to_api, widget_slots)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))
FIXTURES = ROOT / "tests" / "fixtures"
CORE = json.loads((FIXTURES / "core_nodes.json").read_text())          # ComfyUI 0.3.64, the first record
# Every record, the first one first: {file name: record}.
RECORDS = {p.name: json.loads(p.read_text()) for p in
           [FIXTURES / "core_nodes.json", *sorted(set(FIXTURES.glob("core_nodes*.json")) - {FIXTURES / "core_nodes.json"})]}
NEWEST = "core_nodes_0.33.0.json"
PROMPTS = json.loads((ROOT / "tests" / "fixtures" / "workflow_prompts.json").read_text())["prompts"]
# Workflows that run on a CPU with what the pack ships; their thumbnails are pictures of their real
# output (POSENC_RENDER_THUMBNAILS=1 with tests/host/test_host_workflows.py); the others' are
# diagrams of the graph (tools/make_diagrams.py).
REFERENCE = "01 CPU, reference UNet at 4x, direct vs PBC vs redilation"
FLUX2 = "13 GPU, Flux.2 dev at 2048x2048, plain vs position mode"
CPU_WORKFLOWS = {REFERENCE, "02 CPU, tiny DiTs at 2x, vanilla vs RPE2D",
                 "04 CPU, reference UNet hires fix at 2x, with and without PBC",
                 "03 CPU, Boundary Visualizer, where PBC puts its boundaries"}
RENDERED = CPU_WORKFLOWS
# Combo inputs whose choices are the user's model files: any file name is valid there.
MODEL_FILE_INPUTS = {("CheckpointLoaderSimple", "ckpt_name"), ("VAELoader", "vae_name"),
                     ("RPE2DDiTLoader", "dit_name"), ("UNETLoader", "unet_name"), ("CLIPLoader", "clip_name"),
                     ("DualCLIPLoader", "clip_name1"), ("DualCLIPLoader", "clip_name2"),
                     ("TripleCLIPLoader", "clip_name1"), ("TripleCLIPLoader", "clip_name2"),
                     ("TripleCLIPLoader", "clip_name3")}
MODEL_FILE_SUFFIXES = (".safetensors", ".sft", ".pt", ".pth", ".ckpt", ".bin")


def pack_specs(pack) -> dict:
    """The pack's entries of /object_info, as ComfyUI's server makes them from the nodes' schemas."""
    return {name: json.loads(json.dumps(cls.GET_NODE_INFO_V1()))
            for name, (cls, _) in registered_nodes(pack).items()}


def core_types(wf: dict, ours) -> set:
    """The core node types a workflow uses (not frontend-only, not the pack's)."""
    return {n["type"] for n in wf["nodes"]} - set(FRONTEND_ONLY) - set(ours)


def records_for(wf: dict, ours) -> list[str]:
    """The records a workflow is checked against: every one that has all its node types."""
    types = core_types(wf, ours)
    return [name for name, rec in RECORDS.items() if types <= set(rec["core_node_names"])]


def record_specs(name: str, ours) -> dict:
    return {**RECORDS[name]["nodes"], **ours}


@pytest.fixture(scope="module")
def ours(pack):
    ours = pack_specs(pack)
    for name, rec in RECORDS.items():
        assert not set(ours) & set(rec["core_node_names"]), f"a pack node shadows a core node of {name}"
    return ours


@pytest.fixture(scope="module")
def specs(ours):
    """One /object_info for reading the workflows: each core node type from the first record that
    has it (as tools/make_workflows.py builds them), and the pack's."""
    core = {}
    for rec in RECORDS.values():
        for name, spec in rec["nodes"].items():
            core.setdefault(name, spec)
    return {**core, **ours}


def _value_problem(node_type, name, typ, opts, value):
    k = kind(typ)
    if k == "COMBO":
        choices = combo_options(typ, opts)
        if (node_type, name) in MODEL_FILE_INPUTS and value not in choices:
            return None if str(value).endswith(MODEL_FILE_SUFFIXES) or value == "pixel_space" \
                else f"{value!r} is not a model file name"
        return None if value in choices else f"{value!r} not in {choices}"
    if k == "INT":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{value!r} is not an integer"
    elif k == "FLOAT":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return f"{value!r} is not a number"
    elif k == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    elif k == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if "min" in opts and value < opts["min"]:
        return f"{value} < min {opts['min']}"
    if "max" in opts and value > opts["max"]:
        return f"{value} > max {opts['max']}"
    return None


def problems(wf: dict, specs: dict) -> list[str]:
    """Everything wrong with a UI-format workflow, as readable lines (empty = fine)."""
    out = []
    if wf.get("version") != 0.4:
        out.append(f"version {wf.get('version')!r}, expected 0.4")
    if "id" in wf and not isinstance(wf["id"], str):   # the frontend's schema: a UUID string
        out.append(f"workflow id {wf['id']!r} is not a string")
    nodes = {}
    for n in wf.get("nodes", []):
        if n["id"] in nodes:
            out.append(f"node id {n['id']} used twice")
        nodes[n["id"]] = n
    links = {}
    for link in wf.get("links", []):
        if len(link) != 6:
            out.append(f"link {link}: expected [id, origin, origin_slot, target, target_slot, type]")
            continue
        if link[0] in links:
            out.append(f"link id {link[0]} used twice")
        links[link[0]] = link
    if nodes and wf.get("last_node_id", 0) < max(nodes):
        out.append("last_node_id is below the largest node id")
    if links and wf.get("last_link_id", 0) < max(links):
        out.append("last_link_id is below the largest link id")

    for lid, (_, src, src_slot, dst, dst_slot, typ) in links.items():
        where = f"link {lid}"
        if src not in nodes or dst not in nodes:
            out.append(f"{where}: node {src if src not in nodes else dst} does not exist")
            continue
        outs, ins = nodes[src].get("outputs", []), nodes[dst].get("inputs", [])
        if not 0 <= src_slot < len(outs):
            out.append(f"{where}: origin slot {src_slot} of node {src} does not exist")
            continue
        if not 0 <= dst_slot < len(ins):
            out.append(f"{where}: target slot {dst_slot} of node {dst} does not exist")
            continue
        if lid not in (outs[src_slot].get("links") or []):
            out.append(f"{where}: not in node {src}'s output {src_slot} links")
        if ins[dst_slot].get("link") != lid:
            out.append(f"{where}: node {dst}'s input {dst_slot} points to {ins[dst_slot].get('link')}")
        if not (typ == outs[src_slot]["type"] == ins[dst_slot]["type"]):
            out.append(f"{where}: types {outs[src_slot]['type']} -> {typ} -> {ins[dst_slot]['type']}")

    for n in nodes.values():
        where = f"node {n['id']} ({n['type']})"
        for sock in n.get("inputs", []):
            if sock.get("link") is not None and sock["link"] not in links:
                out.append(f"{where}: input {sock['name']} points to missing link {sock['link']}")
        for o in n.get("outputs", []):
            for lid in o.get("links") or []:
                if lid not in links or links[lid][1] != n["id"]:
                    out.append(f"{where}: output {o['name']} lists link {lid} that is not its own")
        if n["type"] in FRONTEND_ONLY:
            continue
        info = specs.get(n["type"])
        if info is None:
            out.append(f"{where}: neither a core node type (tests/fixtures/core_nodes.json) nor "
                       "one of the pack's")
            continue
        sockets = [(name, typ) for name, typ, opts, _ in input_specs(info) if not is_widget(typ, opts)]
        got = [(s["name"], s["type"]) for s in n.get("inputs", []) if s.get("widget") is None]
        if got != sockets:
            out.append(f"{where}: input sockets {got}, the node declares {sockets}")
        for name, typ, opts, req in input_specs(info):
            if req and not is_widget(typ, opts) and not any(
                    s["name"] == name and s.get("link") is not None for s in n.get("inputs", [])):
                out.append(f"{where}: required input {name} is not connected")
        # An output node saved by an older ComfyUI may have none of the outputs a newer one declares
        # (SaveImage and SaveWEBM gained an IMAGE output between 0.3.64 and 0.33.0): the frontends load
        # it as saved, and nothing can link from an output it does not have (the link checks above).
        want_out = list(zip(info.get("output_name") or info["output"], info["output"]))
        got_out = [(o["name"], o["type"]) for o in n.get("outputs", [])]
        if [t for _, t in got_out] != [t for _, t in want_out] and not (got_out == [] and info.get("output_node")):
            out.append(f"{where}: outputs {got_out}, the node declares {want_out}")
        values = n.get("widgets_values") or []
        slots = widget_slots(info)
        if len(values) != len(slots):
            out.append(f"{where}: {len(values)} widget values for {len(slots)} widgets "
                       f"{[s[0] if s else 'control_after_generate' for s in slots]}")
            continue
        for slot, value in zip(slots, values):
            if slot is None:
                if value not in CONTROL_VALUES:
                    out.append(f"{where}: control_after_generate {value!r} not in {CONTROL_VALUES}")
                continue
            name, typ, opts = slot
            bad = _value_problem(n["type"], name, typ, opts, value)
            if bad:
                out.append(f"{where}: {name} = {bad}")
        for model in n.get("properties", {}).get("models", []):
            if model.get("name") not in values or not str(model.get("url", "")).startswith("https://"):
                out.append(f"{where}: properties.models entry {model} does not match a widget value "
                           "or has no https url")
    return out


def _load(path):
    return json.loads(path.read_text())


def test_there_are_workflows():
    names = {p.stem for p in WORKFLOWS}
    assert CPU_WORKFLOWS <= names and RENDERED <= CPU_WORKFLOWS
    assert set(POSITION_MODE_WORKFLOWS) <= names
    assert len(names) >= 9


# File names are the titles ComfyUI 0.3.64 shows under Browse Templates: numbered, CPU first, no
# - or _ (the frontend turns them into spaces in the description), see tools/make_workflows.py.
TITLE = re.compile(r"^(\d\d) (CPU|GPU), [^-_]+$")


def test_names_are_numbered_titles_cpu_first():
    titles = [(p.stem, TITLE.match(p.stem)) for p in WORKFLOWS]
    assert [stem for stem, m in titles if not m] == []
    numbers = [int(m[1]) for _, m in titles]
    assert len(set(numbers)) == len(numbers), "two workflows share a number"
    cpu = [int(m[1]) for stem, m in titles if m[2] == "CPU"]
    gpu = [int(m[1]) for stem, m in titles if m[2] == "GPU"]
    assert max(cpu) < min(gpu), "a GPU workflow is numbered before a CPU one"
    assert {stem for stem, m in titles if m[2] == "CPU"} == CPU_WORKFLOWS


# The first views a user gets (posenc_lab/workflow_views.py; tests/host/browser_workflows.mjs
# measures the same in the real frontends): opened as a file, the stored view (extra.ds) in
# frontend 1.27's canvas and in 1.49/1.58's (which fills the window under their toolbars); opened
# from Browse Templates, 1.49/1.58's fitted view.  Every node with its title bar in sight, at a zoom
# with text, none under a toolbar or the minimap, none overlapping; every title (a node's own, or
# its type's display name) as wide as its node allows in every frontend and renderer (wider, the
# frontend cuts it short), and every note tall enough for its text (shorter, it scrolls), by the
# fonts measured in the real frontends (posenc_lab/frontend_text.json).
def shown_title(n: dict, specs: dict) -> str:
    return n.get("title") or (specs.get(n["type"]) or {}).get("display_name") or n["type"]


def text_problems(wf: dict, specs: dict) -> list[str]:
    out = []
    for n in wf["nodes"]:
        title = shown_title(n, specs)
        if workflow_views.title_width(title) > n["size"][0]:
            out.append(f"node {n['id']}: title {title!r} needs {workflow_views.title_width(title):.0f} px, "
                       f"the node is {n['size'][0]}")
        if n["type"] == "Note":
            need = workflow_views.note_height(n["widgets_values"][0], n["size"][0])
            if need > n["size"][1]:
                out.append(f"node {n['id']}: the note's text needs {need} px of height, it has {n['size'][1]}")
    return out


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_first_views_show_every_node_with_text(path, specs):
    wf = _load(path)
    assert workflow_views.problems(wf) == []
    assert wf["extra"]["ds"] == workflow_views.stored_view(wf)
    assert text_problems(wf, specs) == []


def test_text_checks_can_fail(specs):
    """The cases the real frontends showed: 'VAE Decode: FreeU_V2 + PBC' on a 250 px node (cut short
    in the classic canvas of 1.27, 1.49 and 1.58: 195-198 px of text, 190 px of room), and workflow
    01's note at 220 px under Nodes 2.0 (its last line scrolled out of sight, 21 px short)."""
    wf = _load(ROOT / "example_workflows" / "05 GPU, SD 1.5 at 1024x1024, FreeU V2 with and without PBC.json")
    cut = copy.deepcopy(wf)
    decode = next(n for n in cut["nodes"] if n.get("title") == "VAE Decode: FreeU_V2 + PBC")
    decode["size"][0] = 250
    assert any("needs" in p and "VAE Decode: FreeU_V2 + PBC" in p for p in text_problems(cut, specs))
    ref = copy.deepcopy(_load(ROOT / "example_workflows" / f"{REFERENCE}.json"))
    note = next(n for n in ref["nodes"] if n["type"] == "Note")
    assert note["size"] == [660, 249]
    note["size"][1] = 220
    assert any("the note's text needs" in p for p in text_problems(ref, specs))
    untitled = copy.deepcopy(ref)        # a display name counts as the title of an untitled node
    pbc = next(n for n in untitled["nodes"] if n["type"] == "PBCModelPatcher")
    pbc["size"][0] = 200
    assert any("PBC Model Patcher" in p for p in text_problems(untitled, specs))


def test_note_height_follows_the_measured_line_breaks():
    """The wrapping rule against hand-counted cases: in a 10-character box, words move whole to the
    next line, a word longer than the box is broken, an empty line counts."""
    m = {"widths": [6.0] * 95}
    assert workflow_views.wrapped_lines("aaaa bbbb", 10 * 6.0 * 1.01, m) == 1
    assert workflow_views.wrapped_lines("aaaa bbbb cc", 10 * 6.0 * 1.01, m) == 2
    assert workflow_views.wrapped_lines("a" * 25, 10 * 6.0 * 1.01, m) == 3
    assert workflow_views.wrapped_lines("aa\n\nbb", 10 * 6.0 * 1.01, m) == 3


def test_layout_check_can_fail():
    wf = _load(WORKFLOWS[-1])
    problems = workflow_views.problems
    moved = copy.deepcopy(wf)
    moved["nodes"][1]["pos"] = list(moved["nodes"][2]["pos"])
    assert any("overlaps" in p for p in problems(moved))
    far = copy.deepcopy(wf)
    far["nodes"][0]["pos"][0] -= 5000
    assert any("out of view" in p for p in problems(far))
    corner = copy.deepcopy(wf)
    s, (ox, oy) = wf["extra"]["ds"]["scale"], wf["extra"]["ds"]["offset"]
    corner["nodes"].append({"id": 999, "type": "Note", "pos": [1400 / s - ox, 800 / s - oy], "size": [100, 60]})
    assert any("minimap" in p for p in problems(corner))
    under_menu = copy.deepcopy(wf)
    under_menu["extra"]["ds"]["offset"][1] -= 100 / s
    assert any("1.49/1.58, opened as a file" in p and "under the" in p for p in problems(under_menu))
    low = copy.deepcopy(wf)                  # a KSampler half out of its group
    ks = next(n for n in low["nodes"] if n["type"] == "KSampler")
    ks["pos"][1] += 200
    assert any(f"node {ks['id']} (KSampler) crosses the edge of group" in p for p in problems(low))
    small = copy.deepcopy(wf)
    small["extra"]["ds"]["scale"] = 0.5
    assert any("no text" in p for p in problems(small))
    wide = copy.deepcopy(wf)                 # spread out: the fitted view of 1.49/1.58 loses its text
    for n in wide["nodes"]:
        n["pos"][0] *= 1.4
    assert any("Browse Templates: zoom" in p for p in problems(wide))


# The position-mode workflows load the checkpoint once and compare modes with one DiT Position
# Mode node per mode on that MODEL (issue #13): workflow -> (modes, latent width, height).
POSITION_MODE_WORKFLOWS = {
    "08 GPU, DiT XL2 256 at 512, position modes": (["first", "interpolate", "ntk"], 512, 512),
    "09 GPU, Flux dev at 2048x2048, position modes": (["first", "interpolate", "ntk", "yarn"], 2048, 2048),
    "10 GPU, SD3.5 Large at 2048x2048, position modes": (["first", "interpolate", "ntk", "yarn"], 2048, 2048),
}
MODEL_LOADERS = {"RPE2DDiTLoader", "UNETLoader", "CheckpointLoaderSimple"}


@pytest.mark.parametrize("name", sorted(POSITION_MODE_WORKFLOWS))
def test_position_mode_workflows_load_once_and_sample_each_mode(name, specs):
    modes, width, height = POSITION_MODE_WORKFLOWS[name]
    prompt = to_api(_load(ROOT / "example_workflows" / f"{name}.json"), specs)
    loaders = [k for k, n in prompt.items() if n["class_type"] in MODEL_LOADERS]
    assert len(loaders) == 1, "the checkpoint is loaded once"
    pm = {k: n for k, n in prompt.items() if n["class_type"] == "DiTPositionMode"}
    assert sorted(n["inputs"]["mode"] for n in pm.values()) == sorted(modes)
    assert all(n["inputs"]["model"] == [loaders[0], 0] and n["inputs"]["base_resolution"] == 0
               for n in pm.values())
    samplers = [n for n in prompt.values() if n["class_type"] == "KSampler"]
    assert sorted(s["inputs"]["model"][0] for s in samplers) == sorted(pm), "one sampler per mode"
    assert len({json.dumps({k: v for k, v in s["inputs"].items() if k != "model"}) for s in samplers}) == 1, \
        "the samplers differ only in their model"
    latent = prompt[samplers[0]["inputs"]["latent_image"][0]]["inputs"]
    assert (latent["width"], latent["height"]) == (width, height)


# Plain vs the recommended position mode on the DiTs people run now (issue 31 E): workflow -> (the core
# noise-schedule shift node of the family, as its ComfyUI template uses it; latent width, height).
PAIR_WORKFLOWS = {
    "11 GPU, Z Image Turbo at 2048x2048, plain vs position mode": ("ModelSamplingAuraFlow", 2048, 2048),
    "12 GPU, Qwen Image at 2048x2048, plain vs position mode": ("ModelSamplingAuraFlow", 2048, 2048),
    FLUX2: ("Flux2Scheduler", 2048, 2048),
    "14 GPU, WAN 2.2 5B video at 1920x1056, plain vs position mode": ("ModelSamplingSD3", 1920, 1056),
}


def _branches(prompt: dict) -> dict:
    """{decode node id: (sampler id, the MODEL the sampler samples)} of a plain-vs-mode workflow."""
    out = {}
    for nid, n in prompt.items():
        if n["class_type"] != "VAEDecode":
            continue
        sampler = n["inputs"]["samples"][0]
        s = prompt[sampler]
        model = s["inputs"]["model"][0] if "model" in s["inputs"] else prompt[s["inputs"]["guider"][0]]["inputs"]["model"][0]
        out[nid] = (sampler, model)
    return out


def pair_problems(wf: dict, specs: dict, ours: dict, shift: str, width: int, height: int) -> list[str]:
    """What is wrong with a plain-vs-mode workflow: one load; the family's shift node on the loaded
    model (Flux2Scheduler: the sigmas, at the latent's size); two samplers that differ only in their
    model, the plain one and one DiT Position Mode in the node's default mode with base_resolution 0;
    their pictures stitched plain left."""
    prompt = to_api(wf, specs)
    by = {}
    for nid, n in prompt.items():
        by.setdefault(n["class_type"], []).append(nid)
    out = []
    loaders, pms, shifts = by.get("UNETLoader", []), by.get("DiTPositionMode", []), by.get(shift, [])
    if len(loaders) != 1 or len(pms) != 1 or len(shifts) != 1:
        return [f"{len(loaders)} loaders, {len(pms)} DiT Position Mode nodes, {len(shifts)} {shift} nodes; want one each"]
    pm = prompt[pms[0]]["inputs"]
    default = ours["DiTPositionMode"]["input"]["required"]["mode"][1]["default"]
    if pm["mode"] != default or pm["base_resolution"] != 0:
        out.append(f"DiT Position Mode {pm['mode']}, base_resolution {pm['base_resolution']}; want {default}, 0")
    latent = next(prompt[i]["inputs"] for t in LATENTS for i in by.get(t, []))
    if (latent["width"], latent["height"]) != (width, height):
        out.append(f"latent {latent['width']}x{latent['height']}, want {width}x{height}")
    sh = prompt[shifts[0]]["inputs"]
    if shift == "Flux2Scheduler":
        source = loaders[0]
        if (sh["width"], sh["height"]) != (width, height):
            out.append(f"Flux2Scheduler at {sh['width']}x{sh['height']}, the image is {width}x{height}")
    else:
        source = shifts[0]
        if sh["model"][0] != loaders[0]:
            out.append(f"{shift} is not on the loaded model")
    if pm["model"][0] != source:
        out.append("DiT Position Mode is not on the model the plain branch samples")
    branches = _branches(prompt)
    if sorted(m for _, m in branches.values()) != sorted([source, pms[0]]):
        out.append(f"the samplers sample {sorted(m for _, m in branches.values())}, want the plain model and the mode's")
    samplers = [prompt[s]["inputs"] for s, _ in branches.values()]
    same = [{k: v for k, v in s.items() if k not in ("model", "guider")} for s in samplers]
    if len(same) != 2 or same[0] != same[1]:
        out.append("the two samplers differ in more than their model")
    if shift == "Flux2Scheduler" and any(s["sigmas"][0] != shifts[0] for s in samplers):
        out.append("a sampler does not take Flux2Scheduler's sigmas")
    for st in by.get("ImageStitch", []):
        left, right = (prompt[st]["inputs"][k][0] for k in ("image1", "image2"))
        if (branches.get(left, (0, 0))[1], branches.get(right, (0, 0))[1]) != (source, pms[0]):
            out.append("the side-by-side picture is not plain | mode")
    return out


@pytest.mark.parametrize("name", sorted(PAIR_WORKFLOWS))
def test_plain_vs_mode_workflows_differ_in_the_position_mode_only(name, specs, ours):
    assert pair_problems(_load(ROOT / "example_workflows" / f"{name}.json"), specs, ours, *PAIR_WORKFLOWS[name]) == []


def test_plain_vs_mode_check_can_fail(specs, ours):
    args = PAIR_WORKFLOWS[FLUX2]
    wf = _load(ROOT / "example_workflows" / f"{FLUX2}.json")
    by = {n["type"]: n for n in wf["nodes"]}
    for edit, expect in [
            (lambda by: by["Flux2Scheduler"]["widgets_values"].__setitem__(1, 1024), "Flux2Scheduler at 1024x2048"),
            (lambda by: by["DiTPositionMode"]["widgets_values"].__setitem__(0, "ntk"), "DiT Position Mode ntk"),
            (lambda by: by["DiTPositionMode"]["widgets_values"].__setitem__(1, 1024), "base_resolution 1024"),
            (lambda by: by["EmptyFlux2LatentImage"]["widgets_values"].__setitem__(0, 1024), "latent 1024x2048")]:
        changed = copy.deepcopy(wf)
        edit({n["type"]: n for n in changed["nodes"]})
        found = pair_problems(changed, specs, ours, *args)
        assert any(expect in p for p in found), (expect, found)
    z = "11 GPU, Z Image Turbo at 2048x2048, plain vs position mode"
    assert "0 ModelSamplingSD3 nodes" in pair_problems(_load(ROOT / "example_workflows" / f"{z}.json"), specs, ours,
                                                          "ModelSamplingSD3", 2048, 2048)[0]
    swapped = copy.deepcopy(_load(ROOT / "example_workflows" / f"{z}.json"))
    stitch = next(n for n in swapped["nodes"] if n["type"] == "ImageStitch")
    a, b = (lk for lk in swapped["links"] if lk[3] == stitch["id"])
    a[1], b[1] = b[1], a[1]
    assert "not plain | mode" in " ".join(pair_problems(swapped, specs, ours, *PAIR_WORKFLOWS[z]))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_is_consistent_with_every_comfyui_that_has_its_nodes(path, ours):
    wf = _load(path)
    chosen = records_for(wf, ours)
    assert chosen, f"no recorded ComfyUI has all of {sorted(core_types(wf, ours))}: record one " \
                   "(tools/update_core_nodes.py)"
    for name in chosen:
        assert problems(wf, record_specs(name, ours)) == [], name


def test_records_are_chosen_by_the_node_types_they_have(ours):
    """Feature detection from the records' content: the older workflows are checked against
    ComfyUI 0.3.64's record (and 0.33.0's), Flux.2's only against 0.33.0's (0.3.64 has no
    EmptyFlux2LatentImage or Flux2Scheduler), and a workflow with a node type no record has against
    none."""
    by_name = {p.stem: records_for(_load(p), ours) for p in WORKFLOWS}
    for stem, chosen in by_name.items():
        if int(stem[:2]) <= 10:
            assert "core_nodes.json" in chosen, stem
        assert NEWEST in chosen, stem
    flux2 = _load(ROOT / "example_workflows" / f"{FLUX2}.json")
    assert records_for(flux2, ours) == [NEWEST]
    assert {"EmptyFlux2LatentImage", "Flux2Scheduler"} <= core_types(flux2, ours) - set(CORE["core_node_names"])
    unknown = copy.deepcopy(flux2)
    unknown["nodes"][0]["type"] = "NoSuchNode"
    assert records_for(unknown, ours) == []


def test_output_check_can_fail(ours):
    wf = copy.deepcopy(_load(ROOT / "example_workflows" / f"{REFERENCE}.json"))
    save = next(n for n in wf["nodes"] if n["type"] == "SaveImage")
    save["outputs"] = [{"name": "images", "type": "LATENT", "links": []}]
    assert any("outputs" in p for p in problems(wf, record_specs(NEWEST, ours)))
    assert any("outputs" in p for p in problems(wf, record_specs("core_nodes.json", ours))), \
        "0.3.64's SaveImage declares no output"
    decode = next(n for n in wf["nodes"] if n["type"] == "VAEDecode")
    decode["outputs"] = []
    assert any("VAEDecode" in p and "outputs" in p for p in problems(wf, record_specs(NEWEST, ours)))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_converts_to_api_format(path, specs):
    wf = _load(path)
    prompt = to_api(wf, specs)
    runnable = [n for n in wf["nodes"] if n["type"] not in FRONTEND_ONLY]
    assert len(prompt) == len(runnable)
    for nid, node in prompt.items():
        info = specs[node["class_type"]]
        required = info["input"].get("required", {})
        assert set(required) <= set(node["inputs"]), f"node {nid}: missing {set(required) - set(node['inputs'])}"
        for name, value in node["inputs"].items():
            if isinstance(value, list):     # a link: [origin id, slot] of a node in the prompt
                assert value[0] in prompt and isinstance(value[1], int)
    assert any(specs[n["class_type"]].get("output_node") for n in prompt.values()), "no output node"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_converts_to_the_prompt_it_did_before_v3(path, specs):
    """A saved workflow means what it meant with the V1 nodes: same node types, input names,
    widget values and links in the API prompt."""
    if path.stem not in PROMPTS:
        pytest.skip("added after the V3 move: no recorded prompt")
    assert to_api(_load(path), specs) == PROMPTS[path.stem]


def test_recorded_workflows_are_all_still_there():
    assert set(PROMPTS) <= {p.stem for p in WORKFLOWS}


def test_core_node_records_are_up_to_date(ours):
    """Each record holds the specs of exactly the core node types the workflows use that its
    ComfyUI has (tools/update_core_nodes.py writes them so)."""
    used = {t for p in WORKFLOWS for t in core_types(_load(p), ours)}
    for name, rec in RECORDS.items():
        assert set(rec["nodes"]) == used & set(rec["core_node_names"]), \
            f"{name}: run tools/update_core_nodes.py for its ComfyUI after adding core nodes"
        assert rec["comfyui_version"]


# The folders ComfyUI's loaders read their files from (folder_paths names; RPE2DDiTLoader's come
# from the pack).  The frontend names a missing model file with its node's properties.models entry
# (name, directory, url): 1.27's Missing Models dialog lists only files that have one, 1.49 and
# 1.58 list the others as "Unknown", without a folder or a download.
LOADER_FOLDERS = {"CheckpointLoaderSimple": ("checkpoints",), "VAELoader": ("vae",),
                  "UNETLoader": ("diffusion_models",), "DualCLIPLoader": ("text_encoders",),
                  "TripleCLIPLoader": ("text_encoders",), "CLIPLoader": ("text_encoders",)}


def undeclared_models(wf: dict, specs: dict, pack) -> list[str]:
    """Model files the workflow's loaders name that the pack does not ship and that have no
    properties.models entry with the file's name, a folder the loader reads and an https url."""
    folders = {**LOADER_FOLDERS, "RPE2DDiTLoader": tuple(pack.nodes.rpe2d_loader.FOLDERS)}
    out = []
    for n in wf["nodes"]:
        if n["type"] in FRONTEND_ONLY:
            continue
        declared = {m.get("name"): m for m in n.get("properties", {}).get("models", [])}
        for slot, value in zip(widget_slots(specs[n["type"]]), n.get("widgets_values") or []):
            if slot is None or (n["type"], slot[0]) not in MODEL_FILE_INPUTS:
                continue
            if value in combo_options(slot[1], slot[2]):   # ships with the pack (posenc-bundled/...)
                continue
            m = declared.get(value)
            if not m or m.get("directory") not in folders[n["type"]] \
                    or not str(m.get("url", "")).startswith("https://"):
                out.append(f"node {n['id']} ({n['type']}): {slot[0]} = {value!r} declared as {m}")
    return out


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_model_file_is_named_for_the_missing_models_dialog(path, specs, pack):
    assert undeclared_models(_load(path), specs, pack) == []


def test_model_declaration_check_can_fail(specs, pack):
    wf = _load(ROOT / "example_workflows" / "08 GPU, DiT XL2 256 at 512, position modes.json")
    loader = next(n for n in wf["nodes"] if n["type"] == "RPE2DDiTLoader")
    loader["properties"]["models"] = [dict(m, directory="vae") for m in loader["properties"].get("models", [])]
    assert any("RPE2DDiTLoader" in p for p in undeclared_models(wf, specs, pack))
    del loader["properties"]["models"]
    assert any("DiT-XL-2-256x256.pt" in p for p in undeclared_models(wf, specs, pack))
    tiny = _load(ROOT / "example_workflows" / "02 CPU, tiny DiTs at 2x, vanilla vs RPE2D.json")
    assert undeclared_models(tiny, specs, pack) == [], "the bundled tiny DiTs need no entry"


def _diagrams():
    spec = importlib.util.spec_from_file_location("make_diagrams", ROOT / "tools" / "make_diagrams.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_workflow_has_a_thumbnail(path):
    """ComfyUI shows <name>.jpg beside a custom node's workflow as its card's picture under Browse
    Templates (without one: a blank card and a 404).  The CPU workflows' is a picture of their real
    output; the GPU ones' a diagram of the graph that says so, never a made-up output, drawn
    (tools/make_diagrams.py) from the graph the workflow has now."""
    from PIL import Image
    thumb = path.with_suffix(".jpg")
    assert thumb.is_file(), f"missing thumbnail {thumb.name}"
    assert thumb.stat().st_size < 300_000
    with Image.open(thumb) as im:
        assert im.format == "JPEG" and min(im.size) >= 64
        comment = im.info.get("comment", b"").decode(errors="replace")
    if path.stem in RENDERED:
        assert not comment.startswith("posenc diagram"), "a CPU workflow shows its real output"
    else:
        assert _diagrams().stale(path) is None


def test_stale_diagram_is_caught():
    path = ROOT / "example_workflows" / "08 GPU, DiT XL2 256 at 512, position modes.json"
    diagrams = _diagrams()
    wf = _load(path)
    assert diagrams.stale(path, wf) is None
    moved = copy.deepcopy(wf)   # positions alone do not change the drawing
    for n in moved["nodes"]:
        n["pos"] = [n["pos"][0] + 37, n["pos"][1] - 11]
    for g in moved["groups"]:
        g["bounding"] = [g["bounding"][0] + 37, g["bounding"][1] - 11, *g["bounding"][2:]]
    assert diagrams.stale(path, moved) is None
    for edit in (lambda w: w["links"].pop(),
                 lambda w: next(n for n in w["nodes"] if n["type"] == "KSampler").__setitem__("title", "x"),
                 lambda w: w["groups"][0].__setitem__("title", "other")):
        changed = copy.deepcopy(wf)
        edit(changed)
        assert "drawn from another graph" in diagrams.stale(path, changed)
    assert "missing" in diagrams.stale(path.with_name("99 GPU, none.json"), wf)


# The checks must be able to fail: broken copies of a real workflow.
def _broken(specs, edit):
    wf = _load(ROOT / "example_workflows" / f"{REFERENCE}.json")
    wf = copy.deepcopy(wf)
    edit(wf, {n["type"]: n for n in wf["nodes"]})
    return problems(wf, specs)


def _set_widget(n, index, value):
    n["widgets_values"][index] = value


@pytest.mark.parametrize("edit,expect", [
    (lambda wf, by: wf["links"][0].__setitem__(2, 5), "origin slot 5"),
    (lambda wf, by: wf["links"][0].__setitem__(4, 9), "target slot 9"),
    (lambda wf, by: wf["links"][0].__setitem__(5, "IMAGE"), "types"),
    (lambda wf, by: wf["links"].append(list(wf["links"][0])), "used twice"),
    (lambda wf, by: by["PBCModelPatcher"].__setitem__("type", "PBCModelPatcherX"), "neither a core node"),
    (lambda wf, by: _set_widget(by["PBCModelPatcher"], 0, -1), "boundaries = -1 < min 0"),
    (lambda wf, by: _set_widget(by["PBCModelPatcher"], 2, 1.5), "start_percent = 1.5 > max 1.0"),
    (lambda wf, by: _set_widget(by["KSampler"], 1, "sometimes"), "control_after_generate"),
    (lambda wf, by: by["PBCModelPatcher"]["widgets_values"].pop(), "widget values for"),
    (lambda wf, by: _set_widget(by["KSampler"], 4, "dpm_fancy"), "sampler_name = 'dpm_fancy' not in"),
    (lambda wf, by: _set_widget(by["ReferenceClassLabel"], 0, "sunrise"), "class_label"),
    (lambda wf, by: _set_widget(by["VAELoader"], 0, "my vae"), "not a model file name"),
    (lambda wf, by: _set_widget(by["EmptyChromaRadianceLatentImage"], 0, 64.5), "not an integer"),
    (lambda wf, by: by["KSampler"]["inputs"][0].__setitem__("link", None), "points to"),
    (lambda wf, by: wf.__setitem__("last_link_id", 1), "last_link_id"),
    (lambda wf, by: wf.__setitem__("id", None), "workflow id"),
])
def test_checks_catch_broken_workflows(specs, edit, expect):
    found = _broken(specs, edit)
    assert any(expect in p for p in found), found


def test_converter_skips_control_values_and_notes(specs):
    wf = _load(ROOT / "example_workflows" / f"{REFERENCE}.json")
    prompt = to_api(wf, specs)
    ks = next(n for n in prompt.values() if n["class_type"] == "KSampler")
    assert set(ks["inputs"]) == {"model", "seed", "steps", "cfg", "sampler_name", "scheduler",
                                 "positive", "negative", "latent_image", "denoise"}
    assert ks["inputs"]["steps"] == 25 and ks["inputs"]["sampler_name"] == "ddim"
    pbc = next(n for n in prompt.values() if n["class_type"] == "PBCModelPatcher")
    assert pbc["inputs"]["boundaries"] == 3 and pbc["inputs"]["jitter_seed"] == 0
    assert "fixed" not in pbc["inputs"].values()
    assert not any(n["class_type"] == "Note" for n in prompt.values())


# ---- The notes tell the truth (issue 33) ----------------------------------------------------------
# Every number in a workflow's note is tied to what it describes: the values of the graph's own
# nodes, the node schemas' defaults, the models' training sizes, or the measured run times in
# docs/workflow_times.md.  Names and file names with digits in them are not numbers.
TIMES = ROOT / "docs" / "workflow_times.md"
CORES = 2
NAMES = re.compile(r"https?://\S+|\S*/\S*|\S+\.(?:safetensors|pt|json|md)\b|RPE-2D|SD 1\.[5x]|SD3\.5|SD3"
                   r"|DiT-XL/2-256|FreeU_V2|FLUX\.1-dev|Flux\.2|Flux2Scheduler|WAN 2\.2 5B|Lumina 2")
LATENTS = ("EmptyLatentImage", "EmptySD3LatentImage", "EmptyChromaRadianceLatentImage", "EmptyFlux2LatentImage",
           "Wan22ImageToVideoLatent")
SHIFTS = ("ModelSamplingAuraFlow", "ModelSamplingSD3")
# The big models the GPU workflows load, by file name -> model-config family (nodes/model_info.py,
# nodes/families)
FAMILY_OF_FILE = {"v1-5-pruned-emaonly-fp16.safetensors": "SD15", "sd_xl_base_1.0.safetensors": "SDXL",
                  "flux1-dev.safetensors": "Flux", "sd3.5_large.safetensors": "SD3",
                  "z_image_turbo_bf16.safetensors": "ZImage", "qwen_image_fp8_e4m3fn.safetensors": "QwenImage",
                  "flux2_dev_fp8mixed.safetensors": "Flux2", "wan2.2_ti2v_5B_fp16.safetensors": "WAN22_T2V"}
# Models whose training size the family cannot tell without the checkpoint: their width (the
# WAN family's auto base depends on it; WAN 2.2 TI2V-5B: dim 3072, Wan2.2's published config) and
# the video size they were trained at (Wan2.2's 720P for TI2V-5B, 1280x704, its template's latent).
MODEL_WIDTH = {"wan2.2_ti2v_5B_fp16.safetensors": 3072}
TRAINED_SIZE = {"wan2.2_ti2v_5B_fp16.safetensors": (1280, 704)}


def measured_seconds(name: str) -> list[float]:
    rows = []
    for line in TIMES.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] == name and cells[3] == str(CORES):
            rows.append(float(cells[1]))
    return rows


def _wan_base(pack, width: int) -> int:
    """The WAN family's auto base for a model of this width (nodes/families/wan.py), on a stand-in."""
    from types import SimpleNamespace
    stand_in = SimpleNamespace(model=SimpleNamespace(diffusion_model=SimpleNamespace(dim=width)))
    return pack.nodes.families.wan.wan_base(stand_in)


def _model_bases(prompt: dict, pack) -> set:
    """Training sizes in pixels of the models the workflow loads, read from the models (bundled
    ones: their files' metadata) or from nodes/model_info.py and nodes/families (the big ones)."""
    from posenc.checkpoint_files import BUNDLED_DIR, read_header
    from posenc.reference_unet import read_metadata
    info = pack.nodes.model_info
    family_base = {**info._FAMILY_BASE, **{c: f.fixed_base for f in pack.nodes.families.FAMILIES
                                           for c in f.configs if f.fixed_base}}
    bases = set()
    for node in prompt.values():
        t, inputs = node["class_type"], node["inputs"]
        if t == "ReferenceModelLoader":
            bases.add(int(read_metadata(BUNDLED_DIR / inputs["model_name"])["base_resolution"]))
        elif t == "RPE2DDiTLoader" and inputs["dit_name"].startswith("posenc-bundled/"):
            cfg = json.loads(read_header(BUNDLED_DIR / inputs["dit_name"].split("/", 1)[1])[1]["posenc.dit_config"])
            bases.add(cfg["grid"][0] * cfg["patch_size"])   # pixel space
        elif t == "RPE2DDiTLoader":
            m = re.search(r"(\d+)x\1\.pt$", inputs["dit_name"])   # DiT-XL-2-256x256.pt
            bases.add(int(m.group(1)))
        elif t in ("CheckpointLoaderSimple", "UNETLoader"):
            file = inputs.get("ckpt_name") or inputs.get("unet_name")
            family = FAMILY_OF_FILE[file]
            bases.add(family_base[family] if family in family_base else _wan_base(pack, MODEL_WIDTH[file]))
    return bases


def _trained_sizes(prompt: dict) -> set:
    return {TRAINED_SIZE[n["inputs"]["unet_name"]] for n in prompt.values()
            if n["class_type"] == "UNETLoader" and n["inputs"]["unet_name"] in TRAINED_SIZE}


def note_facts(wf: dict, specs: dict, pack) -> dict:
    """What a note may say, read from the saved workflow, what it loads and the records of the
    ComfyUI versions that have all its node types."""
    prompt = to_api(wf, specs)
    by = {}
    for node in prompt.values():
        by.setdefault(node["class_type"], []).append(node["inputs"])
    ks, pbc, vis = by.get("KSampler", []), by.get("PBCModelPatcher", []), by.get("BoundaryVisualizer", [])
    bases = _model_bases(prompt, pack) | {v["base_resolution"] for v in vis}
    latents = [n for t in LATENTS for n in by.get(t, [])]
    ups = [u["scale_by"] for u in by.get("LatentUpscaleBy", [])]
    sampled = {(n["width"], n["height"]) for n in latents}
    sampled |= {(round(w * s), round(h * s)) for w, h in set(sampled) for s in ups}
    trained = _trained_sizes(prompt)
    scales = {s for s in ups} | {a / b for w, h in sampled for b in bases for a in (w, h)}
    scales |= {a / b for w, h in sampled for tw, th in trained for a, b in ((w, tw), (h, th))}
    auto = {max(1, math.floor(max(w, h) / b + 0.5) - 1) for w, h in sampled for b in bases}   # PBC's auto rule
    defaults = {node: {name: e[1].get("default") for sec in specs[node]["input"].values() for name, e in sec.items()
                       if len(e) > 1} for node in ("PBCModelPatcher", "DiTPositionMode")}
    return {
        "sizes": sampled | {(b, b) for b in bases} | {(v["width"], v["height"]) for v in vis} | trained,
        "sides": {a for w, h in sampled for a in (w, h)},
        "bases": bases, "scales": scales, "upscale": set(ups),
        "steps": {k["steps"] for k in ks} | {f["steps"] for f in by.get("Flux2Scheduler", [])},
        "cfg": {k["cfg"] for k in ks}, "denoise": {k["denoise"] for k in ks},
        "shift": {m["shift"] for t in SHIFTS for m in by.get(t, [])},
        "frames": {n["length"] for n in by.get("Wan22ImageToVideoLatent", [])},
        "fps": {n["fps"] for n in by.get("SaveWEBM", [])},
        "versions": {RECORDS[r]["comfyui_version"] for r in records_for(wf, pack_specs(pack))},
        "batch": {n["batch_size"] for n in latents},
        "N": {p["boundaries"] for p in pbc} | {v["boundaries"] for v in vis} | (auto if any(p["boundaries"] == 0 for p in pbc) else set()),
        "jitter": {p["jitter"] for p in pbc}, "end": {p["end_percent"] for p in pbc},
        "window": {(round(p["end_percent"] * k["steps"]), k["steps"]) for p in pbc for k in ks},
        "base_input": {n["base_resolution"] for t in ("PBCModelPatcher", "DiTPositionMode") for n in by.get(t, [])},
        "freeu": {(f["b1"], f["b2"], f["s1"], f["s2"]) for f in by.get("FreeU_V2", [])},
        "guidance": {f["guidance"] for f in by.get("FluxGuidance", [])},
        "class": {c["class_label"] for c in by.get("DiTClassLabel", [])},
        "levels": {v["levels"] for v in vis},
        "dilation": {round(a / b) for a in {a for w, h in sampled for a in (w, h)} for b in bases},
        "default_N": defaults["PBCModelPatcher"]["boundaries"], "default_mode": defaults["DiTPositionMode"]["mode"],
    }


def _num(s: str) -> float:
    return float(s)


def _close(value: float, allowed) -> bool:
    return any(abs(value - float(a)) < 1e-6 for a in allowed)


def _rounded(text: str, allowed) -> bool:
    """`text` (a number as written) is one of `allowed` rounded to the decimals written (none: exact)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    tolerance = 0.5 * 10 ** -decimals + 1e-9 if decimals else 1e-6
    return any(abs(float(text) - float(a)) < tolerance for a in allowed)


def _time_ok(m, name: str) -> str | None:
    seconds = measured_seconds(name)
    if int(m["cores"]) != CORES or not seconds:
        return f"no measured run of {name!r} on {m['cores']} cores in docs/workflow_times.md"
    unit = 60 if m["unit"] == "min" else 1
    step = 30 if unit == 60 else 10
    lo = 0.0 if m["under"] else _num(m["lo"]) * unit
    hi = _num(m["hi"]) * unit
    if not (lo <= min(seconds) and max(seconds) <= hi):
        return f"{m.group(0)!r} but the runs took {min(seconds):.0f}-{max(seconds):.0f} s"
    if lo < min(seconds) - step or hi > max(seconds) + step:
        return f"{m.group(0)!r} is wider than the runs ({min(seconds):.0f}-{max(seconds):.0f} s) rounded"
    return None


# (pattern, check(match, facts, workflow name) -> None or what is wrong)
NOTE_CLAIMS = [
    (r"(?P<w>\d+)x(?P<h>\d+)", lambda m, f, n: None if (int(m["w"]), int(m["h"])) in f["sizes"] else "size"),
    (r"(?P<s>\d+(?:\.\d+)?)x\b", lambda m, f, n: None if _rounded(m["s"], f["scales"]) else "scale"),
    (r"(?P<a>\d+) -> (?P<b>\d+)", lambda m, f, n: None if {int(m["a"]), int(m["b"])} <= f["sides"] else "sizes"),
    (r"(?P<v>\d+) (?:DDIM )?steps", lambda m, f, n: None if int(m["v"]) in f["steps"] else "steps"),
    (r"first (?P<k>\d+) of the (?P<v>\d+) steps",
     lambda m, f, n: None if (int(m["k"]), int(m["v"])) in f["window"] else "window"),
    (r"cfg (?P<v>\d+(?:\.\d+)?)", lambda m, f, n: None if _close(_num(m["v"]), f["cfg"]) else "cfg"),
    (r"denoise (?P<v>\d+(?:\.\d+)?)", lambda m, f, n: None if _close(_num(m["v"]), f["denoise"]) else "denoise"),
    (r"N=(?P<v>\d+)", lambda m, f, n: None if int(m["v"]) in f["N"] else "N"),
    (r"N=(?P<v>\d+), the default", lambda m, f, n: None if int(m["v"]) == f["default_N"] else "default N"),
    (r"\b(?P<v>[a-z]+), the default", lambda m, f, n: None if m["v"] == f["default_mode"] else "default mode"),
    (r"jitter (?P<v>\d+)", lambda m, f, n: None if int(m["v"]) in f["jitter"] else "jitter"),
    (r"end_percent (?P<v>\d+(?:\.\d+)?)", lambda m, f, n: None if _close(_num(m["v"]), f["end"]) else "end_percent"),
    (r"(?P<v>\d+) (?:images|side-by-side pictures)", lambda m, f, n: None if int(m["v"]) in f["batch"] else "batch"),
    (r"b1 (?P<a>[\d.]+), b2 (?P<b>[\d.]+), s1 (?P<c>[\d.]+), s2 (?P<d>[\d.]+)",
     lambda m, f, n: None if tuple(map(float, m.groups())) in f["freeu"] else "FreeU"),
    (r"guidance (?P<v>\d+(?:\.\d+)?)", lambda m, f, n: None if _close(_num(m["v"]), f["guidance"]) else "guidance"),
    (r"Class (?P<v>\d+)", lambda m, f, n: None if int(m["v"]) in f["class"] else "class"),
    (r"(?P<v>\d+) levels", lambda m, f, n: None if int(m["v"]) in f["levels"] else "levels"),
    (r"\bbase \(?(?P<v>\d+)\)?|(?P<w>\d+) (?:base|training size)\b",
     lambda m, f, n: None if int(m["v"] or m["w"]) in f["bases"] else "base"),
    (r"base_resolution (?P<a>\d+) = auto,? \(?(?P<b>\d+) for",
     lambda m, f, n: None if int(m["a"]) in f["base_input"] and int(m["b"]) in f["bases"] else "auto base"),
    (r"dilated by (?P<v>\d+)", lambda m, f, n: None if int(m["v"]) in f["dilation"] else "dilation"),
    (r"Upscale By (?P<v>\d+)", lambda m, f, n: None if _close(_num(m["v"]), f["upscale"]) else "upscale"),
    (r"shift (?P<v>\d+(?:\.\d+)?)", lambda m, f, n: None if _close(_num(m["v"]), f["shift"]) else "shift"),
    (r"(?P<v>\d+) frames", lambda m, f, n: None if int(m["v"]) in f["frames"] else "frames"),
    (r"(?P<v>\d+(?:\.\d+)?) fps", lambda m, f, n: None if _close(_num(m["v"]), f["fps"]) else "fps"),
    (r"ComfyUI (?P<v>\d+\.\d+\.\d+)", lambda m, f, n: None if m["v"] in f["versions"] else "version"),
    (r"(?:(?P<under>under )|(?P<lo>\d+(?:\.\d+)?)-)(?P<hi>\d+(?:\.\d+)?) (?P<unit>s|min) on (?P<cores>\d+) CPU cores",
     lambda m, f, n: _time_ok(m, n)),
]


def note_problems(wf: dict, name: str, specs: dict, pack) -> list[str]:
    facts = note_facts(wf, specs, pack)
    out = []
    for note in [n["widgets_values"][0] for n in wf["nodes"] if n["type"] == "Note"]:
        text = NAMES.sub(lambda m: " " * len(m.group(0)), note)
        covered = []
        for pattern, check in NOTE_CLAIMS:
            for m in re.finditer(pattern, text):
                wrong = check(m, facts, name)
                if wrong:
                    out.append(f"{name}: the note's {m.group(0)!r} ({wrong}) is not what the workflow has")
                covered.append(m.span())
        if max(facts["batch"], default=1) > 1 and re.search(r"\bone (?:side-by-side )?picture", text):
            out.append(f"{name}: the note calls the side-by-side output one picture; the batch makes "
                       f"{max(facts['batch'])}")
        for m in re.finditer(r"\d+(?:[.,]\d+)*", text):
            if not any(a <= m.start() and m.end() <= b for a, b in covered):
                out.append(f"{name}: {m.group(0)!r} in the note is tied to nothing: "
                           f"...{note[max(0, m.start() - 50):m.end() + 20]}...")
    return out


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_number_in_the_note_is_the_workflows(path, specs, pack):
    assert note_problems(_load(path), path.stem, specs, pack) == []


def test_cpu_workflows_have_measured_times_in_their_notes():
    for name in CPU_WORKFLOWS:
        assert measured_seconds(name), f"no measured run of {name} in docs/workflow_times.md"
        note = next(n for n in _load(ROOT / "example_workflows" / f"{name}.json")["nodes"] if n["type"] == "Note")
        assert re.search(rf"\d (s|min) on {CORES} CPU cores", note["widgets_values"][0]), name


def _edit_note(wf, old, new):
    note = next(n for n in wf["nodes"] if n["type"] == "Note")
    assert old in note["widgets_values"][0], old
    note["widgets_values"][0] = note["widgets_values"][0].replace(old, new, 1)


@pytest.mark.parametrize("old,new,expect", [
    ("25 DDIM steps", "26 DDIM steps", "steps"),
    ("N=3, the default", "N=31, the default", "N"),
    ("cfg 1 ", "cfg 2 ", "cfg"),
    ("images,", "images (7 tries),", "tied to nothing"),
    ("for 128x128", "for 128x96", "size"),
    ("4 side-by-side pictures, one per image of the batch", "one side-by-side picture", "one picture"),
    (" on 2 CPU cores", " on 4 CPU cores", "no measured run"),
])
def test_note_check_can_fail(old, new, expect, specs, pack):
    wf = copy.deepcopy(_load(ROOT / "example_workflows" / f"{REFERENCE}.json"))
    _edit_note(wf, old, new)
    found = note_problems(wf, REFERENCE, specs, pack)
    assert any(expect in p for p in found), found


WAN = "14 GPU, WAN 2.2 5B video at 1920x1056, plain vs position mode"
QWEN = "12 GPU, Qwen Image at 2048x2048, plain vs position mode"


@pytest.mark.parametrize("name,old,new,expect", [
    (WAN, "shift 8 ", "shift 5 ", "shift"),
    (WAN, "121 frames", "81 frames", "frames"),
    (WAN, "24 fps", "16 fps", "fps"),
    (WAN, "the 1280x704 it was", "the 1280x720 it was", "size"),
    (WAN, "the 1280 base", "the 1328 base", "base"),
    (QWEN, "1.54x", "1.55x", "scale"),
    (QWEN, "shift 3.1 ", "shift 3 ", "shift"),
    (FLUX2, "ComfyUI 0.33.0", "ComfyUI 0.3.64", "version"),     # 0.3.64 has not Flux.2's nodes
    (FLUX2, "20 steps", "28 steps", "steps"),
    (FLUX2, "guidance 4", "guidance 3.5", "guidance"),
])
def test_note_check_can_fail_on_the_newer_families(name, old, new, expect, specs, pack):
    wf = copy.deepcopy(_load(ROOT / "example_workflows" / f"{name}.json"))
    assert note_problems(wf, name, specs, pack) == []
    _edit_note(wf, old, new)
    found = note_problems(wf, name, specs, pack)
    assert any(f"({expect})" in p for p in found), found


def test_plain_vs_mode_samplers_must_match(specs, ours):
    name = "11 GPU, Z Image Turbo at 2048x2048, plain vs position mode"
    wf = copy.deepcopy(_load(ROOT / "example_workflows" / f"{name}.json"))
    next(n for n in wf["nodes"] if n["type"] == "KSampler")["widgets_values"][2] = 9     # steps of one branch
    assert "differ in more than their model" in " ".join(pair_problems(wf, specs, ours, *PAIR_WORKFLOWS[name]))


def test_time_check_can_fail(specs, pack):
    """A range that misses a measured run, and one far wider than the runs, both fail."""
    wf = _load(ROOT / "example_workflows" / f"{REFERENCE}.json")
    note = next(n for n in wf["nodes"] if n["type"] == "Note")["widgets_values"][0]
    said = re.search(r"(under \d+|\d+(?:\.\d+)?-\d+(?:\.\d+)?) (s|min) on 2 CPU cores", note).group(0)
    s = measured_seconds(REFERENCE)
    for wrong in (f"{max(1, int(min(s)) // 2)}-{max(2, int(min(s)) - 1)} s on 2 CPU cores",
                  f"{int(min(s)) // 2}-{int(max(s)) * 3} s on 2 CPU cores"):
        edited = copy.deepcopy(wf)
        _edit_note(edited, said, wrong)
        assert note_problems(edited, REFERENCE, specs, pack), wrong


def test_text_record_check_can_fail():
    """The host test's check that posenc_lab/frontend_text.json allows at least what a frontend
    measures: the record itself passes, a wider letter, a taller line or an unknown frontend fail."""
    rec = workflow_views.text_record()
    key = next(iter(rec["frontends"]))
    version, renderer = key.rsplit(" ", 1)

    def measured(entry):
        return {"frontend": version, "renderer": renderer, "text": {
            part: {**entry[part], "widths": dict(zip(rec["chars"], entry[part]["widths"]))} for part in ("title", "note")}}

    entry = copy.deepcopy(rec["frontends"][key])
    assert workflow_views.text_shortfalls(measured(entry)) == []
    wider = copy.deepcopy(entry)
    wider["title"]["widths"][rec["chars"].index("W")] += 1
    assert any("'W'" in p for p in workflow_views.text_shortfalls(measured(wider)))
    taller = copy.deepcopy(entry)
    taller["note"]["lineHeight"] += 2
    assert any("lineHeight" in p for p in workflow_views.text_shortfalls(measured(taller)))
    assert "no record" in workflow_views.text_shortfalls({**measured(entry), "frontend": "9.99.9"})[0]
