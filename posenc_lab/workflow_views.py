"""Where an example workflow's nodes land on screen when a user opens it, in the frontends the pack
is tested with, and what would make that first view bad (no text, a node off screen or under the
frontend's toolbars, nodes overlapping or across a group's edge, a title cut short, a note to
scroll).  Used by tools/make_workflows.py to choose each workflow's
stored view and to refuse a bad layout, and by tests/test_workflows.py; the host test
(tests/host/browser_workflows.mjs) measures the same in the real frontends.

Two ways in, two views:

* Opened as a file (drag-in, Open, a workflow tab): every frontend restores the stored view
  (extra.ds: offset and scale; the frontend draws a canvas point p at canvas origin + (p + offset) *
  scale).  Frontend 1.27's graph canvas starts right of its side bar and below its menu bar; from
  1.49 on the canvas fills the window and the bars are laid over it, so one stored view lands 64 px
  further left and 78 px higher there.
* Opened from Browse Templates: 1.49 and 1.58 ignore the stored view and fit the view to the nodes
  (fitView: the nodes' bounds with their title bars, padded 10, at 75% of the canvas, centred);
  1.27 restores the stored view.

Below 8 px / 14 px = 0.571 zoom (LiteGraph.Canvas.MinFontSizeForLOD 8, node text 14 px, at
devicePixelRatio 1) the classic canvas draws nodes without any text; the first view must be at or
above MIN_ZOOM, a margin over that.  Everything is measured in a 1600x1000 window (the host test's).
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

WINDOW = (1600, 1000)
TITLE_H = 30                 # LiteGraph.NODE_TITLE_HEIGHT: the title bar sits above node.pos
TEXT_ZOOM = 8 / 14           # below it the classic canvas draws no text
MIN_ZOOM = 0.6               # the first view's zoom at least (a margin above TEXT_ZOOM)
FIT_ZOOM, FIT_PADDING = 0.75, 10

# Measured in headless Chromium at 1600x1000 with a fresh profile (what a new user sees), window px:
# where the graph canvas is, and what the frontend lays over it (with a few px of margin).
FRONTENDS = {
    "1.27": {
        "canvas": (64, 78, 1600, 1000),
        "covered": {"minimap": (1300, 730, 1560, 940), "zoom toolbar": (1270, 935, 1590, 990)},
        "fits_templates": False,
    },
    "1.49/1.58": {
        "canvas": (0, 0, 1600, 1000),
        "covered": {"side bar": (0, 0, 62, 1000), "workflow tabs": (0, 0, 1600, 42),
                    "graph menu": (0, 0, 215, 92), "run toolbar": (1235, 0, 1600, 95),
                    "minimap and zoom toolbar": (1335, 735, 1600, 1000)},
        "fits_templates": True,
    },
}
# The stored view puts the graph in this box of canvas px (the same box in every frontend): below
# 1.49/1.58's menus (y 95) and right of their side bar (x 62), inside 1.27's smaller canvas
# (1536x922).  The minimap corner is left to the layout (checked by problems()).
STORED_BOX = (70, 100, 1526, 912)


def node_rects(wf: dict) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(label, (x0, y0, x1, y1)) of every node with its title bar, canvas units."""
    return [(f"node {n['id']} ({n.get('title', n['type'])})",
             (n["pos"][0], n["pos"][1] - TITLE_H, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1]))
            for n in wf["nodes"]]


def group_rects(wf: dict) -> list[tuple[str, tuple[float, float, float, float]]]:
    return [(f"group {g['title']}", (g["bounding"][0], g["bounding"][1],
                                     g["bounding"][0] + g["bounding"][2], g["bounding"][1] + g["bounding"][3]))
            for g in wf.get("groups", [])]


def _bounds(rects):
    return (min(r[0] for _, r in rects), min(r[1] for _, r in rects),
            max(r[2] for _, r in rects), max(r[3] for _, r in rects))


def stored_view(wf: dict) -> dict:
    """The stored view: every node and group inside STORED_BOX, the graph's top left at the box's,
    as large as fits (at most 1, in steps of 0.01) with no node under a toolbar or the minimap of
    any frontend (smaller if need be, down to MIN_ZOOM)."""
    x0, y0, x1, y1 = _bounds(node_rects(wf) + group_rects(wf))
    bx0, by0, bx1, by1 = STORED_BOX
    largest = min(1.0, (bx1 - bx0) / (x1 - x0), (by1 - by0) / (y1 - y0))
    views = [{"scale": s / 100, "offset": [round(bx0 * 100 / s - x0, 1), round(by0 * 100 / s - y0, 1)]}
             for s in range(int(largest * 100 + 1e-9), int(MIN_ZOOM * 100) - 1, -1)]
    for view in views:
        if not _view_problems({**wf, "extra": {"ds": view}}, files_only=True):
            return view
    return views[0] if views else {"scale": round(largest, 2), "offset": [bx0 - x0, by0 - y0]}


def fit_view(wf: dict, frontend: dict) -> dict:
    """The view 1.49/1.58's fitView gives the nodes (offset relative to the canvas)."""
    x0, y0, x1, y1 = _bounds(node_rects(wf))
    bx, by = x0 - FIT_PADDING, y0 - FIT_PADDING
    bw, bh = x1 - x0 + 2 * FIT_PADDING, y1 - y0 + 2 * FIT_PADDING
    cx0, cy0, cx1, cy1 = frontend["canvas"]
    cw, ch = cx1 - cx0, cy1 - cy0
    scale = min(FIT_ZOOM * cw / max(bw, 300), FIT_ZOOM * ch / max(bh, 300), 10.0)
    return {"scale": scale, "offset": [cw * 0.5 / scale - bx - bw * 0.5, ch * 0.5 / scale - by - bh * 0.5]}


def views(wf: dict) -> list[tuple[str, dict, dict]]:
    """(name, frontend, view) of every first view a user can get."""
    out = []
    for name, fe in FRONTENDS.items():
        out.append((f"{name}, opened as a file", fe, wf["extra"]["ds"]))
        if fe["fits_templates"]:
            out.append((f"{name}, opened from Browse Templates", fe, fit_view(wf, fe)))
    return out


def problems(wf: dict) -> list[str]:
    """What is wrong with the workflow's first views; [] when nothing."""
    out = []
    rects = node_rects(wf)
    for i, (a, ra) in enumerate(rects):
        for b, rb in rects[i + 1:]:
            if ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]:
                out.append(f"{a} overlaps {b}")
    out += group_crossings(rects, group_rects(wf))
    return out + _view_problems(wf)


GROUP_TITLE_H = 34           # a group's title bar: its font size (24) x 1.4, as LiteGraph draws it


def group_crossings(nodes, groups) -> list[str]:
    """Nodes that cross a group's edge (partly in it, partly out) or lie under its title bar:
    (label, rect) lists as node_rects and group_rects give them (the host test passes the boxes the
    frontend drew)."""
    out = []
    for g, (gx0, gy0, gx1, gy1) in groups:
        for n, (x0, y0, x1, y1) in nodes:
            inside = gx0 <= x0 and x1 <= gx1 and gy0 <= y0 and y1 <= gy1
            apart = x1 <= gx0 or gx1 <= x0 or y1 <= gy0 or gy1 <= y0
            if not inside and not apart:
                out.append(f"{n} crosses the edge of {g}")
            elif inside and y0 < gy0 + GROUP_TITLE_H:
                out.append(f"{n} is under the title bar of {g}")
    return out


def _view_problems(wf: dict, files_only: bool = False) -> list[str]:
    out = []
    rects = node_rects(wf)
    for name, fe, view in views(wf):
        if files_only and "as a file" not in name:
            continue
        scale, (ox, oy) = view["scale"], view["offset"]
        if scale < MIN_ZOOM:
            out.append(f"{name}: zoom {scale:.3f} < {MIN_ZOOM} (no text below {TEXT_ZOOM:.3f})")
        cx0, cy0, cx1, cy1 = fe["canvas"]
        for label, (x0, y0, x1, y1) in rects:
            s = (cx0 + (x0 + ox) * scale, cy0 + (y0 + oy) * scale, cx0 + (x1 + ox) * scale, cy0 + (y1 + oy) * scale)
            where = [round(v) for v in s]
            if s[0] < cx0 or s[1] < cy0 or s[2] > cx1 or s[3] > cy1:
                out.append(f"{name}: {label} is out of view at {where}")
                continue
            for what, (kx0, ky0, kx1, ky1) in fe["covered"].items():
                if s[0] < kx1 and kx0 < s[2] and s[1] < ky1 and ky0 < s[3]:
                    out.append(f"{name}: {label} at {where} is under the {what}")
    return out


# Text metrics of each frontend and renderer, measured in the real frontends by the host test
# (tests/host/browser_workflows.mjs; tests/host/test_host_workflows.py checks that the record holds
# at least what each frontend needs, and records a new one with POSENC_RECORD_TEXT=1):
# frontend_text.json, {"chars": the printable ASCII characters, "frontends": {"<version> <renderer>":
# {"title": {"font", "reserve", "widths"}, "note": {"font", "lineHeight", "insetW", "insetH",
# "widths"}}}}: widths of each character in that font (px at zoom 1), in the order of "chars";
# "reserve" is how much of a node's width the title bar keeps for itself (classic: two title
# heights; Nodes 2.0: the collapse button and paddings); a note's text box is the node's size less
# insetW x insetH.  Fonts as Chromium on Debian draws them ("Arial" is Liberation Sans, metrically
# the same; the frontends' own Inter is a web font; "monospace" is DejaVu Sans Mono or Liberation
# Mono, as wide as Menlo and wider than Consolas).
TEXT_RECORD = Path(__file__).with_name("frontend_text.json")
RENDERERS = ("classic", "nodes2")
# The sum of the characters' widths against the browser's measure of the whole string (kerning,
# rounding): a margin of 1 px plus 1%.
TEXT_MARGIN = (1.0, 1.01)


@lru_cache(maxsize=None)
def text_record() -> dict:
    return json.loads(TEXT_RECORD.read_text(encoding="utf-8"))


def text_width(text: str, metrics: dict) -> float:
    """Width of `text` in px in the font of `metrics` (a "title" or "note" entry of the record);
    a character outside the record counts as the widest one recorded."""
    widths = dict(zip(text_record()["chars"], metrics["widths"]))
    widest = max(widths.values())
    return TEXT_MARGIN[0] + TEXT_MARGIN[1] * sum(widths.get(ch, widest) for ch in text)


def title_width(title: str) -> float:
    """The node width a title needs in every recorded frontend and renderer (narrower, the
    frontend cuts it short with an ellipsis)."""
    return max(m["title"]["reserve"] + text_width(title, m["title"]) for m in text_record()["frontends"].values())


def wrapped_lines(text: str, width: float, metrics: dict) -> int:
    """Lines a text box `width` px wide shows `text` in (the browser's textarea: pre-wrap, lines
    broken at spaces, a word wider than the box broken anywhere; spaces at a line's end hang)."""
    lines = 0
    for para in text.split("\n"):
        lines += 1
        used = 0.0
        for word, spaces in re.findall(r"(\S*)(\s*)", para):
            if not word and not spaces:
                continue
            w = text_width(word, metrics) - TEXT_MARGIN[0] if word else 0.0
            if used > 0 and used + w > width:
                lines += 1
                used = 0.0
            while w > width:                      # a word longer than a line: broken anywhere
                lines += 1
                w -= width
            used += w + (text_width(spaces, metrics) - TEXT_MARGIN[0] if spaces else 0.0)
    return lines


def note_height(text: str, width: float) -> int:
    """The height a Note node `width` wide needs to show all of `text` without scrolling, in every
    recorded frontend and renderer (half a line to spare)."""
    need = 0.0
    for m in text_record()["frontends"].values():
        n = m["note"]
        lines = wrapped_lines(text, width - n["insetW"], n)
        need = max(need, n["insetH"] + (lines + 0.5) * n["lineHeight"])
    return math.ceil(need)


def record_text(measured: dict) -> dict:
    """The record with `measured` ({"frontend", "renderer", "text"}: the host test's report) put in,
    its widths in the record's character order."""
    rec = json.loads(TEXT_RECORD.read_text(encoding="utf-8")) if TEXT_RECORD.exists() else {
        "chars": "".join(chr(c) for c in range(32, 127)), "frontends": {}}
    entry = {}
    for part in ("title", "note"):
        m = dict(measured["text"][part])
        m["widths"] = [m["widths"][ch] for ch in rec["chars"]]
        entry[part] = m
    rec["frontends"][f"{measured['frontend']} {measured['renderer']}"] = entry
    rec["frontends"] = dict(sorted(rec["frontends"].items()))
    return rec


def text_shortfalls(measured: dict) -> list[str]:
    """Where this frontend needs more room than the record allows for (a wider character, a larger
    title reserve, line height or inset); [] when the record holds for it."""
    key = f"{measured['frontend']} {measured['renderer']}"
    entry = text_record()["frontends"].get(key)
    if entry is None:
        return [f"no record for {key} in {TEXT_RECORD.name}"]
    out = []
    for part, fields in (("title", ("reserve",)), ("note", ("lineHeight", "insetW", "insetH"))):
        got, rec = measured["text"][part], entry[part]
        for f in fields:
            if got[f] > rec[f] + 1e-6:
                out.append(f"{key} {part} {f}: {got[f]} > recorded {rec[f]}")
        wide = [ch for ch, w in zip(text_record()["chars"], rec["widths"]) if got["widths"][ch] > w + 0.01]
        if wide:
            out.append(f"{key} {part} font {got['font']!r}: {wide!r} wider than recorded")
    return out
