"""Write example_workflows/*.json, the pack's example workflows, in ComfyUI's UI format (what the
web UI saves and loads; ComfyUI lists the folder under Browse Templates).

ComfyUI 0.3.64 with frontend 1.27 shows a custom node's template by its file name alone: the
name is the card's title, and the name with - and _ turned into spaces its description; the list
comes in the server's directory order.  So the names are titles (no - or _), numbered so that
the CPU workflows come first wherever names are sorted.  Each workflow's stored view (extra.ds)
fits every node and group into a 1600x1000 browser window at a zoom the frontend still draws
text at (tests/host/browser_workflows.mjs checks this and that no two nodes overlap).  Frontends
1.49 and 1.58 ignore the stored view of a workflow opened from Browse Templates and fit the view
to the nodes instead, at 75% of the window: so each graph is also laid out compact enough that the
fitted zoom still draws text, with nothing under the frontends' toolbars or minimap in either view
(posenc_lab/workflow_views.py says where everything lands; the build refuses a layout that fails).
Titles must fit their nodes and notes are as tall as their text needs, in the classic canvas and in
Nodes 2.0, by the fonts measured in the real frontends (posenc_lab/frontend_text.json).

The graphs are described below by node type, widget values by input name, and links by input
name; sockets, widget order, link ids and sizes come from a running ComfyUI's /object_info (with
this pack installed), so the files match what the frontend builds for these nodes:

    python tools/make_workflows.py --url http://127.0.0.1:8188/

tests/test_workflows.py checks the files against the recorded core nodes (RECORDS: ComfyUI 0.3.64 and
0.33.0, tests/fixtures/core_nodes*.json; each workflow against every record that has all its node
types) and the pack's own node schemas; after changing a workflow, run tools/update_core_nodes.py
for each record too.

The notes' numbers come from the graph they describe (the values given to its nodes), from the
node schemas (defaults), from the models (training sizes), and their run times from the measured
runs in docs/workflow_times.md, as an honest rounded range.  tests/test_workflows.py ties every
number in every note to one of those, read from the saved workflow, and fails when one drifts.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from posenc_lab.workflow_format import combo_options, input_specs, is_widget, kind, widget_slots  # noqa: E402
from posenc_lab.workflow_views import note_height, problems, stored_view, title_width  # noqa: E402
from posenc.boundaries import auto_boundary_count  # noqa: E402
from posenc.checkpoint_files import BUNDLED_DIR, BUNDLED_UNET, read_header  # noqa: E402
from posenc.reference_unet import read_metadata  # noqa: E402

OUT = ROOT / "example_workflows"
SD15 = {"name": "v1-5-pruned-emaonly-fp16.safetensors", "directory": "checkpoints",
        "url": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
               "v1-5-pruned-emaonly-fp16.safetensors?download=true"}
SDXL = {"name": "sd_xl_base_1.0.safetensors", "directory": "checkpoints",
        "url": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/"
               "sd_xl_base_1.0.safetensors?download=true"}
SD_VAE = {"name": "vae-ft-mse-840000-ema-pruned.safetensors", "directory": "vae",
          "url": "https://huggingface.co/stabilityai/sd-vae-ft-mse-original/resolve/main/"
                 "vae-ft-mse-840000-ema-pruned.safetensors?download=true"}
# The official DiT-XL/2 (facebookresearch/DiT), a .pt file; RPE2DDiTLoader reads it from
# models/checkpoints (the note's place for it) or models/diffusion_models.
DIT_XL = {"name": "DiT-XL-2-256x256.pt", "directory": "checkpoints",
          "url": "https://dl.fbaipublicfiles.com/DiT/models/DiT-XL-2-256x256.pt"}
PROMPT = ("a photograph of a mountain lake at sunrise, a wooden cabin on the shore, pine forest, "
          "snowy peaks, highly detailed")
NEGATIVE = "blurry, lowres, watermark, text, deformed"
COLORS = ["#3f789e", "#8A8", "#b58b2a", "#a1309b"]
DOM_WIDGET_HEIGHT = {"PBCModelPatcher": 200, "BoundaryVisualizer": 220}
# Nodes 2.0 (1.49, 1.58) draws a loader whose model file is missing with an error line under its
# widgets; the loaders whose classic height has no room left for it (measured with
# tests/host/browser_workflows.mjs --nodes2: the RPE-2D DiT Loader 196 px high with the line, 172
# without; the checkpoint, VAE, UNet and CLIP loaders have the room)
MISSING_MODEL_LINE = {"RPE2DDiTLoader": 24}
TIMES = ROOT / "docs" / "workflow_times.md"
CORES = 2                    # the notes' times are runs on the 2-core test machine
# The recorded core nodes of the ComfyUI versions the workflows are checked against, oldest first
# (tools/update_core_nodes.py writes them; tests/test_workflows.py checks each workflow against every
# record that has all its node types).
RECORDS = [ROOT / "tests" / "fixtures" / "core_nodes.json", ROOT / "tests" / "fixtures" / "core_nodes_0.33.0.json"]


def measured_seconds(name: str) -> list[float]:
    """The run times of workflow `name` on CORES cores recorded in docs/workflow_times.md."""
    out = []
    for line in TIMES.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] == name and cells[3] == str(CORES):
            out.append(float(cells[1]))
    return out


def run_time(name: str) -> str:
    """What the note says of the run time: the measured runs' range, rounded outwards to 10 s
    (30 s above two minutes), e.g. "20-40 s on 2 CPU cores"."""
    s = measured_seconds(name)
    if not s:
        raise ValueError(f"no measured run of {name!r} in {TIMES.relative_to(ROOT)}: run the host test "
                         "with POSENC_RECORD_TIMES=1 first")
    lo, hi = min(s), max(s)
    if hi <= 120:
        a, b = 10 * math.floor(lo / 10), 10 * math.ceil(hi / 10)
        span = f"under {b} s" if a == 0 else f"{a}-{b} s"
    else:
        a, b = math.floor(lo / 30) / 2, math.ceil(hi / 30) / 2
        span = f"{a:g}-{b:g} min"
    return f"{span} on {CORES} CPU cores"


def schema_default(oi: dict, node: str, name: str):
    """The default of input `name` of `node`, as the node's schema declares it."""
    for section in ("required", "optional"):
        entry = oi[node]["input"].get(section, {}).get(name)
        if entry is not None:
            return entry[1]["default"]
    raise KeyError(f"{node}.{name}")


def reference_base() -> int:
    """The bundled reference U-Net's training size in pixels (its checkpoint metadata)."""
    return int(read_metadata(BUNDLED_UNET)["base_resolution"])


def tiny_dit_base(name: str) -> int:
    """A bundled tiny DiT's training size in pixels: its grid times its patch (pixel space)."""
    _, meta = read_header(BUNDLED_DIR / name)
    cfg = json.loads(meta["posenc.dit_config"])
    return int(cfg["grid"][0] * cfg["patch_size"])


class Graph:
    def __init__(self, object_info: dict):
        self.info = object_info
        self.nodes, self.links, self.groups = [], [], []

    def add(self, type_, pos, widgets=None, title=None, models=None, width=None, height=None,
            properties=None):
        """A node at pos; widgets: {input name: value} (missing ones take the declared default;
        control-after-generate values are "fixed" so a rerun gives the same image)."""
        nid = len(self.nodes) + 1
        node = {"id": nid, "type": type_, "pos": list(pos), "flags": {}, "order": 0, "mode": 0}
        if type_ == "Note":
            # tall enough to show all of its text without scrolling in every frontend and renderer
            # (workflow_views.note_height, from the fonts measured in the real frontends), 220 at least
            width = width or 420
            need = note_height(widgets, width)
            if height is not None and height < need:
                raise ValueError(f"note {widgets[:40]!r}...: its text needs {need} px of height at width "
                                 f"{width}, it has {height}")
            node.update(size=[width, height or max(220, need)], inputs=[], outputs=[], properties={},
                        widgets_values=[widgets], color="#432", bgcolor="#653")
            self.nodes.append(node)
            return nid
        info = self.info[type_]
        widgets = dict(widgets or {})
        node["inputs"] = [{"name": n, "type": t, "link": None}
                          for n, t, o, _ in input_specs(info) if not is_widget(t, o)]
        names = info.get("output_name") or info["output"]
        node["outputs"] = [{"name": n, "type": t, "links": [], "slot_index": i}
                           for i, (n, t) in enumerate(zip(names, info["output"]))]
        values = []
        for slot in widget_slots(info):
            if slot is None:
                values.append("fixed")
                continue
            name, typ, opts = slot
            if name in widgets:
                values.append(widgets.pop(name))
            elif "default" in opts:
                values.append(opts["default"])
            elif kind(typ) == "COMBO" and combo_options(typ, opts):
                values.append(combo_options(typ, opts)[0])
            else:
                raise ValueError(f"{type_}: give a value for {name}")
        if widgets:
            raise ValueError(f"{type_}: no widgets named {sorted(widgets)}")
        if values:
            node["widgets_values"] = values
        node["properties"] = {"Node name for S&R": type_}
        if models:
            node["properties"]["models"] = models
        node["properties"].update(properties or {})
        if title:
            node["title"] = title
        rows = max(len(node["inputs"]), len(node["outputs"])) + len(values)
        extra = DOM_WIDGET_HEIGHT.get(type_, 0)   # the pack's boundary-grid preview
        if models:   # Nodes 2.0 adds an error line under a loader whose model file is missing (1.49, 1.58)
            extra += MISSING_MODEL_LINE.get(type_, 0)
        node["size"] = [width or 315, height or 46 + 24 * rows + extra]
        # a title wider than its node is cut short with an ellipsis: titles must fit the width given
        # here in every frontend and renderer (workflow_views.title_width, measured fonts)
        shown = title or info.get("display_name") or type_
        if title_width(shown) > node["size"][0]:
            raise ValueError(f"title {shown!r} needs {title_width(shown):.0f} px, the node is {node['size'][0]}")
        self.nodes.append(node)
        return nid

    def bottom(self, nid) -> float:
        """The y of a node's lower edge."""
        n = self.nodes[nid - 1]
        return n["pos"][1] + n["size"][1]

    def link(self, src, src_slot, dst, dst_input):
        s, d = self.nodes[src - 1], self.nodes[dst - 1]
        slot = next(i for i, o in enumerate(d["inputs"]) if o["name"] == dst_input)
        typ = s["outputs"][src_slot]["type"]
        if d["inputs"][slot]["type"] != typ:
            raise ValueError(f"type mismatch {s['type']}[{src_slot}] {typ} -> {d['type']}.{dst_input}")
        lid = len(self.links) + 1
        self.links.append([lid, src, src_slot, dst, slot, typ])
        s["outputs"][src_slot]["links"].append(lid)
        d["inputs"][slot]["link"] = lid
        return lid

    def group(self, title, x, y, w, h):
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x, y, w, h],
                            "color": COLORS[len(self.groups) % len(COLORS)], "font_size": 24,
                            "flags": {}})

    def to_json(self) -> dict:
        """The workflow, with its stored view; refuses a layout whose first views are bad (nodes
        overlapping, off screen or under a toolbar, zoom too small for text: workflow_views)."""
        self._order()
        wf = {"last_node_id": len(self.nodes),
              "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links,
              "groups": self.groups, "config": {}, "extra": {}, "version": 0.4}
        wf["extra"]["ds"] = stored_view(wf)
        bad = problems(wf)
        if bad:
            raise ValueError("bad layout:\n  " + "\n  ".join(bad))
        return wf

    def _order(self):
        """Execution order the frontend would compute: a topological order of the links."""
        deps = {n["id"]: {lk[1] for lk in self.links if lk[3] == n["id"]} for n in self.nodes}
        done, order = set(), 0
        while len(done) < len(self.nodes):
            for n in self.nodes:
                if n["id"] not in done and deps[n["id"]] <= done:
                    n["order"] = order
                    order += 1
                    done.add(n["id"])


# KSampler's height: what its sockets and widgets take in the classic canvas (computeSize: 262) and in
# Nodes 2.0 (262), with room to spare, and short enough to sit inside a row's group
KS_HEIGHT = 290


def _sampler(g, pos, steps, cfg, seed=0, sampler="ddim", scheduler="ddim_uniform", denoise=1.0):
    return g.add("KSampler", pos, {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                                   "scheduler": scheduler, "denoise": denoise}, height=KS_HEIGHT)


# One sample row: KSampler, VAE Decode, Save Image side by side (x offsets from the row's x).  The
# Save Image node grows by its picture (about 220) once run: the row below starts further down.
KS_WIDTH, DECODE_WIDTH, SAVE_WIDTH = 280, 250, 250
ROW_DECODE, ROW_SAVE = KS_WIDTH + 20, KS_WIDTH + DECODE_WIDTH + 40
ROW_WIDTH = ROW_SAVE + SAVE_WIDTH
ROW_PITCH = 390          # rows of a comparison, top to bottom (KSampler is KS_HEIGHT high)
SIDE_WIDTH = 330         # the side-by-side stitch and save nodes


def _stitch(g, pos, images, labels, spacing=8):
    """ImageStitch chain (images side by side, left to right), stacked downwards from pos; each
    stitch node is titled with what its picture holds.  Returns the last node."""
    left = images[0]
    for i, right in enumerate(images[1:]):
        st = g.add("ImageStitch", (pos[0], pos[1] + 230 * i),
                   {"direction": "right", "match_image_size": True, "spacing_width": spacing,
                    "spacing_color": "white"}, title=" | ".join(labels[:i + 2]), width=SIDE_WIDTH)
        g.link(left, 0, st, "image1")
        g.link(right, 0, st, "image2")
        left = st
    return left


def _sample_decode_save(g, x, y, model, pos, neg, latent, vae, steps, cfg, prefix, save_width, label,
                        denoise=1.0):
    """KSampler at (x, y) -> VAE Decode -> SaveImage in a row; `pos`, `neg`, `model` are nodes
    (output 0; `neg` may be (node, slot)), `vae` is (node, slot).  The decode and save nodes carry
    the row's label in their titles.  Returns the decode node."""
    ks = _sampler(g, (x, y), steps=steps, cfg=cfg, denoise=denoise)
    g.nodes[ks - 1]["size"][0] = KS_WIDTH
    g.link(model, 0, ks, "model")
    g.link(pos, 0, ks, "positive")
    g.link(*(neg if isinstance(neg, tuple) else (neg, 0)), ks, "negative")
    g.link(latent, 0, ks, "latent_image")
    # a label too long for the decode node's title widens it, and the save node gives up as much
    # (the row's right edge stays where the other rows' is)
    extra = max(0, math.ceil(title_width(f"VAE Decode: {label}")) - DECODE_WIDTH)
    dec = g.add("VAEDecode", (x + ROW_DECODE, y), title=f"VAE Decode: {label}", width=DECODE_WIDTH + extra)
    g.link(ks, 0, dec, "samples")
    g.link(vae[0], vae[1], dec, "vae")
    save = g.add("SaveImage", (x + ROW_SAVE + extra, y), {"filename_prefix": prefix}, width=save_width - extra,
                 title=f"Save: {label}")
    g.link(dec, 0, save, "images")
    return dec


def _rows(g, x, y0, labels, build):
    """A group per compared branch, rows ROW_PITCH apart from y0; build(i, y) makes row i and
    returns its decode node."""
    decoded = []
    for i, label in enumerate(labels):
        y = y0 + ROW_PITCH * i
        decoded.append(build(i, y))
        g.group(label, x - 20, y - 70, ROW_WIDTH + 40, ROW_PITCH - 20)
    return decoded


def _side_by_side(g, x, y, decoded, labels, prefix, across=False, **stitch):
    """The decoded images stitched into one picture, left to right in the order of `labels`,
    at (x, y) with its Save Image below (across: to the right; for a single stitch); the stitch
    titles say which picture is where."""
    side = _stitch(g, (x, y), decoded, labels, **stitch)
    n = len(decoded) - 1
    at = (x + SIDE_WIDTH + 30, y) if across else (x, y + 230 * n)
    save = g.add("SaveImage", at, {"filename_prefix": prefix}, width=SIDE_WIDTH, title="Save: side by side")
    g.link(side, 0, save, "images")
    if across:
        g.group("Side by side, left to right", x - 20, y - 70, 2 * SIDE_WIDTH + 70, 330)
    else:
        g.group("Side by side, left to right", x - 20, y - 70, SIDE_WIDTH + 40, 230 * n + 340)


REF4X = "01 CPU, reference UNet at 4x, direct vs PBC vs redilation"


def reference_unet_4x(oi):
    base, size, steps, cfg, batch = reference_base(), 128, 25, 1.0, 4
    n, jitter, end = schema_default(oi, "PBCModelPatcher", "boundaries"), 1, 0.5
    scale = size // base
    g = Graph(oi)
    g.add("Note", (0, 0), (
        f"Reference U-Net at {scale}x: direct vs PBC vs re-dilation (CPU: {run_time(REF4X)})\n\n"
        f"The bundled reference U-Net (models/reference_unet.safetensors) was trained at {base}x{base} "
        f"on procedural scenes: a sky, a ground, ONE horizon, ONE sun. Asked for {size}x{size} "
        f"({scale}x) it repeats suns and horizons like SD does at {scale}x.\n\n"
        f"Same seed and noise for the three branches; {steps} DDIM steps, cfg {cfg:g} (as in the layout "
        f"benchmark, docs/bench_layout.md). PBC: N={n}, the default (the paper's far larger N wrecks "
        f"this small model), jitter {jitter}, the first half of the steps (end_percent {end:g}). "
        f"Re-dilation: convs dilated by {scale} in the same window.\n\n"
        f"Output: each method's {batch} images, and {batch} side-by-side pictures, one per image of the "
        f"batch: direct | PBC N={n} | re-dilation."),
        width=660)
    loader = g.add("ReferenceModelLoader", (0, 290), {"model_name": "reference_unet.safetensors"})
    pos = g.add("ReferenceClassLabel", (0, 420), {"class_label": "day"}, title="positive")
    neg = g.add("ReferenceClassLabel", (0, 550), {"class_label": "unconditional"}, title="negative")
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 680), {"width": size, "height": size, "batch_size": batch})
    vae = g.add("VAELoader", (0, 860), {"vae_name": "pixel_space"})
    pbc = g.add("PBCModelPatcher", (345, 290), {"boundaries": n, "jitter": jitter, "start_percent": 0.0,
                                                "end_percent": end, "base_resolution": 0, "jitter_seed": 0},
                # the grid previews the size this workflow samples (the model comes from the loader)
                properties={"pbc_preview_width": size, "pbc_preview_height": size})
    red = g.add("RedilationPatcher", (345, 760), {"start_percent": 0.0, "end_percent": end,
                                                 "base_resolution": 0})
    g.link(loader, 0, pbc, "model")
    g.link(loader, 0, red, "model")
    labels = ["direct", f"PBC N={n}", "re-dilation"]
    models = [loader, pbc, red]
    prefixes = ["direct", f"pbc{n}", "redilation"]
    decoded = _rows(g, 700, 40, ["direct (no patch)", f"PBC N={n}", "re-dilation"], lambda i, y: (
        _sample_decode_save(g, 700, y, models[i], pos, neg, latent, (vae, 0), steps, cfg,
                            f"posenc/ref4x_{prefixes[i]}", SAVE_WIDTH, labels[i])))
    _side_by_side(g, 700 + ROW_WIDTH + 50, 40, decoded, labels, "posenc/ref4x_side_by_side")
    return g


HIRES_PBC = [("hires fix", None, "hires"), ("hires fix + PBC auto", 0, "hires_pbc_auto"),
             ("hires fix + PBC N=31", 31, "hires_pbc31")]
HIRES_SHORT = ["hires fix", "+ PBC auto", "+ PBC N=31"]     # in node titles (the groups say it in full)


HIRES = "04 CPU, reference UNet hires fix at 2x, with and without PBC"


def reference_unet_hires_2x(oi):
    """The two-pass hires fix a user builds, on the reference U-Net, with and without PBC in the
    second pass (issue #10 C; the two-model table of docs/benchmarks_unet.md)."""
    base, by, steps, cfg, denoise, batch, end = reference_base(), 2, 20, 1.0, 0.5, 4, 0.5
    size = base * by
    auto = auto_boundary_count(size, size, base, base)
    g = Graph(oi)
    g.add("Note", (0, 0), (
        f"Reference U-Net, hires fix {base} -> {size} ({by}x), with and without PBC in the second pass "
        f"(CPU: {run_time(HIRES)})\n\n"
        f"First pass: {steps} DDIM steps at {base}x{base}, the training size. Latent Upscale By {by} "
        f"(nearest-exact). Second pass: {steps} steps at denoise {denoise:g} on the same model, with PBC "
        f"auto (N={auto} at {by}x) or with the paper's N={HIRES_PBC[2][1]}, both on the first half of the "
        f"second pass's steps (end_percent {end:g}).\n\n"
        "What the layout benchmark found on two reference U-Nets (docs/benchmarks_unet.md): the hires "
        "fix alone already gives one sun and one horizon almost every time; PBC auto changes little; "
        f"N={HIRES_PBC[2][1]} adds off-palette noise and loses valid layouts. Output: each branch's "
        f"{batch} images and {batch} side-by-side pictures of the three, one per image of the batch."),
        width=315, height=440)
    # columns: note and inputs | first pass | the PBC patchers and the side-by-side | the branches
    loader = g.add("ReferenceModelLoader", (0, 490), {"model_name": "reference_unet.safetensors"})
    pos = g.add("ReferenceClassLabel", (0, 620), {"class_label": "day"}, title="positive")
    neg = g.add("ReferenceClassLabel", (0, 750), {"class_label": "unconditional"}, title="negative")
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 880), {"width": base, "height": base, "batch_size": batch})
    vae = g.add("VAELoader", (0, 1060), {"vae_name": "pixel_space"})
    first = _sampler(g, (345, 0), steps=steps, cfg=cfg)
    g.nodes[first - 1]["size"][0] = KS_WIDTH
    g.link(loader, 0, first, "model")
    g.link(pos, 0, first, "positive")
    g.link(neg, 0, first, "negative")
    g.link(latent, 0, first, "latent_image")
    up = g.add("LatentUpscaleBy", (345, 350), {"upscale_method": "nearest-exact", "scale_by": float(by)},
               title=f"Latent Upscale By {by} (to {size}x{size})")
    g.link(first, 0, up, "samples")
    models = [loader]
    for (label, n, _), xy in zip(HIRES_PBC[1:], ((690, 0), (345, 510))):
        pbc = g.add("PBCModelPatcher", xy, {"boundaries": n, "jitter": 1, "start_percent": 0.0,
                                            "end_percent": end, "base_resolution": 0, "jitter_seed": 0},
                    title=f"PBC Model Patcher: {label[len('hires fix + '):]}",
                    # the grid previews the second pass's size (the model comes from the loader)
                    properties={"pbc_preview_width": size, "pbc_preview_height": size})
        g.link(loader, 0, pbc, "model")
        models.append(pbc)
    labels = [label for label, _, _ in HIRES_PBC]
    decoded = _rows(g, 1060, 40, labels, lambda i, y: (
        _sample_decode_save(g, 1060, y, models[i], pos, neg, up, (vae, 0), steps, cfg,
                            f"posenc/hires2x_{HIRES_PBC[i][2]}", SAVE_WIDTH, HIRES_SHORT[i], denoise=denoise)))
    _side_by_side(g, 690, 530, decoded, HIRES_SHORT, "posenc/hires2x_side_by_side")
    return g


def _dit_row(g, x, y, loader_values, class_label, steps, cfg, latent, vae, prefix, save_width, label):
    """One DiT row at height y: RPE-2D DiT Loader, DiT Class Label below it, then KSampler ->
    VAE Decode -> SaveImage; returns the decode node (for the side-by-side picture)."""
    loader = g.add("RPE2DDiTLoader", (x, y), loader_values, width=330, title=f"RPE-2D DiT Loader: {label}")
    label_node = g.add("DiTClassLabel", (x, y + 180), {"class_label": class_label})
    g.link(loader, 0, label_node, "model")
    return _sample_decode_save(g, x + 370, y, loader, label_node, (label_node, 1), latent, (vae, 0),
                               steps, cfg, prefix, save_width, label)


DIT_ROW_WIDTH = 370 + ROW_WIDTH


def _dit_rows(g, x, y0, labels, build):
    decoded = []
    for i, label in enumerate(labels):
        y = y0 + ROW_PITCH * i
        decoded.append(build(i, y))
        g.group(label, x - 20, y - 70, DIT_ROW_WIDTH + 40, ROW_PITCH - 20)
    return decoded


TINY_DIT = "02 CPU, tiny DiTs at 2x, vanilla vs RPE2D"


def tiny_dit_2x(oi):
    base, size, steps, cfg, batch = tiny_dit_base("tiny_dit_vanilla.safetensors"), 64, 25, 1.0, 4
    g = Graph(oi)
    g.add("Note", (0, 0), (
        f"Tiny reference DiTs at {size // base}x: vanilla vs RPE-2D (CPU: {run_time(TINY_DIT)})\n\n"
        "Two tiny pixel-space DiTs bundled with the pack (models/tiny_dit_vanilla.safetensors, "
        f"models/tiny_dit_rpe2d.safetensors), trained at {base}x{base} on the same procedural scenes as "
        "the reference U-Net: one with fixed positions, one with RPE-2D (random sorted positions from a "
        f"wider range). At {size}x{size} the vanilla DiT meets positions it never saw (position mode "
        "auto = first: plain extrapolation); the RPE-2D one spreads its positions over the trained "
        f"range (auto = linspace).\n\nSame seed for both; {steps} DDIM steps, cfg {cfg:g}. Output: each "
        f"model's {batch} images and {batch} side-by-side pictures vanilla | RPE-2D, one per image of "
        "the batch."), width=600)
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 290), {"width": size, "height": size, "batch_size": batch})
    vae = g.add("VAELoader", (0, 470), {"vae_name": "pixel_space"})
    labels = ["vanilla", "RPE-2D"]
    decoded = _dit_rows(g, 660, 40, ["vanilla DiT (fixed positions)", "RPE-2D DiT"], lambda i, y: (
        _dit_row(g, 660, y, {"dit_name": f"posenc-bundled/tiny_dit_{('vanilla', 'rpe2d')[i]}.safetensors",
                             "position_mode": "auto", "position_seed": 0}, 0, steps, cfg, latent, vae,
                 f"posenc/dit2x_{('vanilla', 'rpe2d')[i]}", SAVE_WIDTH, labels[i])))
    _side_by_side(g, 0, 670, decoded, labels, "posenc/dit2x_side_by_side")
    return g


# Training sizes in pixels of the families the GPU workflows load (nodes/model_info.py's, which
# tests/test_workflows.py compares them with).
BASES = {"SD 1.x": 512, "SDXL": 1024, "Flux": 1024, "SD3": 1024}


def _unet_with_pbc(oi, title, ckpt, family, width, height, freeu, freeu_source, cfg, intro, needs):
    """Checkpoint -> FreeU_V2 -> (PBC) -> KSampler at a size above the model's base, side by side."""
    steps, n, jitter, end, base = 50, 31, 1, 0.5, BASES[family]
    b1, b2, s1, s2 = freeu
    g = Graph(oi)
    g.add("Note", (0, 0), (
        f"{intro}\n\nNeeds: {needs} Not run here (no GPU); the graph passes ComfyUI's prompt validation "
        f"in the host tests.\n\nBoth branches: FreeU_V2 (b1 {b1:g}, b2 {b2:g}, s1 {s1:g}, s2 {s2:g}, "
        f"{freeu_source}), {steps} DDIM steps, cfg {cfg:g}, same seed. The lower branch adds the PBC Model "
        f"Patcher with the paper's N={n}, jitter {jitter}, for the first {round(end * steps)} of the "
        f"{steps} steps (end_percent {end:g}); base_resolution 0 = auto ({base} for {family})."), width=700)
    ckpt_node = g.add("CheckpointLoaderSimple", (0, 300), {"ckpt_name": ckpt["name"]}, models=[ckpt],
                      width=340)
    pos = g.add("CLIPTextEncode", (0, 480), {"text": PROMPT}, width=340, height=160, title="positive")
    neg = g.add("CLIPTextEncode", (0, 680), {"text": NEGATIVE}, width=340, height=120, title="negative")
    g.link(ckpt_node, 1, pos, "clip")
    g.link(ckpt_node, 1, neg, "clip")
    latent = g.add("EmptyLatentImage", (0, 840), {"width": width, "height": height, "batch_size": 1},
                   width=340)
    fu = g.add("FreeU_V2", (380, 300), dict(zip(("b1", "b2", "s1", "s2"), freeu)))
    g.link(ckpt_node, 0, fu, "model")
    pbc = g.add("PBCModelPatcher", (380, 520), {"boundaries": n, "jitter": jitter, "start_percent": 0.0,
                                                "end_percent": end, "base_resolution": 0, "jitter_seed": 0},
                # the grid previews the size this workflow samples (the family comes from the loader)
                properties={"pbc_preview_width": width, "pbc_preview_height": height})
    g.link(fu, 0, pbc, "model")
    labels = ["FreeU_V2", "FreeU_V2 + PBC"]
    models = [fu, pbc]
    decoded = _rows(g, 740, 40, ["FreeU_V2 only", f"FreeU_V2 + PBC (N={n}, first {round(end * steps)} of {steps} steps)"],
                    lambda i, y: _sample_decode_save(g, 740, y, models[i], pos, neg, latent, (ckpt_node, 2),
                                                     steps, cfg, f"posenc/{title}_{('freeu', 'freeu_pbc')[i]}",
                                                     SAVE_WIDTH, labels[i]))
    _side_by_side(g, 740, 40 + 2 * ROW_PITCH + 70, decoded, labels, f"posenc/{title}_side_by_side",
                  across=True, spacing=16)
    return g


def sd15_1024(oi):
    size, base = 1024, BASES["SD 1.x"]
    return _unet_with_pbc(
        oi, "sd15_1024", SD15, "SD 1.x", size, size, (1.5, 1.6, 0.9, 0.2), "FreeU's SD 1.5 values", 7.5,
        f"SD 1.5 at {size}x{size} ({size // base}x its {base} training size) with FreeU_V2 + PBC: the "
        "paper's setting",
        "models/checkpoints/v1-5-pruned-emaonly-fp16.safetensors (any SD 1.5 checkpoint works; pick "
        "yours in the loader) and a GPU.")


def sdxl_2048(oi):
    size, base = 2048, BASES["SDXL"]
    return _unet_with_pbc(
        oi, "sdxl_2048", SDXL, "SDXL", size, size, (1.3, 1.4, 0.9, 0.2), "FreeU's SDXL values", 7.0,
        f"SDXL at {size}x{size} ({size // base}x its {base} training size) with FreeU_V2 + PBC",
        f"models/checkpoints/sd_xl_base_1.0.safetensors (or another SDXL-family checkpoint) and a GPU "
        f"with enough memory for {size}x{size}.")


def sdxl_1024x3072(oi):
    width, height, base = 1024, 3072, BASES["SDXL"]
    return _unet_with_pbc(
        oi, "sdxl_1024x3072", SDXL, "SDXL", width, height, (1.3, 1.4, 0.9, 0.2), "FreeU's SDXL values", 7.0,
        f"SDXL at {width}x{height} (width x height: a tall image, {height // base}x the training size "
        f"vertically)\n\nPBC adds boundaries only along axes larger than the base ({base}): here only the "
        "height, so every boundary is a horizontal line; the width is left alone. The Boundary Visualizer "
        "example workflow draws them.",
        "models/checkpoints/sd_xl_base_1.0.safetensors and a GPU.")


def _mode_row(g, x, y, model, mode, label, pos, neg, latent, vae, steps, cfg, prefix):
    """One compared position mode at height y: DiT Position Mode on `model` (20 lower than the row,
    so that the pack's badge above its title stays clear of the group's title), then KSampler ->
    VAE Decode -> SaveImage (_sample_decode_save); returns the decode node."""
    pm = g.add("DiTPositionMode", (x, y + 20), {"mode": mode, "base_resolution": 0, "position_seed": 0},
               width=330, title=f"DiT Position Mode: {mode}")
    g.link(model, 0, pm, "model")
    return _sample_decode_save(g, x + 370, y, pm, pos, neg, latent, vae, steps, cfg, prefix, SAVE_WIDTH, label)


def dit_xl_512(oi):
    base, size, steps, cfg, label_index = 256, 512, 50, 4.0, 207   # DiT-XL-2-256x256.pt: trained at 256 px
    modes = ("first", "interpolate", "ntk")
    g = Graph(oi)
    # the left column: the note (as tall as its text needs), then the loaders under it, 40 apart
    col = 330
    note = g.add("Note", (0, 0), (
        f"Official DiT-XL/2-256 at {size}x{size} ({size // base}x): the position modes a vanilla DiT can use\n\n"
        "Needs models/checkpoints/DiT-XL-2-256x256.pt (facebookresearch DiT, loaded weights-only; the loader "
        "carries its download address) and the SD VAE models/vae/vae-ft-mse-840000-ema-pruned.safetensors. "
        "A GPU is advised; not run here.\n\n"
        "One loader, one DiT Position Mode node per mode: the checkpoint loads once. Trained with fixed "
        f"positions at {base}x{base}; at {size}x{size} each axis has {size // base}x as many patches. "
        "first = plain extrapolation (what you get without this pack); interpolate = positions squeezed "
        "onto the trained range; ntk = NTK-scaled sin-cos frequencies. "
        f"{schema_default(oi, 'DiTPositionMode', 'mode')}, the default, is a further choice. linspace and "
        "random need a DiT trained with RPE-2D (python -m posenc_lab.train_dit): with this one they stop "
        "with an error saying so.\n\n"
        f"Class {label_index} (golden retriever), cfg {cfg:g}, {steps} DDIM steps, same seed."),
        width=col)
    vae = g.add("VAELoader", (0, g.bottom(note) + 40), {"vae_name": SD_VAE["name"]}, models=[SD_VAE], width=col)
    latent = g.add("EmptyLatentImage", (0, g.bottom(vae) + 40), {"width": size, "height": size, "batch_size": 1},
                   width=col)
    loader = g.add("RPE2DDiTLoader", (0, g.bottom(latent) + 40), {
        "dit_name": "DiT-XL-2-256x256.pt", "position_mode": "auto", "position_seed": 0}, models=[DIT_XL], width=col)
    label = g.add("DiTClassLabel", (0, g.bottom(loader) + 40), {"class_label": label_index}, width=col)
    g.link(loader, 0, label, "model")
    titles = ("first (extrapolation)", "interpolate (PI)", "ntk (NTK-aware)")
    decoded = _dit_rows(g, col + 40, 40, titles, lambda i, y: (
        _mode_row(g, col + 40, y, loader, modes[i], modes[i], label, (label, 1), latent, (vae, 0), steps, cfg,
                  f"posenc/dit_xl_512_{modes[i]}")))
    _side_by_side(g, col + 40 + DIT_ROW_WIDTH + 50, 40, decoded, list(modes),
                  "posenc/dit_xl_512_side_by_side", spacing=16)
    return g


FLUX_DEV = {"name": "flux1-dev.safetensors", "directory": "diffusion_models",
            "url": "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors"}
FLUX_AE = {"name": "ae.safetensors", "directory": "vae",
           "url": "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors"}
FLUX_CLIP_L = {"name": "clip_l.safetensors", "directory": "text_encoders",
               "url": "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors"}
FLUX_T5XXL = {"name": "t5xxl_fp16.safetensors", "directory": "text_encoders",
              "url": "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp16.safetensors"}
SD35_LARGE = {"name": "sd3.5_large.safetensors", "directory": "checkpoints",
              "url": "https://huggingface.co/stabilityai/stable-diffusion-3.5-large/resolve/main/sd3.5_large.safetensors"}
SD35_TE = "https://huggingface.co/stabilityai/stable-diffusion-3.5-large/resolve/main/text_encoders/"
SD35_ENCODERS = [{"name": n, "directory": "text_encoders", "url": SD35_TE + n}
                 for n in ("clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors")]
GRID_MODES = ("first", "interpolate", "ntk", "yarn")
# A 2x2 comparison: each cell a group with DiT Position Mode above VAE Decode, KSampler to their right.
# Left of it two columns of loaders and conditioning, and under them the pictures stitched 2x2; the
# note under the grid (the graph stays compact enough for a fitted view with text: workflow_views).
CELL_W, CELL_H = 620, 430        # group size; cells CELL_W + 20 apart across, CELL_H + 20 down
PM_W, KS_X, KS_W = 280, 320, 280
LEFT_W = 270                     # the two columns of loaders and conditioning left of the grid
GRID_X = 2 * LEFT_W + 70         # where the grid starts


def _mode_cell(g, x, y, model, mode, pos, neg, latent, vae, steps, cfg, sampler, scheduler):
    """A cell of the 2x2 comparison with its group's top left at (x, y): DiT Position Mode on
    `model` and VAE Decode under it, the KSampler to their right.  Returns the decode node."""
    pm = g.add("DiTPositionMode", (x + 20, y + 90), {"mode": mode, "base_resolution": 0, "position_seed": 0},
               width=PM_W, title=f"DiT Position Mode: {mode}")
    g.link(model, 0, pm, "model")
    ks = _sampler(g, (x + KS_X, y + 70), steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler)
    g.nodes[ks - 1]["size"][0] = KS_W
    g.link(pm, 0, ks, "model")
    g.link(pos, 0, ks, "positive")
    g.link(*(neg if isinstance(neg, tuple) else (neg, 0)), ks, "negative")
    g.link(latent, 0, ks, "latent_image")
    dec = g.add("VAEDecode", (x + 20, y + 270), title=f"VAE Decode: {mode}", width=PM_W)
    g.link(ks, 0, dec, "samples")
    g.link(vae[0], vae[1], dec, "vae")
    g.group(mode, x, y, CELL_W, CELL_H)
    return dec


def _mode_grid(g, x, y, model, pos, neg, latent, vae, steps, cfg, sampler, scheduler, prefix, side):
    """The four GRID_MODES in a 2x2 grid of cells from (x, y), and their pictures stitched into one
    2x2 picture (the same order) in a 2x2 block of nodes whose group starts at `side`, saved under
    `prefix`."""
    decoded = [_mode_cell(g, x + (CELL_W + 20) * (i % 2), y + (CELL_H + 20) * (i // 2), model, mode, pos, neg,
                          latent, vae, steps, cfg, sampler, scheduler) for i, mode in enumerate(GRID_MODES)]
    sx, sy = side
    rows = []
    for r in range(2):
        st = g.add("ImageStitch", (sx + 20 + (LEFT_W + 30) * r, sy + 70), {
            "direction": "right", "match_image_size": True, "spacing_width": 16, "spacing_color": "white"},
            width=LEFT_W, title=" | ".join(GRID_MODES[2 * r:2 * r + 2]))
        g.link(decoded[2 * r], 0, st, "image1")
        g.link(decoded[2 * r + 1], 0, st, "image2")
        rows.append(st)
    top, bottom = (" | ".join(GRID_MODES[:2]), " | ".join(GRID_MODES[2:]))
    grid = g.add("ImageStitch", (sx + 20, sy + 300), {"direction": "down", "match_image_size": True,
                                                      "spacing_width": 16, "spacing_color": "white"},
                 width=LEFT_W, title="2x2: top over bottom")
    g.link(rows[0], 0, grid, "image1")
    g.link(rows[1], 0, grid, "image2")
    save = g.add("SaveImage", (sx + 20 + LEFT_W + 30, sy + 300), {"filename_prefix": f"{prefix}_side_by_side"},
                 width=LEFT_W, title="Save: the 2x2 picture")
    g.link(grid, 0, save, "images")
    g.group(f"Side by side, 2x2: {top} over {bottom}", sx, sy, 2 * LEFT_W + 70, 520)


# The note of a 2x2 comparison: under the grid, as wide as the grid less the corner the frontends'
# minimap covers in a fitted view; the side-by-side block under the loaders.
GRID_NOTE = {"pos": (GRID_X, 2 * CELL_H + 80), "width": 2 * CELL_W - 220, "height": 220}


def flux_dev_2048(oi):
    size, base, steps, guidance, cfg = 2048, BASES["Flux"], 20, 3.5, 1.0
    g = Graph(oi)
    g.add("Note", GRID_NOTE["pos"], (
        f"Flux dev at {size}x{size} ({size // base}x its {base} base): position modes "
        f"{' / '.join(GRID_MODES)}\n\n"
        "Not run here (no GPU): the graph passes ComfyUI's prompt validation in the host tests. "
        "Needs models/diffusion_models/flux1-dev.safetensors, models/text_encoders/clip_l.safetensors "
        "and t5xxl_fp16.safetensors, models/vae/ae.safetensors (the loaders carry the download "
        "addresses; FLUX.1-dev is gated on Hugging Face: accept its licence there first), and a GPU "
        f"with memory for a {size}x{size} Flux image.\n\n"
        f"One load, a DiT Position Mode node per mode (base_resolution 0 = auto, {base} for Flux): "
        "first = the model as it is (plain extrapolation of its RoPE positions); interpolate = rows "
        "and columns squeezed onto the trained range; ntk = NTK-aware RoPE base per axis; yarn = "
        "per-frequency blend of the two plus YaRN's attention temperature on the rotations "
        f"({schema_default(oi, 'DiTPositionMode', 'mode')}, the default, is the one to try first).\n\n"
        f"{steps} steps, euler / simple, guidance {guidance:g}, cfg {cfg:g}, same seed."),
        width=GRID_NOTE["width"], height=GRID_NOTE["height"])
    unet = g.add("UNETLoader", (0, 0), {"unet_name": FLUX_DEV["name"], "weight_dtype": "default"},
                 models=[FLUX_DEV], width=LEFT_W)
    clip = g.add("DualCLIPLoader", (0, 160), {"clip_name1": FLUX_CLIP_L["name"], "clip_name2": FLUX_T5XXL["name"],
                                             "type": "flux"}, models=[FLUX_CLIP_L, FLUX_T5XXL], width=LEFT_W)
    vae = g.add("VAELoader", (0, 370), {"vae_name": FLUX_AE["name"]}, models=[FLUX_AE], width=LEFT_W)
    latent = g.add("EmptySD3LatentImage", (0, 500), {"width": size, "height": size, "batch_size": 1}, width=LEFT_W)
    text = g.add("CLIPTextEncode", (LEFT_W + 30, 0), {"text": PROMPT}, width=LEFT_W, height=200, title="positive")
    g.link(clip, 0, text, "clip")
    guided = g.add("FluxGuidance", (LEFT_W + 30, 240), {"guidance": guidance}, width=LEFT_W)
    g.link(text, 0, guided, "conditioning")
    neg = g.add("ConditioningZeroOut", (LEFT_W + 30, 370), width=LEFT_W, title="negative (zero)")
    g.link(text, 0, neg, "conditioning")
    _mode_grid(g, GRID_X, 0, unet, guided, neg, latent, (vae, 0), steps, cfg, "euler", "simple",
               "posenc/flux_dev_2048", side=(-20, 650))
    return g


def sd35_large_2048(oi):
    size, base, steps, cfg = 2048, BASES["SD3"], 28, 4.5
    g = Graph(oi)
    g.add("Note", GRID_NOTE["pos"], (
        f"SD3.5 Large at {size}x{size} ({size // base}x its {base} base): position modes "
        f"{' / '.join(GRID_MODES)}\n\n"
        "Not run here (no GPU): the graph passes ComfyUI's prompt validation in the host tests. "
        "Needs models/checkpoints/sd3.5_large.safetensors and models/text_encoders/clip_l.safetensors, "
        "clip_g.safetensors, t5xxl_fp16.safetensors (the loaders carry the download addresses; "
        "SD3.5 Large is gated on Hugging Face: accept its licence there first), and a GPU.\n\n"
        "SD3.5 adds a sin-cos table to its tokens, cropped around the table's centre. first = the "
        "model as it is (a larger centre crop); interpolate = the image's positions squeezed into the "
        "crop the model sees at its base; ntk = the crop with NTK-scaled frequencies; yarn = the crop with "
        "YaRN's per-frequency blend (no attention temperature: the table is added to the tokens; "
        f"{schema_default(oi, 'DiTPositionMode', 'mode')} is the default). base_resolution 0 = auto, "
        f"{base} for SD3.\n\n"
        f"{steps} steps, euler / sgm_uniform, cfg {cfg:g}, same seed."),
        width=GRID_NOTE["width"], height=GRID_NOTE["height"])
    ckpt = g.add("CheckpointLoaderSimple", (0, 0), {"ckpt_name": SD35_LARGE["name"]}, models=[SD35_LARGE],
                 width=LEFT_W)
    clip = g.add("TripleCLIPLoader", (0, 180), {"clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors",
                                               "clip_name3": "t5xxl_fp16.safetensors"},
                 models=SD35_ENCODERS, width=LEFT_W)
    latent = g.add("EmptySD3LatentImage", (0, 360), {"width": size, "height": size, "batch_size": 1}, width=LEFT_W)
    pos = g.add("CLIPTextEncode", (LEFT_W + 30, 0), {"text": PROMPT}, width=LEFT_W, height=200, title="positive")
    neg = g.add("CLIPTextEncode", (LEFT_W + 30, 240), {"text": NEGATIVE}, width=LEFT_W, height=150, title="negative")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    _mode_grid(g, GRID_X, 0, ckpt, pos, neg, latent, (ckpt, 2), steps, cfg, "euler", "sgm_uniform",
               "posenc/sd35_large_2048", side=(-20, 650))
    return g


# ---- Plain vs the recommended position mode on the DiTs people run now (issue 31 E) ---------------
# The model files by the names ComfyUI's own templates give them (comfyui-workflow-templates:
# image_z_image_turbo, image_qwen_image, image_flux2_fp8, video_wan2_2_5B_ti2v), with the download
# addresses those templates carry.  The sampling settings are the templates' too, so the left branch
# is what a user of the template gets at the larger size.
def _hf(repo: str, path: str) -> str:
    return f"https://huggingface.co/{repo}/resolve/main/{path}"


def _model(name: str, directory: str, repo: str, folder: str | None = None) -> dict:
    return {"name": name, "directory": directory,
            "url": _hf(repo, f"split_files/{folder or directory}/{name}")}


Z_IMAGE_TURBO = _model("z_image_turbo_bf16.safetensors", "diffusion_models", "Comfy-Org/z_image_turbo")
Z_IMAGE_TE = _model("qwen_3_4b.safetensors", "text_encoders", "Comfy-Org/z_image_turbo")
Z_IMAGE_VAE = _model("ae.safetensors", "vae", "Comfy-Org/z_image_turbo")
QWEN_IMAGE = _model("qwen_image_fp8_e4m3fn.safetensors", "diffusion_models", "Comfy-Org/Qwen-Image_ComfyUI")
QWEN_IMAGE_TE = _model("qwen_2.5_vl_7b_fp8_scaled.safetensors", "text_encoders", "Comfy-Org/Qwen-Image_ComfyUI")
QWEN_IMAGE_VAE = _model("qwen_image_vae.safetensors", "vae", "Comfy-Org/Qwen-Image_ComfyUI")
FLUX2_DEV = _model("flux2_dev_fp8mixed.safetensors", "diffusion_models", "Comfy-Org/flux2-dev")
FLUX2_TE = _model("mistral_3_small_flux2_bf16.safetensors", "text_encoders", "Comfy-Org/flux2-dev")
FLUX2_VAE = _model("flux2-vae.safetensors", "vae", "Comfy-Org/flux2-dev")
WAN22_5B = _model("wan2.2_ti2v_5B_fp16.safetensors", "diffusion_models", "Comfy-Org/Wan_2.2_ComfyUI_Repackaged")
WAN_TE = _model("umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoders", "Comfy-Org/Wan_2.1_ComfyUI_repackaged")
WAN22_VAE = _model("wan2.2_vae.safetensors", "vae", "Comfy-Org/Wan_2.2_ComfyUI_Repackaged")
# Training sizes in pixels (nodes/families: the DiT Position Mode node's auto base, which
# tests/test_workflows.py reads from there) and WAN 2.2 5B's trained video size (its 720p, the size
# of its template's latent).
PAIR_BASES = {"Z-Image": 1024, "Qwen-Image": 1328, "Flux.2": 1024, "WAN 2.2 5B": 1280}
WAN22_5B_TRAINED = (1280, 704)
VIDEO_PROMPT = ("a slow aerial shot over a mountain lake at sunrise, a wooden cabin on the shore, pine forest, "
                "snowy peaks, gentle ripples on the water")
VIDEO_NEGATIVE = "blurry, lowres, watermark, text, subtitles, static frame, overexposed, deformed"
PAIR_LABELS = ("plain (no position mode)", "DiT Position Mode: {mode}")


def _newest_record_version() -> str:
    """The ComfyUI version of the newest core-node record (the one the new families need)."""
    return json.loads(RECORDS[-1].read_text())["comfyui_version"]


def _pair(g, model, mode, sample):
    """The two compared branches, each a group of CELL_W x CELL_H from GRID_X: left `model` as it
    is, right through DiT Position Mode (`mode`, base_resolution 0 = auto).  sample(x, y, model)
    adds a branch's sampling and decode nodes in its cell (top left x, y) and returns the decode node."""
    decoded = []
    for i, label in enumerate(PAIR_LABELS):
        x, y = GRID_X + (CELL_W + 20) * i, 0
        m = model
        if i:
            m = g.add("DiTPositionMode", (x + 20, y + 90), {"mode": mode, "base_resolution": 0, "position_seed": 0},
                      width=PM_W, title=f"DiT Position Mode: {mode}")
            g.link(model, 0, m, "model")
        decoded.append(sample(x, y, m))
        g.group(label.format(mode=mode), x, y, CELL_W, CELL_H)
    return decoded


def _ksampler_cell(g, pos, neg, latent, vae, steps, cfg, sampler, scheduler):
    """sample() for _pair: KSampler on the right of the cell, VAE Decode under the position mode."""
    def sample(x, y, model):
        ks = _sampler(g, (x + KS_X, y + 70), steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler)
        g.nodes[ks - 1]["size"][0] = KS_W
        g.link(model, 0, ks, "model")
        g.link(pos, 0, ks, "positive")
        g.link(*(neg if isinstance(neg, tuple) else (neg, 0)), ks, "negative")
        g.link(latent, 0, ks, "latent_image")
        dec = g.add("VAEDecode", (x + 20, y + 270), width=PM_W)
        g.link(ks, 0, dec, "samples")
        g.link(vae, 0, dec, "vae")
        return dec
    return sample


def _pair_side_by_side(g, y, decoded, mode, prefix, save="SaveImage", save_values=None):
    """The two pictures (or videos, frame by frame) side by side, plain left, under the loaders."""
    st = g.add("ImageStitch", (0, y + 70), {"direction": "right", "match_image_size": True, "spacing_width": 16,
                                            "spacing_color": "white"}, width=LEFT_W, title=f"plain | {mode}")
    g.link(decoded[0], 0, st, "image1")
    g.link(decoded[1], 0, st, "image2")
    out = g.add(save, (LEFT_W + 30, y + 70), {"filename_prefix": f"{prefix}_side_by_side", **(save_values or {})},
                width=LEFT_W, title="Save: side by side")
    g.link(st, 0, out, "images")
    g.group(f"Side by side: plain | {mode}", -20, y, 2 * LEFT_W + 70, 330)


def _pair_note(g, text, height=300):
    g.add("Note", (GRID_X, CELL_H + 70), text, width=2 * CELL_W - 220, height=height)


def _mode_evidence(mode: str) -> str:
    return (f"{mode}: the node's default, the training-free mode the pack's benchmark found best for a "
            "fixed-position RoPE DiT (docs/benchmarks_dit.md: its tiny RoPE DiT above its training size); "
            "carried over to this model, not measured on it")


def _not_run(*files: dict) -> str:
    """The GPU pair notes' "not run here" paragraph, naming the files from the loaders' own entries."""
    paths = [f"models/{f['directory']}/{f['name']}" for f in files]
    needs = ", ".join(paths[:-1]) + " and " + paths[-1]
    return (f"Not run here (no GPU): the graph passes the prompt validation of ComfyUI {_newest_record_version()} "
            f"in the host tests, with empty stand-in model files. Needs {needs} (the names ComfyUI's own "
            "template for this model uses; the loaders carry the download addresses) and a GPU.")


def _expect(mode: str, video: bool = False) -> str:
    """What the note says to expect; written for yarn (a new default mode needs its own words)."""
    if mode != "yarn":
        raise ValueError(f"the notes say what to expect of yarn; write it for {mode!r}")
    return ("What to expect: both branches start from the same noise with the same settings, so the "
            "difference is the position mode alone. Left, the model meets RoPE positions it never saw: "
            "repeated subjects and split layouts are what users report from Flux, Qwen-Image and Z-Image "
            "above their training size. Right, yarn keeps the low frequencies of the positions inside the "
            "trained range and leaves the high ones, and sharpens attention: look for one composition "
            + ("in every frame, " if video else "") + "with its fine detail.")


def _loaders(g, unet_file, te_file, te_type, vae_file):
    """The left column of workflows 11-14 (one text encoder each): UNETLoader, CLIPLoader and VAELoader
    as the model's own ComfyUI template loads it, each carrying its download address for Missing Models."""
    unet = g.add("UNETLoader", (0, 0), {"unet_name": unet_file["name"], "weight_dtype": "default"},
                 models=[unet_file], width=LEFT_W)
    clip = g.add("CLIPLoader", (0, 160), {"clip_name": te_file["name"], "type": te_type, "device": "default"},
                 models=[te_file], width=LEFT_W)
    vae = g.add("VAELoader", (0, 350), {"vae_name": vae_file["name"]}, models=[vae_file], width=LEFT_W)
    return unet, clip, vae


def z_image_turbo_2048(oi):
    size, base, steps, cfg, shift = 2048, PAIR_BASES["Z-Image"], 8, 1.0, 3.0
    mode = schema_default(oi, "DiTPositionMode", "mode")
    g = Graph(oi)
    unet, clip, vae = _loaders(g, Z_IMAGE_TURBO, Z_IMAGE_TE, "lumina2", Z_IMAGE_VAE)
    latent = g.add("EmptySD3LatentImage", (0, 480), {"width": size, "height": size, "batch_size": 1}, width=LEFT_W)
    pos = g.add("CLIPTextEncode", (LEFT_W + 30, 0), {"text": PROMPT}, width=LEFT_W, height=200, title="positive")
    g.link(clip, 0, pos, "clip")
    neg = g.add("ConditioningZeroOut", (LEFT_W + 30, 240), width=LEFT_W, title="negative (zero)")
    g.link(pos, 0, neg, "conditioning")
    ms = g.add("ModelSamplingAuraFlow", (LEFT_W + 30, 360), {"shift": shift}, width=LEFT_W)
    g.link(unet, 0, ms, "model")
    decoded = _pair(g, ms, mode, _ksampler_cell(g, pos, neg, latent, vae, steps, cfg, "res_multistep", "simple"))
    _pair_side_by_side(g, 640, decoded, mode, "posenc/z_image_turbo_2048")
    _pair_note(g, (
        f"Z-Image Turbo at {size}x{size} ({size // base}x its {base} base): plain vs DiT Position Mode {mode}\n\n"
        + _not_run(Z_IMAGE_TURBO, Z_IMAGE_TE, Z_IMAGE_VAE) + "\n\n"
        f"Both branches as in the template: ModelSamplingAuraFlow shift {shift:g} (the noise-schedule shift core "
        f"pairs with Z-Image and Lumina 2; it has no size input), {steps} steps, res_multistep / simple, cfg "
        f"{cfg:g}, same seed. The right branch adds DiT Position Mode, base_resolution 0 = auto, {base} for "
        f"Z-Image; {_mode_evidence(mode)}.\n\n{_expect(mode)}"))
    return g


def qwen_image_2048(oi):
    size, base, steps, cfg, shift = 2048, PAIR_BASES["Qwen-Image"], 20, 4.0, 3.1
    mode = schema_default(oi, "DiTPositionMode", "mode")
    g = Graph(oi)
    unet, clip, vae = _loaders(g, QWEN_IMAGE, QWEN_IMAGE_TE, "qwen_image", QWEN_IMAGE_VAE)
    latent = g.add("EmptySD3LatentImage", (0, 480), {"width": size, "height": size, "batch_size": 1}, width=LEFT_W)
    pos = g.add("CLIPTextEncode", (LEFT_W + 30, 0), {"text": PROMPT}, width=LEFT_W, height=160, title="positive")
    neg = g.add("CLIPTextEncode", (LEFT_W + 30, 200), {"text": NEGATIVE}, width=LEFT_W, height=120, title="negative")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    ms = g.add("ModelSamplingAuraFlow", (LEFT_W + 30, 360), {"shift": shift}, width=LEFT_W)
    g.link(unet, 0, ms, "model")
    decoded = _pair(g, ms, mode, _ksampler_cell(g, pos, neg, latent, vae, steps, cfg, "euler", "simple"))
    _pair_side_by_side(g, 640, decoded, mode, "posenc/qwen_image_2048")
    _pair_note(g, (
        f"Qwen-Image at {size}x{size} ({size / base:.2f}x its {base} base): plain vs DiT Position Mode {mode}\n\n"
        + _not_run(QWEN_IMAGE, QWEN_IMAGE_TE, QWEN_IMAGE_VAE) + "\n\n"
        f"Both branches as in the template (without its Lightning LoRA): ModelSamplingAuraFlow shift {shift:g} "
        f"(core's noise-schedule shift for Qwen-Image; no size input), {steps} steps, euler / simple, cfg "
        f"{cfg:g}, same seed. The right branch adds DiT Position Mode, base_resolution 0 = auto, {base} for "
        f"Qwen-Image (text and edit-reference tokens keep their positions); {_mode_evidence(mode)}.\n\n{_expect(mode)}"))
    return g


def flux2_dev_2048(oi):
    size, base, steps, guidance = 2048, PAIR_BASES["Flux.2"], 20, 4.0
    mode = schema_default(oi, "DiTPositionMode", "mode")
    g = Graph(oi)
    unet, clip, vae = _loaders(g, FLUX2_DEV, FLUX2_TE, "flux2", FLUX2_VAE)
    latent = g.add("EmptyFlux2LatentImage", (0, 480), {"width": size, "height": size, "batch_size": 1}, width=LEFT_W)
    pos = g.add("CLIPTextEncode", (LEFT_W + 30, 0), {"text": PROMPT}, width=LEFT_W, height=130, title="positive")
    g.link(clip, 0, pos, "clip")
    guided = g.add("FluxGuidance", (LEFT_W + 30, 170), {"guidance": guidance}, width=LEFT_W)
    g.link(pos, 0, guided, "conditioning")
    noise = g.add("RandomNoise", (LEFT_W + 30, 300), {"noise_seed": 0}, width=LEFT_W, title="noise (same seed)")
    sched = g.add("Flux2Scheduler", (LEFT_W + 30, 450), {"steps": steps, "width": size, "height": size}, width=LEFT_W)
    select = g.add("KSamplerSelect", (0, 660), {"sampler_name": "euler"}, width=LEFT_W)

    def sample(x, y, model):
        guider = g.add("BasicGuider", (x + 20, y + 270), width=PM_W)
        g.link(model, 0, guider, "model")
        g.link(guided, 0, guider, "conditioning")
        sca = g.add("SamplerCustomAdvanced", (x + KS_X, y + 70), width=KS_W)
        for src, name in ((noise, "noise"), (guider, "guider"), (select, "sampler"), (sched, "sigmas"),
                          (latent, "latent_image")):
            g.link(src, 0, sca, name)
        dec = g.add("VAEDecode", (x + KS_X, y + 290), width=KS_W)
        g.link(sca, 0, dec, "samples")
        g.link(vae, 0, dec, "vae")
        return dec
    decoded = _pair(g, unet, mode, sample)
    _pair_side_by_side(g, 800, decoded, mode, "posenc/flux2_dev_2048")
    _pair_note(g, (
        f"Flux.2 dev at {size}x{size} ({size // base}x its {base} base): plain vs DiT Position Mode {mode}\n\n"
        + _not_run(FLUX2_DEV, FLUX2_TE, FLUX2_VAE) + "\n\n"
        f"Both branches as in the template: Flux2Scheduler at {size}x{size} (Flux.2's noise-schedule shift: "
        f"it follows the image size, so it is given the size sampled), {steps} steps, euler, guidance "
        f"{guidance:g}, the same noise. The right branch adds DiT Position Mode, base_resolution 0 = auto, "
        f"{base} for Flux.2 (rows and columns of the image only); {_mode_evidence(mode)}.\n\n{_expect(mode)}"))
    return g


def wan22_5b_video(oi):
    (tw, th), base = WAN22_5B_TRAINED, PAIR_BASES["WAN 2.2 5B"]
    width, height, frames, fps, steps, cfg, shift = tw * 3 // 2, th * 3 // 2, 121, 24.0, 20, 5.0, 8.0
    mode = schema_default(oi, "DiTPositionMode", "mode")
    g = Graph(oi)
    unet, clip, vae = _loaders(g, WAN22_5B, WAN_TE, "wan", WAN22_VAE)
    latent = g.add("Wan22ImageToVideoLatent", (0, 480), {"width": width, "height": height, "length": frames,
                                                        "batch_size": 1}, width=LEFT_W, title="video latent")
    g.link(vae, 0, latent, "vae")
    pos = g.add("CLIPTextEncode", (LEFT_W + 30, 0), {"text": VIDEO_PROMPT}, width=LEFT_W, height=160, title="positive")
    neg = g.add("CLIPTextEncode", (LEFT_W + 30, 200), {"text": VIDEO_NEGATIVE}, width=LEFT_W, height=120,
                title="negative")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    ms = g.add("ModelSamplingSD3", (LEFT_W + 30, 360), {"shift": shift}, width=LEFT_W)
    g.link(unet, 0, ms, "model")
    decoded = _pair(g, ms, mode, _ksampler_cell(g, pos, neg, latent, vae, steps, cfg, "uni_pc", "simple"))
    _pair_side_by_side(g, 710, decoded, mode, "posenc/wan22_5b_video", save="SaveWEBM",
                       save_values={"codec": "vp9", "fps": fps, "crf": 32.0})
    _pair_note(g, (
        f"WAN 2.2 5B text-to-video at {width}x{height}, {frames} frames ({width / tw:g}x the {tw}x{th} it was "
        f"trained at, in space only): plain vs DiT Position Mode {mode}\n\n"
        + _not_run(WAN22_5B, WAN_TE, WAN22_VAE) + "\n\n"
        f"Both branches as in the template (its start image left out: text to video): ModelSamplingSD3 shift "
        f"{shift:g} (core's shift for WAN; no size input), {steps} steps, uni_pc / simple, cfg {cfg:g}, same seed; "
        f"the side-by-side video is saved as WEBM at {fps:g} fps. The right branch adds DiT Position Mode, "
        f"base_resolution 0 = auto, {base} for WAN 2.2 5B (the long side of its videos; it trains on landscape "
        f"and portrait): the width is above the {base} base, the height is not, so only the columns move; the "
        f"time axis never does. {_mode_evidence(mode)}.\n\n"
        + _expect(mode, video=True)), height=340)
    return g


VISUALIZER = "03 CPU, Boundary Visualizer, where PBC puts its boundaries"
VISUALIZED = ((1024, 1024, 512, 31, 4), (1024, 3072, 1024, 3, 3))   # width, height, base, N, levels


def boundary_visualizer(oi):
    (w1, h1, b1, n1, l1), (w2, h2, b2, n2, l2) = VISUALIZED
    g = Graph(oi)
    g.add("Note", (0, 0), (
        f"Boundary Visualizer: where PBC puts its virtual boundaries (no model needed; {run_time(VISUALIZER)})"
        f"\n\nTop row: SD 1.5 at {w1}x{h1} (base {b1}), the paper's N={n1}, one panel per U-Net level "
        f"({l1} levels). Bottom row: SDXL at {w2}x{h2} (width x height; base {b2}, {l2} levels) with N={n2}: only "
        "the height is larger than the base, so only horizontal boundaries.\n\nRed and opaque near the "
        "edge = small lambda, strong position signal; faint yellow near the centre = nearly transparent. "
        "The grid on the node follows the widgets as you edit them; connect a MODEL to read the "
        "base size and levels from it, or an IMAGE to draw over a sample."), width=400, height=480)
    for i, (w, h, base, n, levels) in enumerate(VISUALIZED):
        y = 30 + 560 * i           # a row each: the Visualizer, its Save Image to the right
        vis = g.add("BoundaryVisualizer", (460, y), {"width": w, "height": h, "base_resolution": base,
                                                   "boundaries": n, "jitter": 1, "jitter_seed": 0,
                                                   "levels": levels}, width=400)
        save = g.add("SaveImage", (900, y), {"filename_prefix": f"posenc/boundaries_{w}x{h}_N{n}"},
                     width=400, title=f"Save: {w}x{h}, N={n}")
        g.link(vis, 0, save, "images")
    return g


# File name = the template's title in ComfyUI's Browse Templates (see the module docstring).
WORKFLOWS = {
    REF4X: reference_unet_4x,
    TINY_DIT: tiny_dit_2x,
    VISUALIZER: boundary_visualizer,
    HIRES: reference_unet_hires_2x,
    "05 GPU, SD 1.5 at 1024x1024, FreeU V2 with and without PBC": sd15_1024,
    "06 GPU, SDXL at 2048x2048, FreeU V2 with and without PBC": sdxl_2048,
    "07 GPU, SDXL at 1024x3072, FreeU V2 with and without PBC": sdxl_1024x3072,
    "08 GPU, DiT XL2 256 at 512, position modes": dit_xl_512,
    "09 GPU, Flux dev at 2048x2048, position modes": flux_dev_2048,
    "10 GPU, SD3.5 Large at 2048x2048, position modes": sd35_large_2048,
    "11 GPU, Z Image Turbo at 2048x2048, plain vs position mode": z_image_turbo_2048,
    "12 GPU, Qwen Image at 2048x2048, plain vs position mode": qwen_image_2048,
    "13 GPU, Flux.2 dev at 2048x2048, plain vs position mode": flux2_dev_2048,
    "14 GPU, WAN 2.2 5B video at 1920x1056, plain vs position mode": wan22_5b_video,
}


def recorded_object_info() -> dict:
    """/object_info without a server: the recorded core nodes (RECORDS: each node type from the
    first record that has it, so the older workflows keep the specs they were made with) and the
    pack's nodes from their schemas through the test suite's stand-ins, as tests/test_workflows.py
    checks the files."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import registered_nodes   # puts the stand-ins for comfy_api / folder_paths on the path
    import folder_paths
    folder_paths.get_filename_list = lambda folder: []   # the DiT loader lists the bundled DiTs only
    core = {}
    for record in RECORDS:
        for name, spec in json.loads(record.read_text())["nodes"].items():
            core.setdefault(name, spec)
    ours = {name: json.loads(json.dumps(cls.GET_NODE_INFO_V1())) for name, (cls, _) in registered_nodes().items()}
    return {**core, **ours}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", help="a running ComfyUI with this pack installed")
    src.add_argument("--recorded", action="store_true",
                     help="no server: the recorded core nodes and the pack's own schemas (notes and times "
                          "after a new measurement; a new core node needs --url and tools/update_core_nodes.py)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.recorded:
        oi = recorded_object_info()
    else:
        with urllib.request.urlopen(args.url.rstrip("/") + "/object_info", timeout=60) as r:
            oi = json.load(r)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in WORKFLOWS.items():
        (args.out / f"{name}.json").write_text(json.dumps(build(oi).to_json(), indent=1) + "\n")
        print(f"wrote {args.out / name}.json")
    return 0

if __name__ == "__main__":
    sys.exit(main())
