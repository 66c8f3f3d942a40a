"""Soak run through ComfyUI's HTTP API (issue 34): a real server, many prompts, bad input, interrupts.

    python tools/soak.py --host /work/hosts/c0364                      # 200 valid, 80 bad, 20 interrupts
    python tools/soak.py --host HOST --valid 12 --bad 12 --interrupts 3  # the host test's short run
    COMFYUI_PATH=... COMFYUI_PYTHON=... python tools/soak.py             # a host given by the environment
    python tools/soak.py table                                           # the README's table, from docs/soak/

HOST is a folder with ComfyUI/ and venv/ (as tools/host_tests.sh takes it).  The script re-runs
itself in the host's Python (it needs torch, safetensors and Pillow to write model files and read
outputs).  From a fixed seed (--seed) it builds one plan and runs it on two servers, each started
as the host tests start theirs (posenc_lab/comfy_server.py: 127.0.0.1, a free port, --cpu, the pack
copied into custom_nodes/, one OpenMP thread, the host's default cache):

* a **reference server** runs only plain prompts (a bundled model, KSampler, no patch): the
  check prompts below, then every 8th valid prompt;
* the **soak server** runs a warm-up, then the stream: valid prompts mixing every pack node with
  the bundled models (random settings within the declared limits; PBC + re-dilation, position
  mode + a LoRA, hires-fix two-pass chains), bad prompts (wrong types, out-of-range and NaN/inf
  numbers, unknown combo values, missing inputs, old input names, a DiT into U-Net nodes and back,
  the largest sizes the nodes accept, `..` and absolute paths, corrupt / truncated / zero-byte /
  renamed-format / pickle-bomb files, a FIFO and a broken link in the models folders under names
  the loaders list) and samplings interrupted (/interrupt) while they run.  Every bad prompt and
  every interrupt is followed by a plain check prompt on the model loaded last (a seed of its own,
  so ComfyUI's cache never answers it).

It checks, and prints as figures: the server stays up; each bad prompt is refused (a validation
error or an execution error) with a message that names the input or the file (and, for a bad
file, says what is wrong with it; the largest accepted sizes may also complete), and the check
prompt after it gives the reference server's output bit for bit (latent and image); each
interrupt stops a running sampling and the check prompt after it gives the reference output bit
for bit; the valid prompts also run on the reference server give the same latent and image; the
soak server's resident memory (VmRSS; the median over the last 25 prompts) at the end is at most
5% above its value after the warm-up.
The exit code is 1 if any check fails.  --json writes the figures (docs/soak/comfyui-<version>.json
are such records); `table` prints the README's table from them (tests/test_soak.py holds the README
to it).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import statistics
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from posenc_lab import comfy_server  # noqa: E402  (standard library only)

PACK_NODES = ("PBCModelPatcher", "RedilationPatcher", "RPE2DDiTLoader", "DiTPositionMode", "DiTClassLabel",
              "BoundaryVisualizer", "ReferenceModelLoader", "ReferenceClassLabel")
UNETS = ("reference_unet.safetensors", "reference_unet_b.safetensors")
DITS = tuple(f"posenc-bundled/tiny_dit_{n}.safetensors" for n in ("vanilla", "rpe2d", "rope", "rope_rpe2d"))
REF_CLASSES = ("day", "dusk", "night", "desert")
LOADER_MODES = ("auto", "linspace", "random", "first", "interpolate", "ntk")
POSITION_MODES = ("first", "interpolate", "ntk", "yarn", "linspace", "random")
VANILLA_MODES = ("first", "interpolate", "ntk", "yarn")
SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2m", "ddim", "lms")
SCHEDULERS = ("normal", "karras", "simple", "sgm_uniform")
LORA = "soak_dit_lora.safetensors"
MAX_SEED = 2 ** 64 - 1
RSS_LIMIT = 0.05
RSS_WINDOW = 25     # the memory "after the warm-up" and "at the end": medians over this many prompts
BAD_CATEGORIES = ("wrong_type", "out_of_range", "nan_inf", "unknown_combo", "missing_input", "old_input_name",
                  "model_mismatch", "largest_size", "bad_path", "bad_file")


# ------------------------------------------------------------------------------------------------
# Prompts
# ------------------------------------------------------------------------------------------------

class Graph:
    """An API prompt under construction: add(class_type, **inputs) -> node id."""

    def __init__(self):
        self.nodes: dict = {}

    def add(self, class_type: str, **inputs) -> str:
        nid = str(len(self.nodes) + 1)
        self.nodes[nid] = {"class_type": class_type, "inputs": inputs}
        return nid

    def find(self, class_type: str) -> str:
        return next(n for n, v in self.nodes.items() if v["class_type"] == class_type)

    def inputs(self, class_type: str) -> dict:
        return self.nodes[self.find(class_type)]["inputs"]


@dataclass
class Prompt:
    kind: str
    graph: Graph
    loader: tuple            # (class_type, inputs) of the model loader: the check prompt reuses it
    samplers: list = field(default_factory=list)   # KSampler node ids, in run order
    category: str = ""       # bad prompts: the category
    names: tuple = ()        # bad prompts: what the message must name (any of these)
    may_complete: bool = False   # bad prompts: an accepted limit, which may also run
    before: str = ""         # bad prompts: a file to corrupt just before it is sent
    says: str = ""           # bad prompts: what the message must also say (what the file is)
    note: str = ""

    @property
    def prompt(self) -> dict:
        return self.graph.nodes


def _unet_loader(g: Graph, name: str):
    return g.add("ReferenceModelLoader", model_name=name), ("ReferenceModelLoader", {"model_name": name})


def _dit_loader(g: Graph, name: str, mode="auto", seed=0):
    inputs = {"dit_name": name, "position_mode": mode, "position_seed": seed}
    return g.add("RPE2DDiTLoader", **inputs), ("RPE2DDiTLoader", dict(inputs))


def _conditioning(g: Graph, loader_id: str, loader: tuple, label):
    """(positive, negative) for the model's family."""
    if loader[0] == "ReferenceModelLoader":
        pos = g.add("ReferenceClassLabel", class_label=REF_CLASSES[label])
        neg = g.add("ReferenceClassLabel", class_label="unconditional")
        return [pos, 0], [neg, 0]
    c = g.add("DiTClassLabel", model=[loader_id, 0], class_label=label)
    return [c, 0], [c, 1]


def _sample(g: Graph, model, pos, neg, latent, *, seed, steps, cfg, sampler="euler", scheduler="normal",
            denoise=1.0) -> str:
    return g.add("KSampler", model=model, positive=pos, negative=neg, latent_image=latent, seed=seed,
                 steps=steps, cfg=cfg, sampler_name=sampler, scheduler=scheduler, denoise=denoise)


def _finish(g: Graph, sampler_id: str, tag: str, latent=True):
    vae = g.add("VAELoader", vae_name="pixel_space")
    image = g.add("VAEDecode", samples=[sampler_id, 0], vae=[vae, 0])
    g.add("SaveImage", images=[image, 0], filename_prefix=f"soak/{tag}")
    if latent:
        g.add("SaveLatent", samples=[sampler_id, 0], filename_prefix=f"soak/{tag}")
    return image


def _settings(rng: random.Random, steps=(2, 5)):
    return dict(seed=rng.randrange(MAX_SEED), steps=rng.randint(*steps), cfg=round(rng.uniform(1.0, 4.0), 1),
                sampler=rng.choice(SAMPLERS), scheduler=rng.choice(SCHEDULERS))


def _window(rng: random.Random):
    start = rng.choice((0.0, 0.0, 0.1, 0.25))
    return start, max(start, rng.choice((0.5, 0.75, 1.0)))


def _pbc(g: Graph, model, rng: random.Random, **over):
    start, end = _window(rng)
    inputs = dict(model=model, boundaries=rng.choice((0, 1, 2, 3, 3, 4, 5, 8)), jitter=rng.randint(0, 4),
                  start_percent=start, end_percent=end, base_resolution=rng.choice((0, 0, 16, 24, 32)),
                  jitter_seed=rng.randrange(MAX_SEED))
    inputs.update(over)
    return [g.add("PBCModelPatcher", **inputs), 0]


def _redilation(g: Graph, model, rng: random.Random, **over):
    start, end = _window(rng)
    inputs = dict(model=model, start_percent=start, end_percent=end, base_resolution=rng.choice((0, 0, 16, 32)))
    inputs.update(over)
    return [g.add("RedilationPatcher", **inputs), 0]


def _position_mode(g: Graph, model, dit: str, rng: random.Random, **over):
    modes = POSITION_MODES if "rpe2d" in dit else VANILLA_MODES
    inputs = dict(model=model, mode=rng.choice(modes), base_resolution=rng.choice((0, 0, 16, 32)),
                  position_seed=rng.randrange(MAX_SEED))
    inputs.update(over)
    return [g.add("DiTPositionMode", **inputs), 0]


VALID_KINDS = ("unet_plain", "unet_pbc", "unet_redilation", "unet_pbc_redilation", "unet_hires_pbc",
               "unet_visualizer", "dit_plain", "dit_position_mode", "dit_lora_position_mode", "dit_hires_position_mode",
               "visualizer")


def valid_prompt(kind: str, rng: random.Random, tag: str, *, largest=False, long=False) -> Prompt:
    """One valid prompt of `kind` with random settings (largest: the largest sizes the soak samples
    at; long: many steps, for an interrupt)."""
    g = Graph()
    if kind == "visualizer":
        big = largest or rng.random() < 0.1
        w = 2048 if largest else rng.randrange(64, 2049 if big else 1025, 8)
        h = 2048 if largest else rng.randrange(64, 2049 if big else 1025, 8)
        inputs = dict(width=w, height=h, base_resolution=rng.choice((0, 0, 256, 512, 1024)),
                      boundaries=31 if largest else rng.randint(0, 31), jitter=rng.randint(0, 8),
                      jitter_seed=rng.randrange(MAX_SEED), levels=8 if largest else rng.randint(0, 8))
        loader = ("", {})
        if rng.random() < 0.5:
            lid, loader = _unet_loader(g, rng.choice(UNETS))
            inputs["model"] = [lid, 0]
        v = g.add("BoundaryVisualizer", **inputs)
        g.add("SaveImage", images=[v, 0], filename_prefix=f"soak/{tag}")
        return Prompt(kind, g, loader)
    unet = kind.startswith("unet")
    size = 64 if largest or long else rng.choice((32, 48, 64))
    s = _settings(rng, (24, 36) if long else (2, 5))
    if long:
        s["sampler"], s["scheduler"] = "euler", "normal"
    if unet:
        lid, loader = _unet_loader(g, rng.choice(UNETS))
    else:
        dit = rng.choice(DITS)
        # linspace / random pick distinct trained positions: a vanilla DiT knows its 32 px grid only
        modes = LOADER_MODES if "rpe2d" in dit or size == 32 else ("auto", "first", "interpolate", "ntk")
        mode = rng.choice(modes) if kind == "dit_plain" else "auto"
        lid, loader = _dit_loader(g, dit, mode, rng.randrange(MAX_SEED) if mode == "random" else 0)
    model = [lid, 0]
    pos, neg = _conditioning(g, lid, loader, rng.randrange(4))
    window = dict(start_percent=0.0, end_percent=1.0) if long else {}   # active when the interrupt comes
    if kind in ("unet_pbc", "unet_hires_pbc"):
        model = _pbc(g, model, rng, **window)
    elif kind == "unet_redilation":
        model = _redilation(g, model, rng, **window)
    elif kind == "unet_pbc_redilation":
        first, second = (_pbc, _redilation) if rng.random() < 0.5 else (_redilation, _pbc)
        model = second(g, first(g, model, rng, **window), rng, **window)
    elif kind in ("dit_position_mode", "dit_hires_position_mode"):
        model = _position_mode(g, model, loader[1]["dit_name"], rng)
    elif kind == "dit_lora_position_mode":
        strength = round(rng.uniform(-1.0, 1.0), 2)
        if rng.random() < 0.5:
            model = _position_mode(g, [g.add("LoraLoaderModelOnly", model=model, lora_name=LORA,
                                             strength_model=strength), 0], loader[1]["dit_name"], rng)
        else:
            model = [g.add("LoraLoaderModelOnly", model=_position_mode(g, model, loader[1]["dit_name"], rng),
                           lora_name=LORA, strength_model=strength), 0]
    hires = kind.endswith("hires_pbc") or kind.endswith("hires_position_mode")
    first_size = 32 if hires else size
    latent = g.add("EmptyChromaRadianceLatentImage", width=first_size, height=first_size,
                   batch_size=1 if long or largest or rng.random() < 0.8 else 2)
    plain = [lid, 0] if hires else model
    samplers = [_sample(g, plain, pos, neg, [latent, 0], **s)]
    if hires:   # two-pass hires fix: the patch on the second pass only
        scale = 2.0 if largest or long else rng.choice((1.5, 2.0))
        up = g.add("LatentUpscaleBy", samples=[samplers[0], 0], upscale_method=rng.choice(("nearest-exact", "bilinear", "bicubic")),
                   scale_by=scale)
        s2 = _settings(rng, (24, 36) if long else (2, 4))
        samplers.append(_sample(g, model, pos, neg, [up, 0], **dict(s2, sampler="euler" if long else s2["sampler"]),
                                denoise=round(rng.uniform(0.4, 0.7), 2)))
    image = _finish(g, samplers[-1], tag)
    if kind == "unet_visualizer":
        v = g.add("BoundaryVisualizer", width=size, height=size, base_resolution=0, boundaries=rng.randint(0, 8),
                  jitter=rng.randint(0, 4), jitter_seed=rng.randrange(MAX_SEED), levels=0, image=[image, 0],
                  model=model)
        g.add("SaveImage", images=[v, 0], filename_prefix=f"soak/{tag}_boundaries")
    return Prompt(kind, g, loader, samplers)


def check_prompt(loader: tuple, seed: int, tag: str) -> Prompt:
    """A plain prompt (no patch) on the same loader node as `loader`: 32x32, 3 steps."""
    g = Graph()
    if loader[0] == "RPE2DDiTLoader":
        i = loader[1]
        lid, loader = _dit_loader(g, i["dit_name"], i["position_mode"], i["position_seed"])
    else:
        lid, loader = _unet_loader(g, loader[1].get("model_name", UNETS[0]))
    pos, neg = _conditioning(g, lid, loader, 0)
    latent = g.add("EmptyChromaRadianceLatentImage", width=32, height=32, batch_size=1)
    ks = _sample(g, [lid, 0], pos, neg, [latent, 0], seed=seed, steps=3, cfg=2.0)
    _finish(g, ks, tag)
    return Prompt("check", g, loader, [ks])


# ------------------------------------------------------------------------------------------------
# Bad prompts: each case mutates a valid prompt (or builds one) and says what the refusal must name
# ------------------------------------------------------------------------------------------------

# Files placed in models/checkpoints (listed by the DiT loader) and in the pack's own models/ folder.
BAD_FILES = ("soak_zero.safetensors", "soak_truncated.safetensors", "soak_random.safetensors",
             "soak_bad_header.safetensors", "soak_safetensors_named.ckpt", "soak_pickle_named.safetensors",
             "soak_calls_code.pt", "soak_zip_bomb.pt", "soak_stretched.pt", "soak_legacy.pth", "soak_laughs.pt",
             "soak_unet_not_dit.safetensors", "soak_special.safetensors", "soak_broken_link.safetensors")
# What the message must also say about the file (beyond its name): what it is.
FILE_SAYS = {"soak_zero.safetensors": "empty", "soak_truncated.safetensors": "corrupt",
             "soak_safetensors_named.ckpt": "renamed", "soak_pickle_named.safetensors": "renamed",
             "soak_calls_code.pt": "arbitrary code", "soak_zip_bomb.pt": "compressed",
             "soak_stretched.pt": "stores only", "soak_legacy.pth": "legacy format",
             "soak_unet_not_dit.safetensors": "not a DiT", "soak_special.safetensors": "FIFO",
             "soak_broken_link.safetensors": "broken symbolic link"}
CORRUPTED_LATER = ("posenc-bundled/tiny_dit_zz_truncated.safetensors", "reference_unet_zz_truncated.safetensors")


def _base(rng, kind, tag):
    return valid_prompt(kind, rng, tag)


def _set(p: Prompt, class_type: str, **inputs) -> Prompt:
    p.graph.inputs(class_type).update(inputs)
    return p


def _drop(p: Prompt, class_type: str, *names) -> Prompt:
    for n in names:
        p.graph.inputs(class_type).pop(n)
    return p


def _bad(p: Prompt, category: str, names, note: str, may_complete=False, before="") -> Prompt:
    p.category, p.names, p.note, p.may_complete, p.before = category, tuple(names), note, may_complete, before
    return p


def _dit_with(rng, tag, name) -> Prompt:
    g = Graph()
    lid, loader = _dit_loader(g, name)
    pos, neg = _conditioning(g, lid, loader, 0)
    latent = g.add("EmptyChromaRadianceLatentImage", width=32, height=32, batch_size=1)
    ks = _sample(g, [lid, 0], pos, neg, [latent, 0], **_settings(rng))
    _finish(g, ks, tag)
    return Prompt("bad", g, loader, [ks])


def _bad_cases():
    """{category: [maker(rng, tag) -> Prompt]}."""
    def base(kind):
        return lambda rng, tag: _base(rng, kind, tag)

    pbc, red, vis = base("unet_pbc"), base("unet_redilation"), base("visualizer")
    dpm, dit, unet = base("dit_position_mode"), base("dit_plain"), base("unet_plain")

    def link(p, class_type, name, target_class, slot=0):
        p.graph.inputs(class_type)[name] = [p.graph.find(target_class), slot]
        return p

    def mismatch_cond_dit_into_unet(rng, tag):
        p = unet(rng, tag)
        lid, loader = _dit_loader(p.graph, DITS[0])
        c = p.graph.add("DiTClassLabel", model=[lid, 0], class_label=0)
        ks = p.graph.nodes[p.samplers[0]]["inputs"]
        ks["positive"], ks["negative"] = [c, 0], [c, 1]
        return _bad(p, "model_mismatch", ["DiT Class Label"], "DiT Class Label conditioning into a reference U-Net's KSampler")

    def mismatch_cond_unet_into_dit(rng, tag):
        p = dit(rng, tag)
        pos = p.graph.add("ReferenceClassLabel", class_label="day")
        neg = p.graph.add("ReferenceClassLabel", class_label="unconditional")
        ks = p.graph.nodes[p.samplers[0]]["inputs"]
        ks["positive"], ks["negative"] = [pos, 0], [neg, 0]
        return _bad(p, "model_mismatch", ["Reference Class Label"], "Reference Class Label conditioning into a DiT's KSampler")

    def dit_into(class_type):
        def make(rng, tag):
            p = {"PBCModelPatcher": pbc, "RedilationPatcher": red}.get(class_type, unet)(rng, tag)
            lid, _ = _dit_loader(p.graph, rng.choice(DITS))
            if class_type == "BoundaryVisualizer":
                p.graph.add("SaveImage", filename_prefix=f"soak/{tag}_v", images=[p.graph.add(
                    "BoundaryVisualizer", width=64, height=64, base_resolution=0, boundaries=3, jitter=1,
                    jitter_seed=0, levels=0, model=[lid, 0]), 0])
            else:
                p.graph.inputs(class_type)["model"] = [lid, 0]
            return _bad(p, "model_mismatch", ["this model"], f"a DiT into {class_type}")
        return make

    def unet_into_position_mode(rng, tag):
        p = dpm(rng, tag)
        lid, _ = _unet_loader(p.graph, rng.choice(UNETS))
        p.graph.inputs("DiTPositionMode")["model"] = [lid, 0]
        return _bad(p, "model_mismatch", ["this model"], "a reference U-Net into DiT Position Mode")

    def unet_into_class_label(rng, tag):
        p = dit(rng, tag)
        lid, _ = _unet_loader(p.graph, rng.choice(UNETS))
        p.graph.inputs("DiTClassLabel")["model"] = [lid, 0]
        return _bad(p, "model_mismatch", ["this MODEL"], "a reference U-Net into DiT Class Label")

    def file_case(name):
        def make(rng, tag):
            p = _bad(_dit_with(rng, tag, name), "bad_file", [name.rsplit("/", 1)[-1]], f"DiT loader: {name}")
            p.says = FILE_SAYS.get(name, "")
            return p
        return make

    def truncated_later_dit(rng, tag):
        name = CORRUPTED_LATER[0]
        return _bad(_dit_with(rng, tag, name), "bad_file", ["dit_name", name.rsplit("/", 1)[-1]],
                    f"DiT loader: bundled {name} truncated while the server runs", before=name)

    def truncated_later_unet(rng, tag):
        name = CORRUPTED_LATER[1]
        p = _set(unet(rng, tag), "ReferenceModelLoader", model_name=name)
        return _bad(p, "bad_file", ["model_name", name], f"Reference loader: {name} truncated while the server runs",
                    before=name)

    nan, inf = float("nan"), float("inf")
    return {
        "wrong_type": [
            lambda rng, t: _bad(link(pbc(rng, t), "PBCModelPatcher", "model", "ReferenceClassLabel"), "wrong_type", ["model"], "CONDITIONING into PBC's model"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", boundaries="three"), "wrong_type", ["boundaries"], "boundaries 'three'"),
            lambda rng, t: _bad(_set(red(rng, t), "RedilationPatcher", start_percent="half"), "wrong_type", ["start_percent"], "start_percent 'half'"),
            lambda rng, t: _bad(_set(dit(rng, t), "DiTClassLabel", class_label=[1, 2, 3]), "wrong_type", ["class_label"], "class_label [1, 2, 3]"),
            lambda rng, t: _bad(link(dpm(rng, t), "DiTPositionMode", "model", "DiTClassLabel"), "wrong_type", ["model"], "CONDITIONING into DiT Position Mode's model"),
            lambda rng, t: _bad(_set(vis(rng, t), "BoundaryVisualizer", levels={"n": 3}), "wrong_type", ["levels"], "levels {'n': 3}"),
        ],
        "out_of_range": [
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", boundaries=257), "out_of_range", ["boundaries"], "boundaries 257"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", jitter=65), "out_of_range", ["jitter"], "jitter 65"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", end_percent=1.5), "out_of_range", ["end_percent"], "end_percent 1.5"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", start_percent=0.8, end_percent=0.2), "out_of_range", ["start_percent"], "start_percent 0.8 > end_percent 0.2"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", base_resolution=12), "out_of_range", ["base_resolution"], "base_resolution 12 (not a multiple of 8)"),
            lambda rng, t: _bad(_set(red(rng, t), "RedilationPatcher", base_resolution=16392), "out_of_range", ["base_resolution"], "base_resolution 16392"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", jitter_seed=-1), "out_of_range", ["jitter_seed"], "jitter_seed -1"),
            lambda rng, t: _bad(_set(dit(rng, t), "DiTClassLabel", class_label=4), "out_of_range", ["class label", "class_label"], "class_label 4 (the tiny DiTs have 4 classes)"),
            lambda rng, t: _bad(_set(dpm(rng, t), "DiTPositionMode", base_resolution=20), "out_of_range", ["base_resolution"], "DiT Position Mode base_resolution 20"),
            lambda rng, t: _bad(_set(vis(rng, t), "BoundaryVisualizer", levels=9), "out_of_range", ["levels"], "levels 9"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", position_seed=2 ** 64), "out_of_range", ["position_seed"], "position_seed 2**64"),
        ],
        "nan_inf": [
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", start_percent=nan), "nan_inf", ["start_percent"], "start_percent NaN"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", end_percent=nan), "nan_inf", ["end_percent"], "end_percent NaN"),
            lambda rng, t: _bad(_set(red(rng, t), "RedilationPatcher", end_percent=nan), "nan_inf", ["end_percent"], "re-dilation end_percent NaN"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", end_percent=inf), "nan_inf", ["end_percent"], "end_percent inf"),
            lambda rng, t: _bad(_set(red(rng, t), "RedilationPatcher", start_percent=-inf), "nan_inf", ["start_percent"], "start_percent -inf"),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", boundaries=nan), "nan_inf", ["boundaries"], "boundaries NaN"),
            lambda rng, t: _bad(_set(vis(rng, t), "BoundaryVisualizer", width=inf), "nan_inf", ["width"], "width inf"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", position_seed=nan), "nan_inf", ["position_seed"], "position_seed NaN"),
            lambda rng, t: _bad(_set(dpm(rng, t), "DiTPositionMode", base_resolution=nan), "nan_inf", ["base_resolution"], "DiT Position Mode base_resolution NaN"),
        ],
        "unknown_combo": [
            lambda rng, t: _bad(_set(unet(rng, t), "ReferenceClassLabel", class_label="sunrise"), "unknown_combo", ["class_label"], "class_label 'sunrise'"),
            lambda rng, t: _bad(_set(unet(rng, t), "ReferenceModelLoader", model_name="reference_unet_c.safetensors"), "unknown_combo", ["model_name"], "model_name not in the list"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", position_mode="yarn"), "unknown_combo", ["position_mode"], "loader position_mode 'yarn' (a DiT Position Mode mode)"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", dit_name="posenc-bundled/tiny_dit_xl.safetensors"), "unknown_combo", ["dit_name"], "dit_name not in the list"),
            lambda rng, t: _bad(_set(dpm(rng, t), "DiTPositionMode", mode="extrapolate"), "unknown_combo", ["mode"], "mode 'extrapolate'"),
        ],
        "missing_input": [
            lambda rng, t: _bad(_drop(pbc(rng, t), "PBCModelPatcher", "boundaries"), "missing_input", ["boundaries"], "PBC without boundaries"),
            lambda rng, t: _bad(_drop(dit(rng, t), "RPE2DDiTLoader", "dit_name"), "missing_input", ["dit_name"], "DiT loader without dit_name"),
            lambda rng, t: _bad(_drop(dit(rng, t), "DiTClassLabel", "model"), "missing_input", ["model"], "DiT Class Label without model"),
            lambda rng, t: _bad(_drop(vis(rng, t), "BoundaryVisualizer", "width"), "missing_input", ["width"], "Visualizer without width"),
            lambda rng, t: _bad(_drop(unet(rng, t), "ReferenceClassLabel", "class_label"), "missing_input", ["class_label"], "Reference Class Label without class_label"),
            lambda rng, t: _bad(_drop(red(rng, t), "RedilationPatcher", "end_percent"), "missing_input", ["end_percent"], "re-dilation without end_percent"),
        ],
        "old_input_name": [
            lambda rng, t: _bad(_rename(pbc(rng, t), "PBCModelPatcher", "jitter_seed", "seed"), "old_input_name", ["jitter_seed"], "PBC 'seed' (now jitter_seed)"),
            lambda rng, t: _bad(_rename(vis(rng, t), "BoundaryVisualizer", "jitter_seed", "seed"), "old_input_name", ["jitter_seed"], "Visualizer 'seed' (now jitter_seed)"),
            lambda rng, t: _bad(_rename(dit(rng, t), "RPE2DDiTLoader", "position_seed", "seed"), "old_input_name", ["position_seed"], "DiT loader 'seed' (now position_seed)"),
        ],
        "model_mismatch": [dit_into("PBCModelPatcher"), dit_into("RedilationPatcher"), dit_into("BoundaryVisualizer"),
                           unet_into_position_mode, unet_into_class_label, mismatch_cond_dit_into_unet,
                           mismatch_cond_unet_into_dit],
        "largest_size": [
            lambda rng, t: _bad(_largest_visualizer(rng, t), "largest_size", ["width", "height"], "Visualizer 16384x16384, N 256, 8 levels, jitter 64", may_complete=True),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", boundaries=256, jitter=64, base_resolution=8, start_percent=0.0, end_percent=1.0),
                                "largest_size", ["boundaries"], "PBC N 256, jitter 64, base 8, every step", may_complete=True),
            lambda rng, t: _bad(_set(dit(rng, t), "DiTClassLabel", class_label=1 << 20), "largest_size", ["class label", "class_label"], "class_label 2**20 (the limit)"),
            lambda rng, t: _bad(_set(dpm(rng, t), "DiTPositionMode", base_resolution=16384), "largest_size", ["base_resolution"], "DiT Position Mode base 16384", may_complete=True),
            lambda rng, t: _bad(_set(red(rng, t), "RedilationPatcher", base_resolution=8, start_percent=0.0, end_percent=1.0), "largest_size", ["base_resolution"], "re-dilation base 8 (dilation 8 at 64 px), every step", may_complete=True),
            lambda rng, t: _bad(_set(pbc(rng, t), "PBCModelPatcher", jitter_seed=MAX_SEED), "largest_size", ["jitter_seed"], "jitter_seed 2**64-1", may_complete=True),
        ],
        "bad_path": [
            lambda rng, t: _bad(_set(unet(rng, t), "ReferenceModelLoader", model_name="../reference_unet.safetensors"), "bad_path", ["model_name"], "model_name '../reference_unet.safetensors'"),
            lambda rng, t: _bad(_set(unet(rng, t), "ReferenceModelLoader", model_name="@PACK@/models/reference_unet.safetensors"), "bad_path", ["model_name"], "model_name: the absolute path of a bundled model"),
            lambda rng, t: _bad(_set(unet(rng, t), "ReferenceModelLoader", model_name="models/../reference_unet.safetensors"), "bad_path", ["model_name"], "model_name 'models/../reference_unet.safetensors'"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", dit_name="posenc-bundled/../reference_unet.safetensors"), "bad_path", ["dit_name"], "dit_name 'posenc-bundled/../...'"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", dit_name="/etc/passwd"), "bad_path", ["dit_name"], "dit_name '/etc/passwd'"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", dit_name="@PACK@/models/tiny_dit_vanilla.safetensors"), "bad_path", ["dit_name"], "dit_name: the absolute path of a bundled DiT"),
            lambda rng, t: _bad(_set(dit(rng, t), "RPE2DDiTLoader", dit_name="../checkpoints/soak_truncated.safetensors"), "bad_path", ["dit_name"], "dit_name '../checkpoints/...'"),
        ],
        "bad_file": [file_case(n) for n in BAD_FILES] + [truncated_later_dit, truncated_later_unet],
    }


BAD_CASES = sum(len(v) for v in _bad_cases().values())


def _rename(p: Prompt, class_type: str, new: str, old: str) -> Prompt:
    inputs = p.graph.inputs(class_type)
    inputs[old] = inputs.pop(new)
    return p


def _largest_visualizer(rng, tag) -> Prompt:
    g = Graph()
    v = g.add("BoundaryVisualizer", width=16384, height=16384, base_resolution=8, boundaries=256, jitter=64,
              jitter_seed=rng.randrange(MAX_SEED), levels=8)
    g.add("SaveImage", images=[v, 0], filename_prefix=f"soak/{tag}")
    return Prompt("bad", g, ("", {}))


# ------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------

def bad_case_order(cases: dict, n: int) -> list:
    """n case makers: the categories in turn, each category's next case (a category whose cases
    are all used waits for the others), then again from the start.  n >= the number of categories
    covers every category; n >= the number of cases (BAD_CASES) covers every case."""
    order, rounds = [], max(len(v) for v in cases.values())
    for r in range(rounds):
        order += [cases[c][r] for c in BAD_CATEGORIES if r < len(cases[c])]
    return [order[i % len(order)] for i in range(n)]


@dataclass
class Plan:
    warmup: list
    stream: list          # [("valid" | "bad" | "interrupt" | "check", Prompt)]
    reference: list       # prompts the reference server runs (checks, then the compared valid prompts)
    compared: set         # ids (tags) of the valid prompts also run on the reference server


def build_plan(seed: int, n_valid: int, n_bad: int, n_interrupts: int) -> Plan:
    """The whole run, from `seed` alone: warm-up, stream, reference prompts."""
    rng = random.Random(seed)
    cases = _bad_cases()
    # Warm-up: the largest visualizer, every kind at the largest size the soak samples at, a bad
    # prompt of each category, an interrupt, then valid prompts of every kind (half as many as the run
    # has; none in a run under 100, whose memory is not judged), so that
    # the memory after it is that of the server at work: the process's heap settles after a few
    # hundred prompts (docs/reliability.md).  (The plan draws its random numbers in this order:
    # changing it changes every prompt.)
    warmup = [("bad", cases["largest_size"][0](rng, "warmup_largest_visualizer"))]
    warmup += [("valid", valid_prompt(k, rng, f"warmup_{k}", largest=True)) for k in VALID_KINDS]
    warmup += [("bad", cases[c][0](rng, f"warmup_bad_{c}")) for c in BAD_CATEGORIES]
    warmup += [("interrupt", valid_prompt("unet_pbc", rng, "warmup_interrupt", long=True))]
    warmup += [("valid", valid_prompt(VALID_KINDS[i % len(VALID_KINDS)], rng, f"warmup2_{i:03d}"))
               for i in range(n_valid // 2 if n_valid >= 100 else 0)]
    valid = [valid_prompt(VALID_KINDS[i % len(VALID_KINDS)], rng, f"valid_{i:03d}") for i in range(n_valid)]
    rng.shuffle(valid)
    bad = [maker(rng, f"bad_{i:03d}") for i, maker in enumerate(bad_case_order(cases, n_bad))]
    interrupt_kinds = ("unet_pbc", "dit_position_mode", "unet_pbc_redilation", "dit_lora_position_mode",
                       "unet_hires_pbc", "dit_plain", "unet_redilation", "dit_hires_position_mode")
    interrupts = [valid_prompt(interrupt_kinds[i % len(interrupt_kinds)], rng, f"interrupt_{i:03d}", long=True)
                  for i in range(n_interrupts)]
    events = ["valid"] * n_valid + ["bad"] * n_bad + ["interrupt"] * n_interrupts
    rng.shuffle(events)
    if events and events[0] != "valid" and n_valid:   # a model has been loaded before the first check
        events.remove("valid")
        events.insert(0, "valid")
    stream, reference, last_loader, checks = [], [], ("ReferenceModelLoader", {"model_name": UNETS[0]}), 0
    pools = {"valid": iter(valid), "bad": iter(bad), "interrupt": iter(interrupts)}
    for event in events:
        p = next(pools[event])
        stream.append((event, p))
        if p.loader[0] and event != "bad":
            last_loader = p.loader
        if event in ("bad", "interrupt"):
            c = check_prompt(last_loader, 1000 + checks, f"check_{checks:03d}")
            checks += 1
            stream.append(("check", c))
            reference.append(c)
    compared = set()
    for p in valid[::8]:
        reference.append(p)
        compared.add(_tag(p))
    return Plan(warmup, stream, reference, compared)


def _tag(p: Prompt) -> str:
    for node in p.prompt.values():
        if node["class_type"] == "SaveImage":
            return node["inputs"]["filename_prefix"].split("/", 1)[-1]
    return ""


# ------------------------------------------------------------------------------------------------
# Files in the models folders
# ------------------------------------------------------------------------------------------------

def prepare_files(base: Path, seed: int) -> None:
    """The LoRA, the bad files (models/checkpoints) and the pack's extra models (its models/ folder)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    pack = base / "custom_nodes" / comfy_server.PACK_FOLDER / "models"
    models = base / "models"
    for d in ("checkpoints", "diffusion_models", "loras"):
        (models / d).mkdir(parents=True, exist_ok=True)
    ck = models / "checkpoints"
    g = torch.Generator().manual_seed(seed)
    vanilla = pack / "tiny_dit_vanilla.safetensors"
    with safe_open(str(vanilla), "pt") as f:
        sd = {k: f.get_tensor(k) for k in f.keys()}
    lora = {}
    for k, w in sd.items():
        if k.endswith(("attn.qkv.weight", "attn.proj.weight")):
            stem = "diffusion_model." + k[: -len(".weight")]
            lora[stem + ".lora_up.weight"] = torch.randn(w.shape[0], 4, generator=g) * 0.1
            lora[stem + ".lora_down.weight"] = torch.randn(4, w.shape[1], generator=g) * 0.1
    save_file(lora, str(models / "loras" / LORA))
    data = vanilla.read_bytes()
    (ck / "soak_zero.safetensors").write_bytes(b"")
    (ck / "soak_truncated.safetensors").write_bytes(data[: len(data) * 3 // 5])
    (ck / "soak_random.safetensors").write_bytes(random.Random(seed).randbytes(65536))
    (ck / "soak_bad_header.safetensors").write_bytes((200).to_bytes(8, "little") + b"{" + b"\x00garbage" * 40)
    (ck / "soak_safetensors_named.ckpt").write_bytes(data)
    torch.save(sd, str(ck / "soak_pickle_named.safetensors"))
    _code_pickle(ck / "soak_calls_code.pt", base / "PICKLE_RAN")
    _zip_bomb(ck / "soak_zip_bomb.pt", sd)
    stretched = dict(sd)
    stretched["pos_embed"] = torch.zeros(1, 1, 1).expand(1, 256 * 256, sd["pos_embed"].shape[-1])
    torch.save(stretched, str(ck / "soak_stretched.pt"))      # 4 bytes stored, a 256x256 grid claimed
    torch.save(sd, str(ck / "soak_legacy.pth"), _use_new_zipfile_serialization=False)
    _laughs(ck / "soak_laughs.pt")
    shutil.copy(pack / "reference_unet.safetensors", ck / "soak_unet_not_dit.safetensors")
    os.mkfifo(ck / "soak_special.safetensors")
    (ck / "soak_broken_link.safetensors").symlink_to(base / "nowhere.safetensors")
    # The pack's own folder: two copies corrupted while the server runs, a FIFO and a broken link
    # that the bundled lists must skip (reading the FIFO would block the server).
    shutil.copy(vanilla, pack / "tiny_dit_zz_truncated.safetensors")
    shutil.copy(pack / "reference_unet_b.safetensors", pack / "reference_unet_zz_truncated.safetensors")
    os.mkfifo(pack / "tiny_dit_zz_fifo.safetensors")
    (pack / "reference_unet_zz_gone.safetensors").symlink_to(base / "nowhere.safetensors")


def _code_pickle(path: Path, marker: Path) -> None:
    import torch

    class Calls:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    torch.save({"pos_embed": torch.zeros(1), "payload": Calls()}, str(path))


def _zip_bomb(path: Path, sd: dict) -> None:
    """A torch archive whose one 256 MiB tensor is stored deflated (about 250 KB)."""
    import io
    import zipfile

    import torch
    buf = io.BytesIO()
    torch.save(dict(sd, pos_embed=torch.zeros(1, 1 << 26)), buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            method = zipfile.ZIP_DEFLATED if "/data/" in info.filename else zipfile.ZIP_STORED
            dst.writestr(info.filename, src.read(info.filename), compress_type=method)


def _laughs(path: Path) -> None:
    """A torch archive whose pickle is a 'billion laughs': ten lists of ten references, nested nine
    deep (10**9 elements if expanded), in a few hundred bytes."""
    import io
    import pickle
    import zipfile
    level = [0]
    for _ in range(9):
        level = [level] * 10
    data = pickle.dumps({"layers": level}, protocol=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in (("archive/data.pkl", data), ("archive/byteorder", b"little"), ("archive/version", b"3\n")):
            z.writestr(name, content)
    path.write_bytes(buf.getvalue())


def corrupt(pack: Path, name: str) -> None:
    """Truncate a file of the pack's models/ folder while the server runs (a half-finished copy)."""
    path = pack / "models" / name.rsplit("/", 1)[-1]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ------------------------------------------------------------------------------------------------
# The client: HTTP, a websocket for progress, outputs, memory
# ------------------------------------------------------------------------------------------------

class Events(threading.Thread):
    """ComfyUI's /ws messages (a minimal RFC 6455 client: text frames, pings): the last progress
    value of each (prompt, node)."""

    def __init__(self, url: str, client_id: str):
        super().__init__(daemon=True)
        host, port = url.split("//", 1)[1].strip("/").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")
        self.sock.settimeout(None)
        self.progress: dict = {}
        self.finished: set = set()
        self.cond = threading.Condition()

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("websocket closed")
            out += chunk
        return out

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def run(self):
        message = b""
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(self._read(2), "big")
                elif n == 127:
                    n = int.from_bytes(self._read(8), "big")
                payload = self._read(n)
                opcode = b0 & 0x0F
                if opcode == 9:
                    self._send(10, payload)
                elif opcode == 8:
                    return
                elif opcode in (0, 1):
                    message += payload
                    if b0 & 0x80:
                        self._handle(message)
                        message = b""
        except (OSError, ConnectionError):
            return

    def _handle(self, raw: bytes):
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        kind, d = msg.get("type"), msg.get("data") or {}
        if kind == "progress":
            with self.cond:
                self.progress[(d.get("prompt_id"), str(d.get("node")))] = (d.get("value", 0), d.get("max", 0))
                self.cond.notify_all()
        elif kind in ("execution_success", "execution_error", "execution_interrupted") or (
                kind == "executing" and d.get("node") is None and d.get("prompt_id")):
            with self.cond:
                self.finished.add(d.get("prompt_id"))
                self.cond.notify_all()

    def wait_progress(self, prompt_id: str, node: str, value: int, timeout: float):
        """Wait until sampler `node` of the prompt has done `value` steps; (value, max), or None when
        the prompt ended first or the time is up."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = self.progress.get((prompt_id, node))
                if got and got[0] >= value:
                    return got
                left = deadline - time.time()
                if left <= 0 or prompt_id in self.finished:
                    return None
                self.cond.wait(min(left, 0.5))

    def close(self):
        try:
            self._send(8)
            self.sock.close()
        except OSError:
            pass


def _json_body(data) -> bytes:
    return json.dumps(data, allow_nan=True).encode()   # NaN / Infinity as Python's json writes them


class Server:
    def __init__(self, srv: dict, keep_history: bool = False):
        self.url, self.base, self.proc, self.pack = srv["url"], srv["base"], srv["proc"], srv["pack"]
        self.keep_history = keep_history
        self.client_id = uuid.uuid4().hex
        self.events = Events(self.url, self.client_id)
        self.events.start()

    def post(self, path: str, body) -> tuple[int, dict]:
        req = urllib.request.Request(self.url + path, data=_json_body(body), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
                return r.status, (json.loads(text) if text.strip() else {})
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"error": {"message": text.decode(errors="replace")[:2000]}}

    def up(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            comfy_server.get_json(self.url + "system_stats", 30)
            return True
        except OSError:
            return False

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def queue(self, p: Prompt) -> tuple[int, dict]:
        prompt = json.loads(json.dumps(p.prompt, allow_nan=True).replace("@PACK@", str(self.pack)))
        return self.post("prompt", {"prompt": prompt, "client_id": self.client_id})

    def wait(self, prompt_id: str, timeout: float = 1800) -> dict:
        """The prompt's /history entry once it has finished; then the server forgets it unless
        keep_history (ComfyUI keeps 10000 in memory, tens of KB each: a creep in the RSS that is
        ComfyUI's, bounded, and not what the soak measures)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            hist = comfy_server.get_json(f"{self.url}history/{prompt_id}", 30)
            entry = hist.get(prompt_id)
            if entry and (entry.get("status", {}).get("completed") or entry.get("status", {}).get("status_str") == "error"):
                if not self.keep_history:
                    self.post("history", {"delete": [prompt_id]})
                return entry
            if self.proc.poll() is not None:
                raise ConnectionError(f"the server exited ({self.proc.returncode}) while prompt {prompt_id} ran")
            time.sleep(0.05)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout:g} s")

    def outputs(self, entry: dict) -> dict:
        """{"latent": sha256 of the sampler's latent (dtype, shape, bytes), "image": sha256 of the
        decoded pixels} of a finished prompt (several: hashed in the order of their node ids, not in
        the order they ran, which depends on what was cached)."""
        import numpy as np
        from PIL import Image
        from safetensors import safe_open
        image, latent = hashlib.sha256(), hashlib.sha256()
        seen = set()
        for _, node_out in sorted(entry.get("outputs", {}).items(), key=lambda kv: int(kv[0])):
            for item in node_out.get("images", []):
                path = self.base / item["type"] / item["subfolder"] / item["filename"]
                with Image.open(path) as im:
                    image.update(np.asarray(im.convert("RGB")).tobytes())
                seen.add("image")
            for item in node_out.get("latents", []):
                path = self.base / item["type"] / item["subfolder"] / item["filename"]
                with safe_open(str(path), "pt") as f:
                    t = f.get_tensor("latent_tensor")
                latent.update(f"{t.dtype}{tuple(t.shape)}".encode() + t.contiguous().numpy().tobytes())
                seen.add("latent")
        return {k: (image if k == "image" else latent).hexdigest()[:16] for k in sorted(seen)}

    def close(self):
        self.events.close()


def executed(entry: dict, node: str) -> bool:
    """Whether `node` ran in this prompt (was not served from ComfyUI's cache)."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_cached" and node in data.get("nodes", []):
            return False
    return True


def status_kind(entry: dict) -> str:
    kinds = [m[0] for m in entry.get("status", {}).get("messages", [])]
    if "execution_interrupted" in kinds:
        return "interrupted"
    if "execution_error" in kinds:
        return "error"
    return "success" if entry.get("status", {}).get("status_str") == "success" else "unknown"


def refusal_text(code: int, body: dict, entry: dict | None) -> str:
    """What the user is told: a validation error's messages, details and the inputs they name, or
    an execution error's node type and exception message (not the traceback)."""
    parts = []
    if code != 200:
        err = body.get("error", {})
        if isinstance(err, dict):
            parts += [err.get("message", ""), err.get("details", "")]
        else:
            parts.append(str(err))
        for node in body.get("node_errors", {}).values():
            for e in node.get("errors", []):
                parts += [e.get("message", ""), e.get("details", ""), str(e.get("extra_info", {}).get("input_name", ""))]
    elif entry:
        for kind, data in entry.get("status", {}).get("messages", []):
            if kind == "execution_error":
                parts += [str(data.get("node_type", "")), str(data.get("exception_message", ""))]
    return " | ".join(p for p in parts if p)


def names_it(text: str, names) -> bool:
    """The message names one of `names` (as a word: 'mode' in "mode 'x'" but not only in
    'position_mode'), case-insensitively."""
    import re
    low = text.lower()
    return any(re.search(r"(?<![a-z0-9_])" + re.escape(n.lower()) + r"(?![a-z0-9_])", low) for n in names)


def rss_growth(after_warmup: float, end: float) -> float:
    return (end - after_warmup) / after_warmup


def slope_per_100(values) -> float:
    """Least-squares slope of a series, per 100 samples (MiB per 100 prompts for the RSS)."""
    n = len(values)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(values) / n
    return 100 * sum((i - mx) * (v - my) for i, v in enumerate(values)) / sum((i - mx) ** 2 for i in range(n))


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------

def run_prompt(server: Server, p: Prompt, timeout: float = 1800) -> tuple[int, dict, dict | None]:
    code, body = server.queue(p)
    if code != 200:
        return code, body, None
    return code, body, server.wait(body["prompt_id"], timeout)


def start(label: str, args, comfyui: Path, python: str, artifacts: Path):
    return comfy_server.running_comfyui(
        artifacts / label, f"posenc-soak-{label}-", "RPE2DDiTLoader", 600, comfyui=comfyui, python=python,
        copy_pack=True, prepare=lambda base: prepare_files(base, args.seed), extra_args=args.server_arg,
        env={"OMP_NUM_THREADS": str(args.threads)})


def run_reference(plan: Plan, args, comfyui, python, artifacts, log) -> dict:
    out = {}
    with start("reference", args, comfyui, python, artifacts) as srv:
        server = Server(srv)
        try:
            for i, p in enumerate(plan.reference):
                code, body, entry = run_prompt(server, p)
                if code != 200 or status_kind(entry) != "success":
                    raise RuntimeError(f"reference server: {_tag(p)} failed: {refusal_text(code, body, entry)[:2000]}")
                out[_tag(p)] = server.outputs(entry)
                if (i + 1) % 20 == 0:
                    log(f"reference: {i + 1}/{len(plan.reference)}")
        finally:
            server.close()
    return out


def run_soak(plan: Plan, reference: dict, args, comfyui, python, artifacts, log) -> dict:
    f = {"valid": Counter(), "valid_kinds": Counter(), "nodes": Counter(), "bad": {}, "interrupts": Counter(),
         "checks": Counter(), "compared": Counter(), "failures": [], "messages": {}, "rss": []}
    t0 = time.time()
    with start("soak", args, comfyui, python, artifacts) as srv:
        server = Server(srv, args.keep_history)
        try:
            listing = comfy_server.get_json(server.url + "object_info", 120)
            for node in PACK_NODES:
                if node not in listing:
                    f["failures"].append(f"/object_info does not list {node}")
            names = {"dit": listing.get("RPE2DDiTLoader", {}).get("input", {}).get("required", {}).get("dit_name", [None, {}]),
                     "unet": listing.get("ReferenceModelLoader", {}).get("input", {}).get("required", {}).get("model_name", [None, {}])}
            f["listed"] = {k: (v[0] if isinstance(v[0], list) else v[1].get("options", [])) for k, v in names.items()}
            for m in DITS + BAD_FILES + (CORRUPTED_LATER[0],):
                if m not in f["listed"]["dit"]:
                    f["failures"].append(f"the DiT loader does not list {m}")
            for m in UNETS + (CORRUPTED_LATER[1],):
                if m not in f["listed"]["unet"]:
                    f["failures"].append(f"the Reference Model Loader does not list {m}")
            warm_rss, scratch = [], {"interrupts": Counter(), "failures": []}
            for event, p in plan.warmup:      # (what the bad prompts and the interrupt do is not counted)
                if event == "interrupt":
                    _interrupt(server, p, args, scratch)
                else:
                    code, body, entry = run_prompt(server, p)
                    if event == "valid" and (code != 200 or status_kind(entry) != "success"):
                        f["failures"].append(f"warm-up {_tag(p)}: {refusal_text(code, body, entry)[:500]}")
                warm_rss.append(server.rss_mib())
            time.sleep(2)
            f["rss_after_warmup"] = statistics.median(warm_rss[-RSS_WINDOW:])
            f["rss_after_warmup_last"] = server.rss_mib()
            f["warmup_seconds"] = time.time() - t0
            log(f"soak: warm-up done in {f['warmup_seconds']:.0f} s, RSS {f['rss_after_warmup']:.0f} MiB")
            pending = None            # what the next check prompt verifies: ("bad" | "interrupt", tag)
            for i, (event, p) in enumerate(plan.stream):
                if event == "valid":
                    _valid(server, p, plan, reference, f)
                elif event == "bad":
                    pending = ("bad", _bad_prompt(server, p, f))
                elif event == "interrupt":
                    pending = ("interrupt", _interrupt(server, p, args, f))
                else:
                    _check(server, p, reference, pending, f)
                if not server.up():
                    f["failures"].append(f"the server is down after {_tag(p)}")
                    f["server_down_after"] = _tag(p)
                    break
                f["rss"].append(round(server.rss_mib(), 1))
                if (i + 1) % 25 == 0:
                    log(f"soak: {i + 1}/{len(plan.stream)} in {time.time() - t0:.0f} s, RSS {f['rss'][-1]:.0f} MiB, "
                        f"{len(f['failures'])} failures")
            time.sleep(2)
            f["rss_end_last"] = server.rss_mib()
            f["rss_end"] = statistics.median(f["rss"][-RSS_WINDOW:] or [float("nan")])
            f["server_up"] = server.up()
            f["pickle_ran"] = (server.base / "PICKLE_RAN").exists()
        finally:
            server.close()
    f["seconds"] = time.time() - t0
    return f


def _valid(server: Server, p: Prompt, plan: Plan, reference: dict, f: dict):
    code, body, entry = run_prompt(server, p)
    tag = _tag(p)
    f["valid"]["sent"] += 1
    f["valid_kinds"][p.kind] += 1
    if code != 200 or status_kind(entry) != "success":
        f["failures"].append(f"valid {tag} ({p.kind}) failed: {refusal_text(code, body, entry)[:600]}")
        return
    f["valid"]["succeeded"] += 1
    for node in p.prompt.values():
        if node["class_type"] in PACK_NODES:
            f["nodes"][node["class_type"]] += 1
    if tag in plan.compared:
        f["compared"]["compared"] += 1
        if all(executed(entry, s) for s in p.samplers):
            got = server.outputs(entry)
            if got == reference.get(tag):
                f["compared"]["identical"] += 1
            else:
                f["failures"].append(f"valid {tag}: output {got} differs from the reference server's {reference.get(tag)}")
        else:
            f["failures"].append(f"valid {tag}: served from the cache, not compared")


def _bad_prompt(server: Server, p: Prompt, f: dict) -> str:
    if p.before:
        corrupt(server.pack, p.before)
    code, body, entry = run_prompt(server, p)
    tag = _tag(p)
    c = f["bad"].setdefault(p.category, Counter())
    c["sent"] += 1
    text = refusal_text(code, body, entry).replace(str(server.base), "BASE")
    kind = "validation" if code != 200 else status_kind(entry)
    f["messages"].setdefault(p.category, []).append({"case": p.note, "result": kind, "message": text[:400]})
    if kind in ("validation", "error"):
        c["refused"] += 1
        c[kind] += 1
        named = next((n for n in p.names if names_it(text, [n])), None)
        if named and p.says.lower() in text.replace(named, "").lower():   # (what is wrong, not in the name)
            c["named"] += 1
        else:
            f["failures"].append(f"bad {tag} ({p.category}: {p.note}): the message names none of {list(p.names)}"
                                 f"{' or does not say ' + repr(p.says) if p.says else ''}: {text[:400]}")
    elif kind == "success" and p.may_complete:
        c["completed"] += 1
    else:
        f["failures"].append(f"bad {tag} ({p.category}: {p.note}) was not refused ({kind})")
    return tag


def _interrupt(server: Server, p: Prompt, args, f: dict) -> str:
    tag = _tag(p)
    f["interrupts"]["sent"] += 1
    code, body = server.queue(p)
    if code != 200:
        f["failures"].append(f"interrupt {tag}: prompt refused: {refusal_text(code, body, None)[:400]}")
        return tag
    pid = body["prompt_id"]
    node = p.samplers[-1]
    steps = p.prompt[node]["inputs"]["steps"]
    at = random.Random(f"{args.seed}-{tag}").randint(1, max(1, steps // 2))
    got = server.events.wait_progress(pid, node, at, timeout=900)
    if got is not None:
        server.post("interrupt", {"prompt_id": pid})
    entry = server.wait(pid)
    if got is None:
        f["failures"].append(f"interrupt {tag}: the prompt ended ({status_kind(entry)}) before step {at} of "
                             f"sampler {node}: {refusal_text(200, {}, entry)[:400]}")
    kind = status_kind(entry)
    if got is not None and kind == "interrupted" and got[0] < got[1]:
        f["interrupts"]["interrupted_running"] += 1
    elif got is not None:
        f["failures"].append(f"interrupt {tag}: at step {got[0]} of {got[1]} the prompt ended {kind}, not interrupted")
    return tag


def _check(server: Server, p: Prompt, reference: dict, pending, f: dict):
    what, after = pending
    code, body, entry = run_prompt(server, p)
    tag = _tag(p)
    f["checks"][f"{what}_sent"] += 1
    if code != 200 or status_kind(entry) != "success":
        f["failures"].append(f"check {tag} after {what} {after} failed: {refusal_text(code, body, entry)[:600]}")
        return
    if not executed(entry, p.samplers[0]):
        f["failures"].append(f"check {tag} after {after}: served from the cache")
        return
    got = server.outputs(entry)
    if got == reference[tag]:
        f["checks"][f"{what}_identical"] += 1
    else:
        f["failures"].append(f"check {tag} after {what} {after}: {got} differs from the reference server's {reference[tag]}")


def host_versions(comfyui: Path) -> dict:
    import importlib.metadata as md
    import re
    text = (comfyui / "comfyui_version.py").read_text()
    out = {"comfyui": re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1), "torch": md.version("torch")}
    try:
        out["frontend"] = md.version("comfyui-frontend-package")
    except md.PackageNotFoundError:
        out["frontend"] = "?"
    return out


def summarize(plan: Plan, soak: dict, args, comfyui: Path, command: str) -> dict:
    bad = {k: dict(v) for k, v in soak["bad"].items()}
    total = Counter()
    for v in soak["bad"].values():
        total.update(v)
    rss = soak.get("rss") or [float("nan")]
    after, end = soak.get("rss_after_warmup", float("nan")), soak.get("rss_end", float("nan"))
    out = {
        "host": host_versions(comfyui), "command": command, "seed": args.seed, "date": time.strftime("%Y-%m-%d"),
        "threads": args.threads, "server_args": args.server_arg, "history": "kept" if args.keep_history else "deleted once read",
        "seconds": round(soak.get("seconds", 0)), "server_up": bool(soak.get("server_up")),
        "valid": {"sent": soak["valid"]["sent"], "succeeded": soak["valid"]["succeeded"],
                  "kinds": dict(sorted(soak["valid_kinds"].items())), "pack_nodes": dict(sorted(soak["nodes"].items())),
                  "compared_with_reference": soak["compared"]["compared"], "identical": soak["compared"]["identical"]},
        "bad": {"sent": total["sent"], "refused": total["refused"], "validation": total["validation"],
                "execution": total["error"], "named": total["named"], "completed": total["completed"],
                "checks_sent": soak["checks"]["bad_sent"], "next_identical": soak["checks"]["bad_identical"],
                "categories": bad},
        "interrupts": {"sent": soak["interrupts"]["sent"], "interrupted_running": soak["interrupts"]["interrupted_running"],
                       "checks_sent": soak["checks"]["interrupt_sent"], "plain_identical": soak["checks"]["interrupt_identical"]},
        "rss_mib": {"after_warmup": round(after, 1), "end": round(end, 1), "window": RSS_WINDOW,
                    "after_warmup_last": round(soak.get("rss_after_warmup_last", float("nan")), 1),
                    "end_last": round(soak.get("rss_end_last", float("nan")), 1), "min": round(min(rss), 1),
                    "max": round(max(rss), 1), "growth_percent": round(100 * rss_growth(after, end), 2),
                    "slope_per_100_prompts": round(slope_per_100(rss), 2),
                    "slope_per_100_prompts_second_half": round(slope_per_100(rss[len(rss) // 2:]), 2)},
        "pickle_ran": soak.get("pickle_ran", False),
        "failures": soak["failures"],
        "messages": soak["messages"],
    }
    return out


def checks(s: dict, args) -> list[tuple[str, bool, str]]:
    """(what, passed, figure) for every check of the run."""
    v, b, i, r = s["valid"], s["bad"], s["interrupts"], s["rss_mib"]
    missing = sorted(set(PACK_NODES) - set(v["pack_nodes"]))
    return [
        ("server stays up", s["server_up"], "up at the end" if s["server_up"] else "DOWN"),
        ("valid prompts succeed", v["sent"] >= args.valid and v["succeeded"] == v["sent"], f"{v['succeeded']}/{v['sent']}"),
        ("every pack node used", not missing, "all 8" if not missing else f"unused: {missing}"),
        ("same prompt, same image (two servers)", v["identical"] == v["compared_with_reference"] > 0,
         f"{v['identical']}/{v['compared_with_reference']} identical"),
        ("bad prompts refused", b["sent"] >= args.bad and b["refused"] + b["completed"] == b["sent"],
         f"{b['refused']}/{b['sent']} refused ({b['validation']} validation, {b['execution']} execution), "
         f"{b['completed']} accepted limits ran"),
        ("refusals name the input or file", b["named"] == b["refused"], f"{b['named']}/{b['refused']}"),
        ("next prompt unchanged after a bad one", b["next_identical"] == b["checks_sent"] == b["sent"],
         f"{b['next_identical']}/{b['checks_sent']} bit-identical"),
        ("interrupts stop a running sampling", i["interrupted_running"] == i["sent"] >= args.interrupts,
         f"{i['interrupted_running']}/{i['sent']}"),
        ("plain prompt after an interrupt = fresh server", i["plain_identical"] == i["checks_sent"] == i["sent"],
         f"{i['plain_identical']}/{i['checks_sent']} bit-identical"),
        ("no pickle code ran", not s["pickle_ran"], "none" if not s["pickle_ran"] else "THE PICKLE RAN"),
        (f"RSS growth after warm-up <= {RSS_LIMIT:.0%}", r["growth_percent"] <= 100 * RSS_LIMIT,
         f"{r['after_warmup']:.0f} -> {r['end']:.0f} MiB ({r['growth_percent']:+.1f}%), {r['min']:.0f}-{r['max']:.0f} "
         f"during the run, trend {r['slope_per_100_prompts']:+.1f} MiB per 100 prompts "
         f"({r['slope_per_100_prompts_second_half']:+.1f} in the second half)"),
        ("no other failure", not s["failures"], f"{len(s['failures'])} failures"),
    ]


RECORDS = ROOT / "docs" / "soak"


def records() -> list[dict]:
    def key(r):
        return tuple(int(x) if x.isdigit() else 0 for x in r["host"]["comfyui"].split("."))
    return sorted((json.loads(p.read_text()) for p in RECORDS.glob("comfyui-*.json")), key=key)


def table() -> str:
    """The README's soak table, one row per record in docs/soak/."""
    rows = ["| ComfyUI | valid prompts | bad prompts refused, naming the input or file | next prompt unchanged "
            "| sampling interrupted, then plain = fresh server | same prompt, two servers | server RSS after warm-up -> end |",
            "|---|---|---|---|---|---|---|"]
    for r in records():
        v, b, i, m = r["valid"], r["bad"], r["interrupts"], r["rss_mib"]
        ran = f" (+{b['completed']} accepted limits ran)" if b["completed"] else ""
        rows.append(f"| {r['host']['comfyui']} | {v['succeeded']}/{v['sent']} | {b['named']}/{b['refused']}{ran} | "
                    f"{b['next_identical']}/{b['sent']} | {i['interrupted_running']}/{i['sent']}, "
                    f"{i['plain_identical']}/{i['sent']} | {v['identical']}/{v['compared_with_reference']} | "
                    f"{m['after_warmup']:.0f} -> {m['end']:.0f} MiB |")   # (README percentages are bench outputs')
    return "\n".join(rows)


def main(argv=None) -> int:
    if (argv if argv is not None else sys.argv[1:]) == ["table"]:
        print(table())
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", help="a folder with ComfyUI/ and venv/ (default: COMFYUI_PATH, COMFYUI_PYTHON)")
    ap.add_argument("--valid", type=int, default=200)
    ap.add_argument("--bad", type=int, default=80, help=f"bad prompts (default 80: each of the {BAD_CASES} cases once, then again)")
    ap.add_argument("--interrupts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of both servers (default 1)")
    ap.add_argument("--keep-history", action="store_true",
                    help="leave each prompt in the server's /history (by default the soak deletes it once read)")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="an argument for both servers' main.py (repeatable; e.g. --server-arg=--cache-classic)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--artifacts", default=str(ROOT / "tests" / "artifacts" / "soak"), help="server logs")
    args = ap.parse_args(argv)
    comfyui, python = comfy_server.host_paths(args.host)
    if args.host and Path(sys.prefix).resolve() != (Path(args.host) / "venv").resolve():
        os.execv(python, [python, str(Path(__file__).resolve()), *(argv if argv is not None else sys.argv[1:])])
    given = list(argv if argv is not None else sys.argv[1:])
    if "--artifacts" in given:          # (where the logs go changes nothing)
        del given[given.index("--artifacts"):given.index("--artifacts") + 2]
    command = "python tools/soak.py " + " ".join("HOST" if a == args.host else a for a in given)
    artifacts = Path(args.artifacts)

    def log(msg):
        print(msg, flush=True)

    plan = build_plan(args.seed, args.valid, args.bad, args.interrupts)
    log(f"plan: {len(plan.warmup)} warm-up, {len(plan.stream)} in the stream, {len(plan.reference)} on the reference server")
    t0 = time.time()
    reference = run_reference(plan, args, comfyui, python, artifacts, log)
    log(f"reference server: {len(reference)} prompts in {time.time() - t0:.0f} s")
    soak = run_soak(plan, reference, args, comfyui, python, artifacts, log)
    s = summarize(plan, soak, args, comfyui, command)
    s["reference_seconds"] = round(time.time() - t0 - s["seconds"])
    results = checks(s, args)
    s["checks"] = {what: ok for what, ok, _ in results}
    log(f"\nComfyUI {s['host']['comfyui']} (frontend {s['host']['frontend']}, torch {s['host']['torch']}), seed {args.seed}, "
        f"{s['seconds']} s soak + {s['reference_seconds']} s reference")
    for what, ok, figure in results:
        log(f"  {'ok  ' if ok else 'FAIL'} {what}: {figure}")
    for cat, c in sorted(s["bad"]["categories"].items()):
        log(f"       {cat}: {c.get('sent', 0)} sent, {c.get('refused', 0)} refused, {c.get('named', 0)} named, "
            f"{c.get('completed', 0)} ran")
    for failure in s["failures"][:40]:
        log(f"  - {failure}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=1, sort_keys=True, allow_nan=True) + "\n")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
