"""Write example_workflows/*.json, the pack's example workflows, in ComfyUI's UI format (what the
web UI saves and loads; ComfyUI lists the folder under Browse Templates).

ComfyUI 0.3.64 with frontend 1.27 shows a custom node's template by its file name alone: the
name is the card's title, and the name with - and _ turned into spaces its description; the list
comes in the server's directory order.  So the names are titles (no - or _), numbered so that
the CPU workflows come first wherever names are sorted.  Each workflow's stored view (extra.ds)
fits every node and group into a 1600x1000 browser window at a zoom the frontend still draws
text at (tests/host/browser_workflows.mjs checks this and that no two nodes overlap).

The graphs are described below by node type, widget values by input name, and links by input
name; sockets, widget order, link ids and sizes come from a running ComfyUI's /object_info (with
this pack installed), so the files match what the frontend builds for these nodes:

    python tools/make_workflows.py --url http://127.0.0.1:8188/

tests/test_workflows.py checks the files against tests/fixtures/core_nodes.json and the pack's
own node schemas; after changing a workflow, run tools/update_core_nodes.py too.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from posenc_lab.workflow_format import combo_options, input_specs, is_widget, kind, widget_slots  # noqa: E402

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
PROMPT = ("a photograph of a mountain lake at sunrise, a wooden cabin on the shore, pine forest, "
          "snowy peaks, highly detailed")
NEGATIVE = "blurry, lowres, watermark, text, deformed"
COLORS = ["#3f789e", "#8A8", "#b58b2a", "#a1309b"]
DOM_WIDGET_HEIGHT = {"PBCModelPatcher": 200, "BoundaryVisualizer": 220}
TITLE_H = 30                 # LiteGraph.NODE_TITLE_HEIGHT: the title bar sits above node.pos
# The graph canvas of frontend 1.27 in a 1600x1000 window starts right of the side toolbar (64 px)
# and below the menu bar and workflow tabs (78 px): 1536x922.  The stored view must show the
# whole graph there, with a 10 px margin (offsets are relative to the canvas).
VIEW = {"left": 10, "top": 10, "width": 1516, "height": 902}
MIN_SCALE = 0.6              # below 8 px / 14 px the frontend draws nodes without text (MinFontSizeForLOD 8)


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
            node.update(size=[width or 420, height or 220], inputs=[], outputs=[], properties={},
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
        node["size"] = [width or 315, height or 46 + 24 * rows + extra]
        self.nodes.append(node)
        return nid

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

    def rects(self):
        """(label, x0, y0, x1, y1) of every node (with its title bar) and group, canvas units."""
        out = [(f"{n['id']} {n.get('title', n['type'])}", n["pos"][0], n["pos"][1] - TITLE_H,
                n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1]) for n in self.nodes]
        out += [(f"group {g['title']}", g["bounding"][0], g["bounding"][1],
                 g["bounding"][0] + g["bounding"][2], g["bounding"][1] + g["bounding"][3])
                for g in self.groups]
        return out

    def view(self) -> dict:
        """The stored view (extra.ds): the whole graph inside VIEW, as large as fits, at most 1.
        The frontend draws a canvas point p at (p + offset) * scale."""
        rects = self.rects()
        x0, y0 = min(r[1] for r in rects), min(r[2] for r in rects)
        x1, y1 = max(r[3] for r in rects), max(r[4] for r in rects)
        scale = min(1.0, VIEW["width"] / (x1 - x0), VIEW["height"] / (y1 - y0))
        if scale < MIN_SCALE:
            raise ValueError(f"graph of {x1 - x0}x{y1 - y0} needs zoom {scale:.2f} < {MIN_SCALE} to fit")
        scale = round(scale - 0.005, 2)
        return {"scale": scale, "offset": [round(VIEW["left"] / scale - x0, 1),
                                           round(VIEW["top"] / scale - y0, 1)]}

    def check_overlaps(self):
        boxes = [r for r in self.rects() if not r[0].startswith("group")]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]:
                    raise ValueError(f"nodes overlap: {a[0]} and {b[0]}")

    def to_json(self) -> dict:
        self._order()
        self.check_overlaps()
        return {"last_node_id": len(self.nodes),
                "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links,
                "groups": self.groups, "config": {},
                "extra": {"ds": self.view()}, "version": 0.4}

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


def _sampler(g, pos, steps, cfg, seed=0, sampler="ddim", scheduler="ddim_uniform", denoise=1.0):
    return g.add("KSampler", pos, {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                                   "scheduler": scheduler, "denoise": denoise})


# One sample row: KSampler, VAE Decode, Save Image side by side (x offsets from the row's x).
ROW_DECODE, ROW_SAVE, ROW_WIDTH = 345, 610, 890
ROW_PITCH = 400          # rows of a comparison, top to bottom (KSampler is about 310 high)


def _stitch(g, pos, images, labels, spacing=8):
    """ImageStitch chain (images side by side, left to right), stacked downwards from pos; each
    stitch node is titled with what its picture holds.  Returns the last node."""
    left = images[0]
    for i, right in enumerate(images[1:]):
        st = g.add("ImageStitch", (pos[0], pos[1] + 230 * i),
                   {"direction": "right", "match_image_size": True, "spacing_width": spacing,
                    "spacing_color": "white"}, title=" | ".join(labels[:i + 2]))
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
    g.link(model, 0, ks, "model")
    g.link(pos, 0, ks, "positive")
    g.link(*(neg if isinstance(neg, tuple) else (neg, 0)), ks, "negative")
    g.link(latent, 0, ks, "latent_image")
    dec = g.add("VAEDecode", (x + ROW_DECODE, y), title=f"VAE Decode: {label}", width=240)
    g.link(ks, 0, dec, "samples")
    g.link(vae[0], vae[1], dec, "vae")
    save = g.add("SaveImage", (x + ROW_SAVE, y), {"filename_prefix": prefix}, width=save_width,
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


def _side_by_side(g, x, y, decoded, labels, prefix, **stitch):
    """The decoded images stitched into one picture, left to right in the order of `labels`,
    at (x, y) with its Save Image below; titles say which picture is where."""
    side = _stitch(g, (x, y), decoded, labels, **stitch)
    n = len(decoded) - 1
    save = g.add("SaveImage", (x, y + 230 * n), {"filename_prefix": prefix}, width=400,
                 title="Side by side, left to right: " + " | ".join(labels))
    g.link(side, 0, save, "images")
    g.group("Side by side", x - 20, y - 70, 440, 230 * n + 340)


def reference_unet_4x(oi):
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "Reference U-Net at 4x: direct vs PBC vs re-dilation (runs on a CPU in about a minute)\n\n"
        "The bundled reference U-Net (models/reference_unet.safetensors, 2.7 MB) was trained at "
        "32x32 on procedural scenes: a sky, a ground, ONE horizon, ONE sun. Asked for 128x128 (4x) "
        "it repeats suns and horizons like SD does at 4x.\n\n"
        "Same seed and noise for the three branches; 25 DDIM steps, cfg 1 (as in the layout "
        "benchmark, docs/bench_layout.md). PBC: N=3 (the benchmark's best at 4x; the node's "
        "default 31 is the paper's and wrecks this small model), jitter 1, first half of the "
        "steps. Re-dilation: 3x3 convs dilated by 4 in the same window.\n\n"
        "Output: each method's 4 images, and one picture with direct | PBC N=3 | re-dilation."),
        width=680)
    loader = g.add("ReferenceModelLoader", (0, 300), {"model_name": "reference_unet.safetensors"})
    pos = g.add("ReferenceClassLabel", (0, 440), {"class_label": "day"}, title="positive")
    neg = g.add("ReferenceClassLabel", (0, 570), {"class_label": "unconditional"}, title="negative")
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 700), {"width": 128, "height": 128, "batch_size": 4})
    vae = g.add("VAELoader", (0, 880), {"vae_name": "pixel_space"})
    pbc = g.add("PBCModelPatcher", (360, 300), {"boundaries": 3, "jitter": 1, "start_percent": 0.0,
                                                "end_percent": 0.5, "base_resolution": 0, "jitter_seed": 0},
                # the grid previews the size this workflow samples (the model comes from the loader)
                properties={"pbc_preview_width": 128, "pbc_preview_height": 128})
    red = g.add("RedilationPatcher", (360, 800), {"start_percent": 0.0, "end_percent": 0.5,
                                                 "base_resolution": 0})
    g.link(loader, 0, pbc, "model")
    g.link(loader, 0, red, "model")
    labels = ["direct", "PBC N=3", "re-dilation"]
    models = [loader, pbc, red]
    prefixes = ["direct", "pbc3", "redilation"]
    decoded = _rows(g, 740, 100, ["direct (no patch)", "PBC N=3", "re-dilation"], lambda i, y: (
        _sample_decode_save(g, 740, y, models[i], pos, neg, latent, (vae, 0), 25, 1.0,
                            f"posenc/ref4x_{prefixes[i]}", 280, labels[i])))
    _side_by_side(g, 1700, 100, decoded, labels, "posenc/ref4x_side_by_side")
    return g


HIRES_PBC = [("hires fix", None, "hires"), ("hires fix + PBC auto", 0, "hires_pbc_auto"),
             ("hires fix + PBC N=31", 31, "hires_pbc31")]


def reference_unet_hires_2x(oi):
    """The two-pass hires fix a user builds, on the reference U-Net, with and without PBC in the
    second pass (issue #10 C; the two-model table of docs/benchmarks_unet.md)."""
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "Reference U-Net, hires fix 32 -> 64 (2x), with and without PBC in the second pass "
        "(CPU, about half a minute)\n\n"
        "First pass: 20 DDIM steps at 32x32, the training size. Latent Upscale By 2 "
        "(nearest-exact). Second pass: 20 steps at denoise 0.5 on the same model, with PBC "
        "auto (N=1 at 2x) or with the paper's N=31, both on the first half of the second pass's "
        "steps.\n\n"
        "What the layout benchmark found on two reference U-Nets (README, 'Against what users do "
        "instead'): the hires fix alone already gives one sun and one horizon almost every time; "
        "PBC auto changes little; N=31 adds off-palette noise and loses valid layouts. Output: "
        "each branch's 4 images and one picture with the three side by side."), width=680, height=250)
    loader = g.add("ReferenceModelLoader", (0, 300), {"model_name": "reference_unet.safetensors"})
    pos = g.add("ReferenceClassLabel", (0, 430), {"class_label": "day"}, title="positive")
    neg = g.add("ReferenceClassLabel", (0, 560), {"class_label": "unconditional"}, title="negative")
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 690), {"width": 32, "height": 32, "batch_size": 4})
    vae = g.add("VAELoader", (0, 870), {"vae_name": "pixel_space"})
    first = _sampler(g, (360, 300), steps=20, cfg=1.0)
    g.link(loader, 0, first, "model")
    g.link(pos, 0, first, "positive")
    g.link(neg, 0, first, "negative")
    g.link(latent, 0, first, "latent_image")
    up = g.add("LatentUpscaleBy", (360, 660), {"upscale_method": "nearest-exact", "scale_by": 2.0},
               title="Latent Upscale By 2 (first pass -> 64x64)")
    g.link(first, 0, up, "samples")
    models = [loader]
    for (label, n, _), xy in zip(HIRES_PBC[1:], ((360, 820), (0, 1010))):
        pbc = g.add("PBCModelPatcher", xy, {"boundaries": n, "jitter": 1, "start_percent": 0.0,
                                            "end_percent": 0.5, "base_resolution": 0, "jitter_seed": 0},
                    title=f"PBC Model Patcher: {label[len('hires fix + '):]}",
                    # the grid previews the second pass's size (the model comes from the loader)
                    properties={"pbc_preview_width": 64, "pbc_preview_height": 64})
        g.link(loader, 0, pbc, "model")
        models.append(pbc)
    labels = [label for label, _, _ in HIRES_PBC]
    decoded = _rows(g, 740, 100, labels, lambda i, y: (
        _sample_decode_save(g, 740, y, models[i], pos, neg, up, (vae, 0), 20, 1.0,
                            f"posenc/hires2x_{HIRES_PBC[i][2]}", 280, labels[i], denoise=0.5)))
    _side_by_side(g, 1700, 100, decoded, labels, "posenc/hires2x_side_by_side")
    return g


def _dit_row(g, x, y, loader_values, class_label, steps, cfg, latent, vae, prefix, save_width, label):
    """One DiT row at height y: RPE-2D DiT Loader, DiT Class Label below it, then KSampler ->
    VAE Decode -> SaveImage; returns the decode node (for the side-by-side picture)."""
    loader = g.add("RPE2DDiTLoader", (x, y), loader_values, width=330, title=f"RPE-2D DiT Loader: {label}")
    label_node = g.add("DiTClassLabel", (x, y + 190), {"class_label": class_label})
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


def tiny_dit_2x(oi):
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "Tiny reference DiTs at 2x: vanilla vs RPE-2D (runs on a CPU in seconds)\n\n"
        "Two tiny pixel-space DiTs bundled with the pack (models/tiny_dit_vanilla.safetensors, "
        "models/tiny_dit_rpe2d.safetensors), trained at 32x32 on the same procedural scenes as the "
        "reference U-Net: one with fixed positions, one with RPE-2D (random sorted positions from a "
        "wider range). At 64x64 the vanilla DiT meets positions it never saw (position mode auto = "
        "first: 0..n-1); the RPE-2D one spreads its positions over the trained range (auto = "
        "linspace).\n\nSame seed for both; 25 DDIM steps, cfg 1. Output: each model's 4 images "
        "and one picture vanilla | RPE-2D."), width=600)
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 300), {"width": 64, "height": 64, "batch_size": 4})
    vae = g.add("VAELoader", (0, 480), {"vae_name": "pixel_space"})
    labels = ["vanilla", "RPE-2D"]
    decoded = _dit_rows(g, 660, 100, ["vanilla DiT (fixed positions)", "RPE-2D DiT"], lambda i, y: (
        _dit_row(g, 660, y, {"dit_name": f"posenc-bundled/tiny_dit_{('vanilla', 'rpe2d')[i]}.safetensors",
                             "position_mode": "auto", "position_seed": 0}, 0, 25, 1.0, latent, vae,
                 f"posenc/dit2x_{('vanilla', 'rpe2d')[i]}", 280, labels[i])))
    _side_by_side(g, 660 + DIT_ROW_WIDTH + 60, 100, decoded, labels, "posenc/dit2x_side_by_side")
    return g


def _unet_with_pbc(oi, title, ckpt, width, height, freeu, cfg, note):
    """Checkpoint -> FreeU_V2 -> (PBC) -> KSampler at a size above the model's base, side by side."""
    g = Graph(oi)
    g.add("Note", (0, 0), note, width=700)
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
    pbc = g.add("PBCModelPatcher", (380, 520), {"boundaries": 31, "jitter": 1, "start_percent": 0.0,
                                                "end_percent": 0.5, "base_resolution": 0, "jitter_seed": 0})
    g.link(fu, 0, pbc, "model")
    labels = ["FreeU_V2", "FreeU_V2 + PBC"]
    models = [fu, pbc]
    decoded = _rows(g, 760, 100, ["FreeU_V2 only", "FreeU_V2 + PBC (N=31, first 25 of 50 steps)"],
                    lambda i, y: _sample_decode_save(g, 760, y, models[i], pos, neg, latent, (ckpt_node, 2),
                                                     50, cfg, f"posenc/{title}_{('freeu', 'freeu_pbc')[i]}",
                                                     280, labels[i]))
    _side_by_side(g, 760 + ROW_WIDTH + 60, 100, decoded, labels, f"posenc/{title}_side_by_side", spacing=16)
    return g

def sd15_1024(oi):
    return _unet_with_pbc(oi, "sd15_1024", SD15, 1024, 1024, (1.5, 1.6, 0.9, 0.2), 7.5, (
        "SD 1.5 at 1024x1024 (2x its 512 training size) with FreeU_V2 + PBC: the paper's setting\n\n"
        "Needs: models/checkpoints/v1-5-pruned-emaonly-fp16.safetensors (any SD 1.5 checkpoint "
        "works; pick yours in the loader). A GPU: 2 x 50 steps at 1024x1024 take many minutes on a "
        "CPU.\n\nBoth branches: FreeU_V2 (b1 1.5, b2 1.6, s1 0.9, s2 0.2, FreeU's SD 1.5 values), "
        "50 DDIM steps, cfg 7.5, same seed. The lower branch adds the PBC Model Patcher with the "
        "paper's N=31, jitter 1, for the first half of the steps (end_percent 0.5). Base resolution "
        "0 = auto (512 for SD 1.x)."))


def sdxl_2048(oi):
    return _unet_with_pbc(oi, "sdxl_2048", SDXL, 2048, 2048, (1.3, 1.4, 0.9, 0.2), 7.0, (
        "SDXL at 2048x2048 (2x its 1024 training size) with FreeU_V2 + PBC\n\n"
        "Needs: models/checkpoints/sd_xl_base_1.0.safetensors (or another SDXL-family checkpoint) "
        "and a GPU with enough memory for 2048x2048.\n\n"
        "Both branches: FreeU_V2 (b1 1.3, b2 1.4, s1 0.9, s2 0.2, FreeU's SDXL values), 50 DDIM "
        "steps, cfg 7, same seed; the lower one adds PBC (N=31, jitter 1, first half of the steps, "
        "base auto = 1024)."))


def sdxl_1024x3072(oi):
    return _unet_with_pbc(oi, "sdxl_1024x3072", SDXL, 1024, 3072, (1.3, 1.4, 0.9, 0.2), 7.0, (
        "SDXL at 1024x3072 (width x height: a tall image, 3x the training size vertically)\n\n"
        "Needs: models/checkpoints/sd_xl_base_1.0.safetensors and a GPU.\n\n"
        "PBC adds boundaries only along axes larger than the base (1024): here only the height, "
        "so every boundary is a horizontal line; the width is left alone. Open the template "
        "03 CPU, Boundary Visualizer ... to see them. Same settings as the 2048x2048 workflow."))


def _mode_row(g, x, y, model, mode, label, pos, neg, latent, vae, steps, cfg, prefix):
    """One compared position mode at height y: DiT Position Mode on `model` (20 lower than the row,
    so that the pack's badge above its title stays clear of the group's title), then KSampler ->
    VAE Decode -> SaveImage (_sample_decode_save); returns the decode node."""
    pm = g.add("DiTPositionMode", (x, y + 20), {"mode": mode, "base_resolution": 0, "position_seed": 0},
               width=330, title=f"DiT Position Mode: {mode}")
    g.link(model, 0, pm, "model")
    return _sample_decode_save(g, x + 370, y, pm, pos, neg, latent, vae, steps, cfg, prefix, 280, label)


def dit_xl_512(oi):
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "Official DiT-XL/2-256 sampled at 512x512 (2x) with the position modes a vanilla DiT can use\n\n"
        "Needs: models/checkpoints/DiT-XL-2-256x256.pt (facebookresearch DiT: "
        "https://dl.fbaipublicfiles.com/DiT/models/DiT-XL-2-256x256.pt, loaded weights-only) and "
        "the SD VAE models/vae/vae-ft-mse-840000-ema-pruned.safetensors. A GPU is advised.\n\n"
        "One loader, three DiT Position Mode nodes on its MODEL: the checkpoint is loaded once. "
        "The official model was trained with fixed positions on a 16x16 grid; at 512 the grid is "
        "32x32. first = 0..31, plain extrapolation (what you get without this pack); "
        "interpolate = 32 fractional positions squeezed onto the trained 0..15 (positional "
        "interpolation); ntk = 0..31 with NTK-scaled sin-cos frequencies (yarn is a fourth "
        "choice). RPE-2D's own modes (linspace, random) need 32 distinct trained positions, i.e. a "
        "checkpoint trained with RPE-2D on L >= 32 (python -m posenc_lab.train_dit); with this one "
        "they stop with an error saying so.\n\n"
        "Class 207 (golden retriever), cfg 4, 50 DDIM steps, same seed."), width=340, height=330)
    vae = g.add("VAELoader", (0, 380), {"vae_name": SD_VAE["name"]}, models=[SD_VAE], width=340)
    latent = g.add("EmptyLatentImage", (0, 510), {"width": 512, "height": 512, "batch_size": 1}, width=340)
    loader = g.add("RPE2DDiTLoader", (0, 700), {"dit_name": "DiT-XL-2-256x256.pt", "position_mode": "auto",
                                                "position_seed": 0}, width=340)
    label = g.add("DiTClassLabel", (0, 890), {"class_label": 207}, width=340)
    g.link(loader, 0, label, "model")
    modes = ("first", "interpolate", "ntk")
    titles = ("first (extrapolation)", "interpolate (PI)", "ntk (NTK-aware)")
    decoded = _dit_rows(g, 380, 100, titles, lambda i, y: (
        _mode_row(g, 380, y, loader, modes[i], modes[i], label, (label, 1), latent, (vae, 0), 50, 4.0,
                  f"posenc/dit_xl_512_{modes[i]}")))
    _side_by_side(g, 380 + DIT_ROW_WIDTH + 60, 100, decoded, list(modes),
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
CELL_W, CELL_H = 600, 430        # group size; cells CELL_W + 20 apart across, CELL_H + 20 down
PM_W, KS_X, KS_W = 260, 300, 280
SIDE_W = 340                     # the stitch column, wide enough for the Save node's title
LEFT_W = 270                     # the two columns of loaders and conditioning left of the grid


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


def _mode_grid(g, x, y, model, pos, neg, latent, vae, steps, cfg, sampler, scheduler, prefix):
    """The four GRID_MODES in a 2x2 grid of cells from (x, y), and their pictures stitched into one
    2x2 picture (the same order) in a column to the right, saved under `prefix`."""
    decoded = [_mode_cell(g, x + (CELL_W + 20) * (i % 2), y + (CELL_H + 20) * (i // 2), model, mode, pos, neg,
                          latent, vae, steps, cfg, sampler, scheduler) for i, mode in enumerate(GRID_MODES)]
    sx = x + 2 * CELL_W + 20 + 60
    rows = []
    for r in range(2):
        st = g.add("ImageStitch", (sx, y + 70 + 230 * r), {"direction": "right", "match_image_size": True,
                                                           "spacing_width": 16, "spacing_color": "white"},
                   width=SIDE_W, title=" | ".join(GRID_MODES[2 * r:2 * r + 2]))
        g.link(decoded[2 * r], 0, st, "image1")
        g.link(decoded[2 * r + 1], 0, st, "image2")
        rows.append(st)
    top, bottom = (" | ".join(GRID_MODES[:2]), " | ".join(GRID_MODES[2:]))
    grid = g.add("ImageStitch", (sx, y + 70 + 460), {"direction": "down", "match_image_size": True,
                                                     "spacing_width": 16, "spacing_color": "white"},
                 width=SIDE_W, title=f"{top} over {bottom}")
    g.link(rows[0], 0, grid, "image1")
    g.link(rows[1], 0, grid, "image2")
    save = g.add("SaveImage", (sx, y + 70 + 690), {"filename_prefix": f"{prefix}_side_by_side"}, width=SIDE_W,
                 title=f"Save: {top} / {bottom}")
    g.link(grid, 0, save, "images")
    g.group("Side by side, 2x2", sx - 20, y, SIDE_W + 40, 690 + 94 + 90)


def flux_dev_2048(oi):
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "Flux dev at 2048x2048 (2x its 1024 base): position modes first / interpolate / ntk / yarn\n\n"
        "Not run here (no GPU): the graph passes ComfyUI's prompt validation in the host tests. "
        "Needs models/diffusion_models/flux1-dev.safetensors, models/text_encoders/clip_l.safetensors "
        "and t5xxl_fp16.safetensors, models/vae/ae.safetensors (the loaders carry the download "
        "addresses; FLUX.1-dev is gated on Hugging Face: accept its licence there first), and a GPU "
        "with memory for 16,384 image tokens.\n\n"
        "One load, four DiT Position Mode nodes (base auto = 1024, so s = 2 per axis): first = the "
        "model as it is (RoPE positions 0..127); interpolate = rows and columns squeezed onto "
        "0..63; ntk = RoPE base theta * s^(d/(d-2)) per axis; yarn = per-frequency blend of the two "
        "plus the attention temperature 0.1 ln 2 + 1 on the rotations (try it first on Flux).\n\n"
        "20 steps, euler / simple, guidance 3.5, cfg 1, same seed."), width=2 * LEFT_W + 30, height=260)
    unet = g.add("UNETLoader", (0, 310), {"unet_name": FLUX_DEV["name"], "weight_dtype": "default"},
                 models=[FLUX_DEV], width=LEFT_W)
    clip = g.add("DualCLIPLoader", (0, 480), {"clip_name1": FLUX_CLIP_L["name"], "clip_name2": FLUX_T5XXL["name"],
                                             "type": "flux"}, models=[FLUX_CLIP_L, FLUX_T5XXL], width=LEFT_W)
    vae = g.add("VAELoader", (0, 700), {"vae_name": FLUX_AE["name"]}, models=[FLUX_AE], width=LEFT_W)
    latent = g.add("EmptySD3LatentImage", (0, 840), {"width": 2048, "height": 2048, "batch_size": 1}, width=LEFT_W)
    text = g.add("CLIPTextEncode", (LEFT_W + 30, 310), {"text": PROMPT}, width=LEFT_W, height=200, title="positive")
    g.link(clip, 0, text, "clip")
    guided = g.add("FluxGuidance", (LEFT_W + 30, 560), {"guidance": 3.5}, width=LEFT_W)
    g.link(text, 0, guided, "conditioning")
    neg = g.add("ConditioningZeroOut", (LEFT_W + 30, 700), width=LEFT_W, title="negative (zero)")
    g.link(text, 0, neg, "conditioning")
    _mode_grid(g, 2 * LEFT_W + 70, 0, unet, guided, neg, latent, (vae, 0), 20, 1.0, "euler", "simple", "posenc/flux_dev_2048")
    return g


def sd35_large_2048(oi):
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "SD3.5 Large at 2048x2048 (2x its 1024 base): position modes first / interpolate / ntk / yarn\n\n"
        "Not run here (no GPU): the graph passes ComfyUI's prompt validation in the host tests. "
        "Needs models/checkpoints/sd3.5_large.safetensors and models/text_encoders/clip_l.safetensors, "
        "clip_g.safetensors, t5xxl_fp16.safetensors (the loaders carry the download addresses; "
        "SD3.5 Large is gated on Hugging Face: accept its licence there first), and a GPU.\n\n"
        "SD3.5 adds a sin-cos table to its tokens, cropped around the table's centre (192 positions "
        "per axis, 64 at 1024). first = the model as it is (the centre 128); interpolate = 128 "
        "positions squeezed into the centre 64 the model sees at 1024 (try it first on SD3.5); "
        "ntk = the crop with NTK-scaled frequencies; yarn = the crop with YaRN's per-frequency "
        "blend (no attention temperature: the table is added to the tokens). Base auto = 1024.\n\n"
        "28 steps, euler / sgm_uniform, cfg 4.5, same seed."), width=2 * LEFT_W + 30, height=260)
    ckpt = g.add("CheckpointLoaderSimple", (0, 310), {"ckpt_name": SD35_LARGE["name"]}, models=[SD35_LARGE],
                 width=LEFT_W)
    clip = g.add("TripleCLIPLoader", (0, 490), {"clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors",
                                               "clip_name3": "t5xxl_fp16.safetensors"},
                 models=SD35_ENCODERS, width=LEFT_W)
    latent = g.add("EmptySD3LatentImage", (0, 680), {"width": 2048, "height": 2048, "batch_size": 1}, width=LEFT_W)
    pos = g.add("CLIPTextEncode", (LEFT_W + 30, 310), {"text": PROMPT}, width=LEFT_W, height=200, title="positive")
    neg = g.add("CLIPTextEncode", (LEFT_W + 30, 560), {"text": NEGATIVE}, width=LEFT_W, height=150, title="negative")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    _mode_grid(g, 2 * LEFT_W + 70, 0, ckpt, pos, neg, latent, (ckpt, 2), 28, 4.5, "euler", "sgm_uniform",
               "posenc/sd35_large_2048")
    return g


def boundary_visualizer(oi):
    g = Graph(oi)
    g.add("Note", (0, 0), (
        "Boundary Visualizer: where PBC puts its virtual boundaries (no model needed; instant)\n\n"
        "Left: SD 1.5 at 1024x1024 (base 512), the paper's N=31, one panel per U-Net level (4). "
        "Right: SDXL at 1024x3072 (width x height; base 1024, 3 levels) with N=3: only the height "
        "is larger than the base, so only horizontal boundaries.\n\nRed and opaque near the edge "
        "= small lambda, strong position signal; faint yellow near the centre = nearly transparent. "
        "The grid on the node follows the widgets as you edit them; connect a MODEL to read the "
        "base size and levels from it, or an IMAGE to draw over a sample."), width=400, height=480)
    for i, (w, h, base, n, levels) in enumerate(((1024, 1024, 512, 31, 4), (1024, 3072, 1024, 3, 3))):
        x = 460 + 940 * i
        vis = g.add("BoundaryVisualizer", (x, 30), {"width": w, "height": h, "base_resolution": base,
                                                   "boundaries": n, "jitter": 1, "jitter_seed": 0,
                                                   "levels": levels}, width=400)
        save = g.add("SaveImage", (x + 440, 30), {"filename_prefix": f"posenc/boundaries_{w}x{h}_N{n}"},
                     width=440, title=f"Save: {w}x{h}, N={n}")
        g.link(vis, 0, save, "images")
    return g


# File name = the template's title in ComfyUI's Browse Templates (see the module docstring).
WORKFLOWS = {
    "01 CPU, reference UNet at 4x, direct vs PBC vs redilation": reference_unet_4x,
    "02 CPU, tiny DiTs at 2x, vanilla vs RPE2D": tiny_dit_2x,
    "03 CPU, Boundary Visualizer, where PBC puts its boundaries": boundary_visualizer,
    "04 CPU, reference UNet hires fix at 2x, with and without PBC": reference_unet_hires_2x,
    "05 GPU, SD 1.5 at 1024x1024, FreeU V2 with and without PBC": sd15_1024,
    "06 GPU, SDXL at 2048x2048, FreeU V2 with and without PBC": sdxl_2048,
    "07 GPU, SDXL at 1024x3072, FreeU V2 with and without PBC": sdxl_1024x3072,
    "08 GPU, DiT XL2 256 at 512, position modes": dit_xl_512,
    "09 GPU, Flux dev at 2048x2048, position modes": flux_dev_2048,
    "10 GPU, SD3.5 Large at 2048x2048, position modes": sd35_large_2048,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="a running ComfyUI with this pack installed")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with urllib.request.urlopen(args.url.rstrip("/") + "/object_info", timeout=60) as r:
        oi = json.load(r)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in WORKFLOWS.items():
        (args.out / f"{name}.json").write_text(json.dumps(build(oi).to_json(), indent=1) + "\n")
        print(f"wrote {args.out / name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
