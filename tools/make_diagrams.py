"""Write example_workflows/<name>.jpg for the GPU workflows: a drawn diagram of the workflow's graph,
clearly labelled "DIAGRAM, NOT AN OUTPUT".

ComfyUI's Browse Templates shows <name>.jpg beside a custom node's workflow as its card's picture
(frontends 1.27.10 to 1.58.1 ask for /api/workflow_templates/<pack folder>/<name>.jpg; without the
file the card is blank and the browser logs a 404).  The CPU workflows (01-04) have a picture of
their real output, rendered by tests/host/test_host_workflows.py (POSENC_RENDER_THUMBNAILS=1).  The
GPU workflows were never run here, so they get a schematic instead, never a made-up output: the
nodes as boxes named by their node type (with their title, or the model files they load), the
links as lines, one band per group of the workflow, and the words "diagram, not an output".

The drawing depends on the graph only (nodes, links, titles, model files, which group a node
sits in), not on the nodes' positions, so moving nodes in tools/make_workflows.py does not make
the diagrams stale.  Each JPEG carries a comment with a fingerprint of what it shows;
tests/test_workflows.py checks it against the workflow, so a changed graph needs

    python tools/make_diagrams.py            # all GPU workflows
    python tools/make_diagrams.py --check    # only check; exit 1 when one is missing or stale

Pillow only (its built-in font), so any machine with the test requirements draws the same picture.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "example_workflows"
CORE = sorted((ROOT / "tests" / "fixtures").glob("core_nodes*.json"))   # every recorded ComfyUI
GPU = re.compile(r"^\d\d GPU, ")
VERSION = 1                      # bump when the drawing changes, so every diagram is redrawn
COMMENT = "posenc diagram {}: a schematic of this workflow's graph drawn by tools/make_diagrams.py, not an output"
MODEL_SUFFIXES = (".safetensors", ".sft", ".pt", ".pth", ".ckpt", ".bin")

W, H = 1200, 1000                # about the shape of a Browse Templates card
HEAD, FOOT, MARGIN = 150, 56, 20
COLS = {"inputs": (MARGIN + 26, 266), "lanes": (310, 928), "collect": (972, 1152)}
INK, PAPER, GRID, LINK = "#20242a", "#f7f5ef", "#e9e5da", "#6f7682"
FILL = {"pack": ("#f9d9a6", "#b86b00"), "loader": ("#c9dcf5", "#2f5d95"),
        "save": ("#cfe8c0", "#3b7a25"), "other": ("#e9e9e9", "#5d5d5d")}


def fingerprint(spec: dict) -> str:
    return hashlib.sha256(json.dumps([VERSION, spec], sort_keys=True).encode()).hexdigest()[:16]


def comment_of(spec: dict) -> str:
    return COMMENT.format(fingerprint(spec))


def _ranks(nodes: dict, links: list) -> dict:
    """Longest path from a source, per node id (the column a layered drawing would put it in)."""
    preds = {nid: [lk[1] for lk in links if lk[3] == nid] for nid in nodes}
    rank: dict = {}

    def of(nid, seen=()):
        if nid not in rank:
            if nid in seen:
                raise ValueError(f"the graph has a cycle through node {nid}")
            rank[nid] = 1 + max((of(p, seen + (nid,)) for p in preds[nid]), default=-1)
        return rank[nid]
    for nid in nodes:
        of(nid)
    return rank


def _hex(color: str) -> str:
    c = color.lstrip("#")
    return "#" + ("".join(ch * 2 for ch in c) if len(c) == 3 else c[:6])


def _mix(color: str, weight: float, base: str = "#ffffff") -> str:
    a, b = _hex(color), _hex(base)
    rgb = [round(int(a[i:i + 2], 16) * weight + int(b[i:i + 2], 16) * (1 - weight)) for i in (1, 3, 5)]
    return "#" + "".join(f"{v:02x}" for v in rgb)


def diagram_spec(name: str, wf: dict) -> dict:
    """What the diagram shows, from the workflow alone (no positions): boxes in the input column, in
    one band per group (in the groups' order), or in the collecting column (a group whose nodes
    take images from two or more other groups), each in the order of the links; and the links."""
    core = {name for record in CORE for name in json.loads(record.read_text())["core_node_names"]}
    nodes = {n["id"]: n for n in wf["nodes"] if n["type"] not in ("Note", "MarkdownNote")}
    links = [lk for lk in wf["links"] if lk[1] in nodes and lk[3] in nodes]
    rank = _ranks(nodes, links)

    def group_of(n):
        cx, cy = n["pos"][0] + n["size"][0] / 2, n["pos"][1] + n["size"][1] / 2
        for i, g in enumerate(wf.get("groups", [])):
            x, y, w, h = g["bounding"]
            if x <= cx <= x + w and y <= cy <= y + h:
                return i
        return None

    def box(n):
        kind = ("pack" if n["type"] not in core else "loader" if "Loader" in n["type"]
                else "save" if n["type"] in ("SaveImage", "SaveWEBM") else "other")
        files = [v for v in n.get("widgets_values") or [] if isinstance(v, str) and v.endswith(MODEL_SUFFIXES)]
        detail = n.get("title") or ", ".join(files)
        return {"id": n["id"], "type": n["type"], "detail": detail, "kind": kind}

    where = {nid: group_of(n) for nid, n in nodes.items()}
    order = sorted(nodes, key=lambda nid: (rank[nid], nid))
    bands = []
    for i, g in enumerate(wf.get("groups", [])):
        members = [nid for nid in order if where[nid] == i]
        if not members:
            continue
        feeders = {where[lk[1]] for lk in links if lk[3] in members and where[lk[1]] not in (i, None)}
        bands.append({"title": g["title"], "color": _hex(g.get("color", "#888888")),
                      "collect": len(feeders) >= 2, "boxes": [box(nodes[nid]) for nid in members]})
    if not bands:
        raise ValueError(f"{name}: no groups, nothing to draw the bands from")
    return {"name": name, "inputs": [box(nodes[nid]) for nid in order if where[nid] is None],
            "bands": bands, "links": sorted([lk[1], lk[3]] for lk in links)}


# --- drawing -------------------------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont
    return ImageFont.load_default(size=size)


def _width(draw, text: str, font) -> float:
    return draw.textlength(text, font=font)


def _fit(draw, text: str, width: float, size: int, smallest: int = 10):
    """The largest font (from `size` down) that fits `text` on one line in `width`."""
    while size > smallest and _width(draw, text, _font(size)) > width:
        size -= 1
    return _font(size)


def _wrap(draw, text: str, width: float, font, lines: int) -> list[str]:
    """`text` in at most `lines` lines of `width`: broken after spaces, - _ . and | (file names
    have no spaces), inside a piece only when it alone is too wide; "..." where it is cut."""
    out, line = [], ""
    for piece in re.findall(r"[^\s\-_.|]*[\s\-_.|]*", text):
        while piece:
            trial = line + piece
            if _width(draw, trial.rstrip(), font) <= width:
                line, piece = trial, ""
            elif line.strip():
                out.append(line.rstrip())
                line, piece = "", piece.lstrip()
            else:                                  # one piece wider than a line: cut it
                cut = len(piece)
                while cut > 1 and _width(draw, piece[:cut], font) > width:
                    cut -= 1
                out.append(piece[:cut])
                piece = piece[cut:]
    if line.strip():
        out.append(line.rstrip())
    if len(out) > lines:
        out = out[:lines]
        if out:
            while out[-1] and _width(draw, out[-1] + "...", font) > width:
                out[-1] = out[-1][:-1]
            out[-1] += "..."
    return out


def _bold(draw, xy, text, font, fill, anchor="la"):
    draw.text(xy, text, font=font, fill=fill, anchor=anchor, stroke_width=1, stroke_fill=fill)


def _box(draw, rect, b):
    x0, y0, x1, y1 = rect
    fill, edge = FILL[b["kind"]]
    draw.rounded_rectangle(rect, radius=8, fill=fill, outline=edge, width=3)
    inner = x1 - x0 - 14
    head = _fit(draw, b["type"], inner, 19, 11)
    _bold(draw, (x0 + 7, y0 + 7), b["type"], head, INK)
    if b["detail"]:
        small = _font(15)
        room = max(0, int((y1 - y0 - 36) // 18))
        for i, line in enumerate(_wrap(draw, b["detail"], inner, small, room)):
            draw.text((x0 + 7, y0 + 32 + 18 * i), line, font=small, fill="#3a3f47")


def _arrow(draw, tip, direction, color):
    x, y = tip
    d = 1 if direction == "right" else -1
    draw.polygon([(x, y), (x - 11 * d, y - 6), (x - 11 * d, y + 6)], fill=color)


def _curve(p0, p1, p2, p3, steps=24):
    pts = []
    for i in range(steps + 1):
        t = i / steps
        pts.append(tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d
                         for a, b, c, d in zip(p0, p1, p2, p3)))
    return pts


def _stack(n, top, bottom, gap, most):
    h = min(most, (bottom - top - gap * (n - 1)) / n)
    return [(top + i * (h + gap), top + i * (h + gap) + h) for i in range(n)]


def draw(spec: dict):
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (W, H), PAPER)
    d = ImageDraw.Draw(im)
    for x in range(0, W, 40):                    # graph paper: plainly a drawing
        d.line([(x, HEAD), (x, H - FOOT)], fill=GRID)
    for y in range(HEAD, H - FOOT, 40):
        d.line([(0, y), (W, y)], fill=GRID)
    d.rectangle((0, 0, W, HEAD), fill=INK)
    _bold(d, (W / 2, 52), "DIAGRAM, NOT AN OUTPUT", _font(66), "#ffd54a", anchor="mm")
    d.text((W / 2, 118), spec["name"], font=_fit(d, spec["name"], W - 60, 30), fill="#ffffff", anchor="mm")
    d.rectangle((0, H - FOOT, W, H), fill=INK)
    foot = ("The workflow's nodes (boxes, by node type) and links, drawn by tools/make_diagrams.py. "
            "It needs a GPU and the model files; no output of it is shown.")
    d.text((W / 2, H - FOOT / 2), foot, font=_fit(d, foot, W - 40, 17), fill="#d8d8d8", anchor="mm")

    top, bottom = HEAD + 24, H - FOOT - 20
    rects: dict = {}
    x0, x1 = COLS["inputs"]
    for b, (y0, y1) in zip(spec["inputs"], _stack(len(spec["inputs"]), top, bottom, 14, 120)):
        rects[b["id"]] = (x0, y0, x1, y1)
    lanes = [s for s in spec["bands"] if not s["collect"]]
    collect = [s for s in spec["bands"] if s["collect"]]
    band_rects = []
    for s, (y0, y1) in zip(lanes, _stack(len(lanes), top, bottom, 18, 260)):
        bx0, bx1 = COLS["lanes"]
        band_rects.append((s, (bx0 - 12, y0, bx1 + 12, y1)))
        gap = 24                              # widths as the node types' names need, at least 90 px
        need = [max(90.0, _width(d, b["type"], _font(19)) + 22) for b in s["boxes"]]
        scale = (bx1 - bx0 - gap * (len(need) - 1)) / sum(need)
        x = bx0
        for b, w in zip(s["boxes"], need):
            rects[b["id"]] = (round(x), y0 + 36, round(x + w * scale), y1 - 12)
            x += w * scale + gap
    for s in collect:                          # one column; several collecting groups share it
        cx0, cx1 = COLS["collect"]
        band_rects.append((s, (cx0 - 12, top, cx1 + 12, bottom)))
    boxes = [b for s in collect for b in s["boxes"]]
    for b, (y0, y1) in zip(boxes, _stack(len(boxes), top + 36, bottom - 12, 30, 150)):
        rects[b["id"]] = (COLS["collect"][0], y0, COLS["collect"][1], y1)

    for s, r in band_rects:
        d.rounded_rectangle(r, radius=10, fill=_mix(s["color"], 0.25), outline=_mix(s["color"], 0.8), width=2)

    # Ports: each link leaves its source at a height of its own on the right edge and enters its
    # target on the left edge (in the order of the sources' places, top to bottom), as in a node graph.
    links = list(enumerate(spec["links"]))
    place = {nid: (r[0], r[1]) for nid, r in rects.items()}
    in_port, out_port = {}, {}
    for nid in rects:
        into = sorted((i for i, (_, dst) in links if dst == nid), key=lambda i: place[spec["links"][i][0]])
        out = sorted((i for i, (src, _) in links if src == nid), key=lambda i: place[spec["links"][i][1]])
        for ports, ids in ((in_port, into), (out_port, out)):
            r = rects[nid]
            top, bottom = r[1] + 34, r[3] - 8
            for k, i in enumerate(ids):
                ports[i] = top + (bottom - top) * (k + 1) / (len(ids) + 1)
    heads, turns = [], {}
    for i, (src, dst) in links:
        a, b = rects[src], rects[dst]
        if b[0] > a[2]:                        # rightwards: a curve from the right edge to the left edge
            p0, p3 = (a[2], out_port[i]), (b[0] - 10, in_port[i])
            k = max(30, (p3[0] - p0[0]) / 2)
            d.line(_curve(p0, (p0[0] + k, p0[1]), (p3[0] - k, p3[1]), p3), fill=LINK, width=2, joint="curve")
            heads.append(((b[0], p3[1]), "right"))
        elif a[0] == COLS["inputs"][0]:        # within the input column: round its left side
            turns[a[0]] = turns.get(a[0], 0) + 1
            x = a[0] - 6 - 5 * turns[a[0]]
            d.line([(a[0], out_port[i]), (x, out_port[i]), (x, in_port[i]), (b[0] - 10, in_port[i])],
                   fill=LINK, width=2, joint="curve")
            heads.append(((b[0], in_port[i]), "right"))
        else:                                  # within another column: round its right side
            turns[a[2]] = turns.get(a[2], 0) + 1
            x = max(a[2], b[2]) + 6 + 5 * turns[a[2]]
            d.line([(a[2], out_port[i]), (x, out_port[i]), (x, in_port[i]), (b[2] + 10, in_port[i])],
                   fill=LINK, width=2, joint="curve")
            heads.append(((b[2], in_port[i]), "left"))
    for s, r in band_rects:                    # group titles above the links
        title_font = _fit(d, s["title"], r[2] - r[0] - 20, 19, 11)
        _bold(d, (r[0] + 10, r[1] + 8), s["title"], title_font, _mix(s["color"], 0.9, INK))
    for spec_boxes in (spec["inputs"], *[s["boxes"] for s in spec["bands"]]):
        for b in spec_boxes:
            _box(d, rects[b["id"]], b)
    for tip, direction in heads:
        _arrow(d, tip, direction, LINK)
    return im


def write(path: Path) -> Path:
    wf = json.loads(path.read_text())
    spec = diagram_spec(path.stem, wf)
    out = path.with_suffix(".jpg")
    draw(spec).save(out, quality=85, optimize=True, comment=comment_of(spec))
    return out


def stale(path: Path, wf: dict | None = None) -> str | None:
    """Why <name>.jpg does not show the workflow at `path` (or `wf`, the workflow as given), or
    None when it does."""
    from PIL import Image
    jpg = path.with_suffix(".jpg")
    if not jpg.is_file():
        return f"{jpg.name}: missing"
    with Image.open(jpg) as im:
        got = im.info.get("comment", b"")
    want = comment_of(diagram_spec(path.stem, wf if wf is not None else json.loads(path.read_text())))
    if got.decode(errors="replace") != want:
        return f"{jpg.name}: drawn from another graph (run python tools/make_diagrams.py)"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a diagram is missing or stale")
    ap.add_argument("--dir", type=Path, default=OUT)
    args = ap.parse_args(argv)
    paths = sorted(p for p in args.dir.glob("*.json") if GPU.match(p.stem))
    if args.check:
        problems = [s for s in map(stale, paths) if s]
        print("\n".join(problems) or f"{len(paths)} diagrams up to date")
        return 1 if problems else 0
    for p in paths:
        print(f"wrote {write(p)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
