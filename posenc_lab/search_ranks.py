"""The words users type into ComfyUI's node search to find the pack's nodes, how high the frontends
must list them, and the record of where they came in the real frontends: docs/search_ranks.json and
docs/search_ranks.md, written by the browser test (tests/host/test_browser_search.py, with
POSENC_RECORD_SEARCH=1) from what the search box showed; without it the test checks the frontend
against the record.

How the frontends rank (ComfyUI_frontend's NodeSearchService, read in 1.27.10, 1.49.6 and 1.58.1):
Fuse.js over the fields in "keys" (1.27: node id and display name; 1.49 and 1.58 also the V3
schema's search_aliases) picks the nodes that match, fuzzily (a word more than about 30 characters
into a name does not match).  It then orders them by how the query meets each node's id or display
name (the same, a prefix, a whole word, inside it, ...), within that by how often the node is used
(a table the frontend ships, in which core nodes have counts and a new pack's nodes none), then by
where in the name the word stands.  The aliases are not in that ordering: a node found by an alias
alone comes after every node that has the word in its name, and after every counted node the
fuzzy match let through.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD_JSON = ROOT / "docs" / "search_ranks.json"
RECORD_MD = ROOT / "docs" / "search_ranks.md"

# What a user types -> the pack's nodes, any of which answers it (the first one found counts).
QUERIES = {
    "hires": ("PBCModelPatcher",),
    "hires fix": ("PBCModelPatcher",),
    "high res": ("RPE2DDiTLoader", "PBCModelPatcher", "DiTPositionMode"),
    "high resolution": ("PBCModelPatcher", "DiTPositionMode"),
    "upscale": ("PBCModelPatcher",),
    "pbc": ("PBCModelPatcher",),
    "boundary": ("BoundaryVisualizer", "PBCModelPatcher"),
    "ScaleCrafter": ("RedilationPatcher",),
    "position": ("DiTPositionMode",),
    "yarn": ("DiTPositionMode",),
    "ntk": ("DiTPositionMode",),
    "interpolate": ("DiTPositionMode",),
    "rope": ("DiTPositionMode",),
    "dit": ("DiTPositionMode", "RPE2DDiTLoader"),
    "flux": ("DiTPositionMode",),
    "flux.2": ("DiTPositionMode",),
    "qwen": ("DiTPositionMode",),
    "wan": ("DiTPositionMode",),
    "z-image": ("DiTPositionMode",),
    "HiDream": ("DiTPositionMode",),
    "HunyuanVideo": ("DiTPositionMode",),
    "RPE-2D": ("RPE2DDiTLoader",),
}
# The rule: the node is found, and it comes in the first TOP places, or every node listed above it
# has the word in its own name or is one the frontend counts as used, but for at most AFTER others.
TOP, AFTER = 5, 3


def measure(query: str, shown: list[str], answers: list[str], frequencies: dict) -> dict:
    """Where the first of `answers` (display names) comes in the list `shown` (the names the
    search box showed, in order; a shown name may carry a category after the display name), and
    what is above it: nodes named for the word, nodes the frontend counts as used, others."""
    rank = next((i + 1 for i, name in enumerate(shown) if any(name.startswith(a) for a in answers)), None)
    above = shown[:rank - 1] if rank else []
    word = query.lower()

    def display(name):
        return max((d for d in frequencies if name.startswith(d)), key=len, default=name)

    named = [n for n in above if word in display(n).lower()]
    used = [n for n in above if n not in named and frequencies.get(display(n), 0) > 0]
    return {"rank": rank, "shown": len(shown), "named_above": len(named), "used_above": len(used),
            "others_above": len(above) - len(named) - len(used),
            "node": next((a for a in answers if rank and shown[rank - 1].startswith(a)), None)}


def problem(query: str, m: dict, searched: bool) -> str | None:
    """What is wrong with measurement `m` of `query` by the rule above; None when nothing is.
    `searched`: the frontend searches a field that holds the word for one of the nodes (1.27 does
    not search aliases: a word only in aliases is not asked of it)."""
    if m["rank"] is None:
        return f"{query!r}: no pack node listed" if searched else None
    if m["rank"] <= TOP or m["others_above"] <= AFTER:
        return None
    return (f"{query!r}: the pack's node is {m['rank']}th, below {m['others_above']} nodes that neither "
            f"have the word in their names nor are counted as used")


def load() -> dict:
    return json.loads(RECORD_JSON.read_text(encoding="utf-8")) if RECORD_JSON.exists() else {"frontends": {}}


def cell(m: dict | None, searched: bool) -> str:
    if m is None:
        return "not run"
    if m["rank"] is None:
        return "not listed" if searched else "not listed (aliases not searched)"
    above = [f"{m[k]} {what}" for k, what in (("named_above", "named for the word"), ("used_above", "counted as used"),
                                               ("others_above", "other")) if m[k]]
    return f"**{m['rank']}** of {m['shown']}" + (f" (above it: {', '.join(above)})" if m["rank"] > 1 else "")


def render(record: dict) -> str:
    """docs/search_ranks.md from the record."""
    labels = list(record["frontends"])
    lines = [
        "# Where the node search lists the pack's nodes",
        "",
        "Back to the [README](../README.md). Written by the browser test from what the search box showed "
        "(`POSENC_RECORD_SEARCH=1 COMFYUI_PATH=... <ComfyUI's python> -m pytest tests/host/test_browser_search.py`, "
        "once per ComfyUI and frontend; `docs/search_ranks.json` holds the same); the test fails when a "
        "frontend lists a node elsewhere than recorded here, or below the rule: in the first "
        f"{TOP} places, or with nothing above it but nodes named for the word and nodes the frontend "
        f"counts as used, and at most {AFTER} others.",
        "",
        "How the frontends rank: the search matches the node id and display name (1.27) and also the "
        "nodes' search aliases (1.49, 1.58), fuzzily; it then lists first the nodes whose own names "
        "hold the word (the same, a prefix, a whole word, inside a word), the nodes it counts as used "
        "first within each of those, a new pack's nodes having no count. A word that is only in a node's "
        "aliases lists it after all of those, and after the counted nodes the fuzzy match let through "
        "(`rope` matches `Load Image` there). So the display names carry what users type most: "
        "*hires*, *upscale* and the modes *YaRN*, *NTK*, *interpolate*; model families stay aliases "
        "(nine family names in one display name would be keyword stuffing), and a family's own nodes "
        "come first for its name.",
        "",
        "| you type | the pack's node | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for query in record["queries"]:
        nodes = record["queries"][query]
        row = [f"`{query}`", " or ".join(nodes)]
        for label in labels:
            fe = record["frontends"][label]
            row.append(cell(fe["ranks"].get(query), fe["searched"].get(query, True)))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "`upscale`: the core upscalers (Upscale Image, Upscale Latent, Load Upscale Model, the API "
              "nodes' upscalers) come first, rightly: PBC does not upscale a picture, it keeps a picture "
              "sampled above the model's training size, or a hires fix's second pass, in one piece. It comes "
              "right after them.", ""]
    return "\n".join(lines)
