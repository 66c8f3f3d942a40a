"""Write workflows/*.json, the pack's example workflows, in ComfyUI's UI format (what the web UI
saves and loads; ComfyUI lists the folder under Browse Templates).

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

OUT = ROOT / "workflows"
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


class Graph:
    def __init__(self, object_info: dict):
        self.info = object_info
        self.nodes, self.links, self.groups = [], [], []

    def add(self, type_, pos, widgets=None, title=None, models=None, width=None):
        """A node at pos; widgets: {input name: value} (missing ones take the declared default;
        control-after-generate values are "fixed" so a rerun gives the same image)."""
        nid = len(self.nodes) + 1
        node = {"id": nid, "type": type_, "pos": list(pos), "flags": {}, "order": 0, "mode": 0}
        if type_ == "Note":
            node.update(size=[width or 420, 220], inputs=[], outputs=[], properties={},
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
        if title:
            node["title"] = title
        rows = max(len(node["inputs"]), len(node["outputs"])) + len(values)
        extra = DOM_WIDGET_HEIGHT.get(type_, 0)   # the pack's boundary-grid preview
        node["size"] = [width or 315, 46 + 24 * rows + extra]
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

    def to_json(self) -> dict:
        self._order()
        return {"last_node_id": len(self.nodes),
                "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links,
                "groups": self.groups, "config": {},
                "extra": {"ds": {"scale": 0.75, "offset": [40, 40]}}, "version": 0.4}

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


def _sampler(g, pos, steps, cfg, seed=0, sampler="ddim", scheduler="ddim_uniform"):
    return g.add("KSampler", pos, {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                                   "scheduler": scheduler, "denoise": 1.0})


def _stitch(g, pos, images, spacing=8):
    """ImageStitch chain: images side by side, left to right."""
    left = images[0]
    for i, right in enumerate(images[1:]):
        st = g.add("ImageStitch", (pos[0] + 340 * i, pos[1]),
                   {"direction": "right", "match_image_size": True, "spacing_width": spacing,
                    "spacing_color": "white"})
        g.link(left, 0, st, "image1")
        g.link(right, 0, st, "image2")
        left = st
    return left


def reference_unet_4x(oi):
    g = Graph(oi)
    g.add("Note", (0, -260), (
        "Reference U-Net at 4x: direct vs PBC vs re-dilation (runs on a CPU in about a minute)\n\n"
        "The bundled reference U-Net (models/reference_unet.safetensors, 2.7 MB) was trained at "
        "32x32 on procedural scenes: a sky, a ground, ONE horizon, ONE sun. Asked for 128x128 (4x) "
        "it repeats suns and horizons like SD does at 4x.\n\n"
        "Same seed and noise for the three branches; 25 DDIM steps, cfg 1 (as in the layout "
        "benchmark, docs/bench_layout.md). PBC: N=3 (the benchmark's best at 4x; the node's "
        "default 31 is the paper's and wrecks this small model), jitter 1, first half of the "
        "steps. Re-dilation: 3x3 convs dilated by 4 in the same window.\n\n"
        "Output: each method's 4 images, and one picture with direct | PBC | re-dilation."), width=560)
    loader = g.add("ReferenceModelLoader", (0, 40), {"model_name": "reference_unet.safetensors"})
    pos = g.add("ReferenceClassLabel", (0, 200), {"class_label": "day"}, title="positive")
    neg = g.add("ReferenceClassLabel", (0, 320), {"class_label": "unconditional"}, title="negative")
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 440), {"width": 128, "height": 128, "batch_size": 4})
    vae = g.add("VAELoader", (0, 620), {"vae_name": "pixel_space"})
    pbc = g.add("PBCModelPatcher", (380, 520), {"boundaries": 3, "jitter": 1, "start_percent": 0.0,
                                                "end_percent": 0.5, "base_resolution": 0, "seed": 0})
    red = g.add("RedilationPatcher", (380, 1000), {"start_percent": 0.0, "end_percent": 0.5,
                                                  "base_resolution": 0})
    g.link(loader, 0, pbc, "model")
    g.link(loader, 0, red, "model")
    decoded = []
    for i, (name, model) in enumerate((("direct", loader), ("pbc3", pbc), ("redilation", red))):
        y = 40 + 480 * i
        decoded.append(_sample_decode_save(g, 760, y, model, pos, neg, latent, (vae, 0), 25, 1.0,
                                           f"posenc/ref4x_{name}", 280))
        g.group(["direct (no patch)", "PBC N=3", "re-dilation"][i], 740, y - 80, 920, 480)
    _side_by_side(g, 1700, decoded, "posenc/ref4x_side_by_side")
    return g


def _sample_decode_save(g, x, y, model, pos, neg, latent, vae, steps, cfg, prefix, save_width):
    """KSampler at (x, y) -> VAE Decode -> SaveImage in a row; `pos`, `neg`, `model` are nodes
    (output 0; `neg` may be (node, slot)), `vae` is (node, slot).  Returns the decode node."""
    ks = _sampler(g, (x, y), steps=steps, cfg=cfg)
    g.link(model, 0, ks, "model")
    g.link(pos, 0, ks, "positive")
    g.link(*(neg if isinstance(neg, tuple) else (neg, 0)), ks, "negative")
    g.link(latent, 0, ks, "latent_image")
    dec = g.add("VAEDecode", (x + 350, y))
    g.link(ks, 0, dec, "samples")
    g.link(vae[0], vae[1], dec, "vae")
    save = g.add("SaveImage", (x + 600, y), {"filename_prefix": prefix}, width=save_width)
    g.link(dec, 0, save, "images")
    return dec


def _side_by_side(g, x, decoded, prefix, **stitch):
    """The decoded images stitched into one picture at (x, 40) and saved below it."""
    side = _stitch(g, (x, 40), decoded, **stitch)
    save = g.add("SaveImage", (x, 300), {"filename_prefix": prefix}, width=400)
    g.link(side, 0, save, "images")


def _dit_column(g, y, loader_values, class_label, steps, cfg, latent, vae, prefix, save_width):
    """One DiT row at height y: RPE-2D DiT Loader -> DiT Class Label -> KSampler -> VAE Decode ->
    SaveImage; returns the decode node (for the side-by-side picture)."""
    loader = g.add("RPE2DDiTLoader", (380, y), loader_values, width=400)
    label = g.add("DiTClassLabel", (380, y + 180), {"class_label": class_label})
    g.link(loader, 0, label, "model")
    return _sample_decode_save(g, 820, y, loader, label, (label, 1), latent, (vae, 0), steps, cfg,
                               prefix, save_width)


def tiny_dit_2x(oi):
    g = Graph(oi)
    g.add("Note", (0, -260), (
        "Tiny reference DiTs at 2x: vanilla vs RPE-2D (runs on a CPU in seconds)\n\n"
        "Two tiny pixel-space DiTs bundled with the pack (models/tiny_dit_vanilla.safetensors, "
        "models/tiny_dit_rpe2d.safetensors), trained at 32x32 on the same procedural scenes as the "
        "reference U-Net: one with fixed positions, one with RPE-2D (random sorted positions from a "
        "wider range). At 64x64 the vanilla DiT meets positions it never saw (position mode auto = "
        "first: 0..n-1); the RPE-2D one spreads its positions over the trained range (auto = "
        "linspace).\n\nSame seed for both; 25 DDIM steps, cfg 1. Output: each model's 4 images "
        "and one picture vanilla | RPE-2D."), width=560)
    latent = g.add("EmptyChromaRadianceLatentImage", (0, 500), {"width": 64, "height": 64, "batch_size": 4})
    vae = g.add("VAELoader", (0, 680), {"vae_name": "pixel_space"})
    decoded = []
    for i, name in enumerate(("vanilla", "rpe2d")):
        y = 40 + 400 * i
        decoded.append(_dit_column(
            g, y, {"dit_name": f"posenc-bundled/tiny_dit_{name}.safetensors",
                   "position_mode": "auto", "seed": 0}, 0, 25, 1.0, latent, vae,
            f"posenc/dit2x_{name}", 280))
        g.group(["vanilla DiT (fixed positions)", "RPE-2D DiT"][i], 360, y - 80, 1360, 410)
    _side_by_side(g, 1760, decoded, "posenc/dit2x_side_by_side")
    return g


def _unet_with_pbc(oi, title, ckpt, width, height, freeu, cfg, note):
    """Checkpoint -> FreeU_V2 -> (PBC) -> KSampler at a size above the model's base, side by side."""
    g = Graph(oi)
    g.add("Note", (0, -300), note, width=600)
    ckpt_node = g.add("CheckpointLoaderSimple", (0, 40), {"ckpt_name": ckpt["name"]}, models=[ckpt])
    pos = g.add("CLIPTextEncode", (0, 220), {"text": PROMPT}, width=400, title="positive")
    neg = g.add("CLIPTextEncode", (0, 420), {"text": NEGATIVE}, width=400, title="negative")
    g.link(ckpt_node, 1, pos, "clip")
    g.link(ckpt_node, 1, neg, "clip")
    latent = g.add("EmptyLatentImage", (0, 620), {"width": width, "height": height, "batch_size": 1})
    fu = g.add("FreeU_V2", (460, 40), dict(zip(("b1", "b2", "s1", "s2"), freeu)))
    g.link(ckpt_node, 0, fu, "model")
    pbc = g.add("PBCModelPatcher", (460, 500), {"boundaries": 31, "jitter": 1, "start_percent": 0.0,
                                                "end_percent": 0.5, "base_resolution": 0, "seed": 0})
    g.link(fu, 0, pbc, "model")
    decoded = []
    for i, (name, model) in enumerate((("freeu", fu), ("freeu_pbc", pbc))):
        y = 40 + 460 * i
        decoded.append(_sample_decode_save(g, 840, y, model, pos, neg, latent, (ckpt_node, 2), 50,
                                           cfg, f"posenc/{title}_{name}", 300))
        g.group(["FreeU_V2 only", "FreeU_V2 + PBC (N=31, first 25 of 50 steps)"][i], 820, y - 80, 940, 440)
    _side_by_side(g, 1800, decoded, f"posenc/{title}_side_by_side", spacing=16)
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
        "so every boundary is a horizontal line; the width is left alone. Open workflows/"
        "boundary_visualizer.json to see them. Same settings as the 2048x2048 workflow."))


def dit_xl_512(oi):
    g = Graph(oi)
    g.add("Note", (0, -300), (
        "Official DiT-XL/2-256 sampled at 512x512 (2x) with the position modes a vanilla DiT can use\n\n"
        "Needs: models/checkpoints/DiT-XL-2-256x256.pt (facebookresearch DiT: "
        "https://dl.fbaipublicfiles.com/DiT/models/DiT-XL-2-256x256.pt, loaded weights-only) and "
        "the SD VAE models/vae/vae-ft-mse-840000-ema-pruned.safetensors. A GPU is advised.\n\n"
        "One loader, three DiT Position Mode nodes on its MODEL (the checkpoint is loaded once). "
        "The official model was trained with fixed positions on a 16x16 grid; at 512 the grid is "
        "32x32. Branches: first = 0..31, plain extrapolation (what you get without this pack); "
        "interpolate = 32 fractional positions squeezed onto the trained 0..15 (positional "
        "interpolation); ntk = 0..31 with NTK-scaled sin-cos frequencies (yarn is the fourth "
        "choice). RPE-2D's own modes (linspace, random) need 32 distinct trained positions, i.e. a "
        "checkpoint trained with RPE-2D on L >= 32 (python -m posenc_lab.train_dit); with this "
        "one sampling stops with an error saying so.\n\n"
        "Class 207 (golden retriever), cfg 4, 50 DDIM steps, same seed."), width=620)
    vae = g.add("VAELoader", (0, 40), {"vae_name": SD_VAE["name"]}, models=[SD_VAE])
    latent = g.add("EmptyLatentImage", (0, 200), {"width": 512, "height": 512, "batch_size": 1})
    loader = g.add("RPE2DDiTLoader", (0, 400), {"dit_name": "DiT-XL-2-256x256.pt",
                                                "position_mode": "auto", "seed": 0}, width=400)
    label = g.add("DiTClassLabel", (0, 600), {"class_label": 207})
    g.link(loader, 0, label, "model")
    decoded = []
    for i, mode in enumerate(("first", "interpolate", "ntk")):
        y = 40 + 400 * i
        pm = g.add("DiTPositionMode", (460, y), {"mode": mode, "base_resolution": 0, "position_seed": 0},
                   width=320)
        g.link(loader, 0, pm, "model")
        decoded.append(_sample_decode_save(g, 820, y, pm, label, (label, 1), latent, (vae, 0), 50, 4.0,
                                           f"posenc/dit_xl_512_{mode}", 300))
        g.group(f"DiT Position Mode: {mode}", 440, y - 80, 1300, 420)
    _side_by_side(g, 1780, decoded, "posenc/dit_xl_512_side_by_side", spacing=16)
    return g


FLUX_DEV = {"name": "flux1-dev.safetensors", "directory": "diffusion_models",
            "url": "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/flux1-dev.safetensors"}
FLUX_AE = {"name": "ae.safetensors", "directory": "vae",
           "url": "https://huggingface.co/black-forest-labs/FLUX.1-dev/resolve/main/ae.safetensors"}
CLIP_L = {"name": "clip_l.safetensors", "directory": "text_encoders",
          "url": "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors"}
T5XXL = {"name": "t5xxl_fp16.safetensors", "directory": "text_encoders",
         "url": "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp16.safetensors"}
SD35 = {"name": "sd3.5_large.safetensors", "directory": "checkpoints",
        "url": "https://huggingface.co/stabilityai/stable-diffusion-3.5-large/resolve/main/sd3.5_large.safetensors"}
CLIP_G = {"name": "clip_g.safetensors", "directory": "text_encoders",
          "url": "https://huggingface.co/stabilityai/stable-diffusion-3.5-large/resolve/main/text_encoders/clip_g.safetensors"}


def _dit_modes(g, model, pos, neg, latent, vae, modes, steps, cfg, title, sampler, scheduler):
    """One DiT Position Mode node per mode on `model`, each sampled, decoded and saved, then side by side."""
    decoded = []
    for i, mode in enumerate(modes):
        y = 40 + 400 * i
        pm = g.add("DiTPositionMode", (520, y), {"mode": mode, "base_resolution": 0, "position_seed": 0},
                   width=320)
        g.link(model, 0, pm, "model")
        ks = _sampler(g, (880, y), steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler)
        g.link(pm, 0, ks, "model")
        g.link(pos, 0, ks, "positive")
        g.link(neg, 0, ks, "negative")
        g.link(latent, 0, ks, "latent_image")
        dec = g.add("VAEDecode", (1230, y))
        g.link(ks, 0, dec, "samples")
        g.link(vae[0], vae[1], dec, "vae")
        save = g.add("SaveImage", (1480, y), {"filename_prefix": f"posenc/{title}_{mode}"}, width=300)
        g.link(dec, 0, save, "images")
        decoded.append(dec)
        g.group(f"DiT Position Mode: {mode}", 500, y - 80, 1320, 420)
    _side_by_side(g, 1860, decoded, f"posenc/{title}_side_by_side", spacing=16)


def flux_dev_2048(oi):
    g = Graph(oi)
    g.add("Note", (0, -340), (
        "Flux dev at 2048x2048 (2x its 1024 base): first / interpolate / ntk / yarn\n\n"
        "Needs (not run here: no GPU; the graph passes ComfyUI's validation in the host tests): "
        "models/diffusion_models/flux1-dev.safetensors, models/text_encoders/clip_l.safetensors and "
        "t5xxl_fp16.safetensors, models/vae/ae.safetensors (the loaders carry the download "
        "addresses; flux1-dev is gated on Hugging Face). A GPU with memory for 2048x2048 "
        "(16,384 image tokens).\n\n"
        "One load, four DiT Position Mode nodes: first = the model as it is (RoPE positions "
        "0..127); interpolate = rows and columns squeezed onto 0..63; ntk = RoPE base theta * "
        "s^(d/(d-2)) per axis (s = 2); yarn = per-frequency blend plus attention temperature "
        "0.1 ln 2 + 1 on the rotations. Base auto = 1024. 20 steps, euler / simple, guidance 3.5, "
        "cfg 1, same seed."), width=620)
    unet = g.add("UNETLoader", (0, 40), {"unet_name": FLUX_DEV["name"], "weight_dtype": "default"},
                 models=[FLUX_DEV])
    clip = g.add("DualCLIPLoader", (0, 200), {"clip_name1": CLIP_L["name"], "clip_name2": T5XXL["name"],
                                             "type": "flux"}, models=[CLIP_L, T5XXL])
    vae = g.add("VAELoader", (0, 380), {"vae_name": FLUX_AE["name"]}, models=[FLUX_AE])
    text = g.add("CLIPTextEncode", (0, 520), {"text": PROMPT}, width=400, title="positive")
    g.link(clip, 0, text, "clip")
    guided = g.add("FluxGuidance", (0, 740), {"guidance": 3.5})
    g.link(text, 0, guided, "conditioning")
    neg = g.add("ConditioningZeroOut", (0, 880))
    g.link(text, 0, neg, "conditioning")
    latent = g.add("EmptySD3LatentImage", (0, 980), {"width": 2048, "height": 2048, "batch_size": 1})
    _dit_modes(g, unet, guided, neg, latent, (vae, 0), ("first", "interpolate", "ntk", "yarn"), 20, 1.0,
               "flux_dev_2048", "euler", "simple")
    return g


def sd35_2048(oi):
    g = Graph(oi)
    g.add("Note", (0, -340), (
        "SD3.5 Large at 2048x2048 (2x its 1024 base): first / interpolate / ntk / yarn\n\n"
        "Needs (not run here: no GPU; the graph passes ComfyUI's validation in the host tests): "
        "models/checkpoints/sd3.5_large.safetensors and models/text_encoders/clip_g.safetensors, "
        "clip_l.safetensors, t5xxl_fp16.safetensors (the loaders carry the download addresses; "
        "SD3.5 is gated on Hugging Face). A GPU.\n\n"
        "SD3.5 adds a sin-cos table to its tokens, cropped around the table's centre. first = the "
        "crop as it is (128 of the table's 192 positions per axis); interpolate = 128 positions "
        "squeezed into the 64 the model saw at 1024; ntk = the crop with NTK-scaled sin-cos "
        "frequencies; yarn = the crop with YaRN's per-frequency blend (no attention temperature: "
        "the table is added to the tokens, not rotated into q and k). Base auto = 1024. 28 steps, "
        "euler / sgm_uniform, cfg 4.5, same seed."), width=620)
    ckpt = g.add("CheckpointLoaderSimple", (0, 40), {"ckpt_name": SD35["name"]}, models=[SD35])
    clip = g.add("TripleCLIPLoader", (0, 200), {"clip_name1": CLIP_L["name"], "clip_name2": CLIP_G["name"],
                                               "clip_name3": T5XXL["name"]},
                 models=[dict(CLIP_L, url=CLIP_G["url"].replace("clip_g", "clip_l")), CLIP_G,
                         dict(T5XXL, url=CLIP_G["url"].replace("clip_g", "t5xxl_fp16"))])
    pos = g.add("CLIPTextEncode", (0, 400), {"text": PROMPT}, width=400, title="positive")
    neg = g.add("CLIPTextEncode", (0, 600), {"text": NEGATIVE}, width=400, title="negative")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    latent = g.add("EmptySD3LatentImage", (0, 800), {"width": 2048, "height": 2048, "batch_size": 1})
    _dit_modes(g, ckpt, pos, neg, latent, (ckpt, 2), ("first", "interpolate", "ntk", "yarn"), 28, 4.5,
               "sd35_2048", "euler", "sgm_uniform")
    return g


def boundary_visualizer(oi):
    g = Graph(oi)
    g.add("Note", (0, -260), (
        "Boundary Visualizer: where PBC puts its virtual boundaries (no model needed; instant)\n\n"
        "Top: SD 1.5 at 1024x1024 (base 512), the paper's N=31, one panel per U-Net level (4). "
        "Bottom: SDXL at 1024x3072 (width x height; base 1024, 3 levels) with N=3: only the height "
        "is larger than the base, so only horizontal boundaries.\n\nRed and opaque near the edge "
        "= small lambda, strong position signal; faint yellow near the centre = nearly transparent. "
        "The grid on the node follows the widgets as you edit them; connect a MODEL to read the "
        "base size and levels from it, or an IMAGE to draw over a sample."), width=560)
    for i, (w, h, base, n, levels) in enumerate(((1024, 1024, 512, 31, 4), (1024, 3072, 1024, 3, 3))):
        y = 40 + 640 * i
        vis = g.add("BoundaryVisualizer", (0, y), {"width": w, "height": h, "base_resolution": base,
                                                  "boundaries": n, "jitter": 1, "seed": 0,
                                                  "levels": levels}, width=400)
        save = g.add("SaveImage", (460, y), {"filename_prefix": f"posenc/boundaries_{w}x{h}_N{n}"},
                     width=500)
        g.link(vis, 0, save, "images")
    return g


WORKFLOWS = {
    "reference_unet_4x_direct_pbc_redilation": reference_unet_4x,
    "tiny_dit_2x_vanilla_vs_rpe2d": tiny_dit_2x,
    "sd15_1024_freeu_pbc": sd15_1024,
    "sdxl_2048_freeu_pbc": sdxl_2048,
    "sdxl_1024x3072_freeu_pbc": sdxl_1024x3072,
    "dit_xl2_256_at_512_position_modes": dit_xl_512,
    "flux_dev_2048_position_modes": flux_dev_2048,
    "sd35_large_2048_position_modes": sd35_2048,
    "boundary_visualizer": boundary_visualizer,
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
