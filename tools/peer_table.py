"""One Markdown table of two (or more) layout-benchmark runs side by side, per size and method:
layout valid, off-palette pixels, KID x1000, seam x100 and time ratio, one column per model.

    python tools/peer_table.py docs/bench_peers_A.json docs/bench_peers_B.json [more.json ...]

Each JSON is what `python -m posenc_lab bench --out X.md` writes next to X.md; the runs must have
the same seeds and steps (the table says which).  Rows follow the first run's order; rows run at
1x are left out (every method equals direct there), and so are rows that are n/a in every run
(a method without meaning at that size, such as progressive at 2x).  Extra runs (for example a supplement with
a few more methods on the same seeds) add their rows where the first run lacks them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from posenc_lab.layout_bench import row_label, size_name  # noqa: E402
from posenc_lab.run_records import pct  # noqa: E402


def _cell(row, key, fmt):
    if row is None:
        return "-"
    if row.get("not_applicable"):
        return "n/a"
    value = row.get(key)
    return "-" if value is None else fmt(value)


def peer_table(results: list[dict], names: list[str]) -> str:
    """The side-by-side table (module docstring); `names` label the models' columns."""
    if len(results) != len(names):
        raise ValueError("one name per result")
    first = results[0]
    for r in results[1:]:
        if (r["seeds"], r.get("seed_start", 0), r["steps"]) != (first["seeds"], first.get("seed_start", 0), first["steps"]):
            raise ValueError("the runs differ in seeds or steps; their rows cannot sit side by side")
    base = first["base"]
    order, by_model = [], []
    for r in results:
        rows = {}
        for row in r["rows"]:
            if (row["height"], row["width"]) == (base, base):
                continue
            key = (row["height"], row["width"], row["method"])
            rows[key] = row
            if key not in order:
                order.append(key)
        by_model.append(rows)
    columns = [("layout valid", "valid_rate", pct), ("off-palette", "palette_outside", pct),
               ("KID x1000", "kid", lambda v: f"{1000 * v:.1f}"),
               ("seam x100", "seam", lambda v: f"{100 * v:.1f}"),
               ("time", "time_ratio", lambda v: f"{v:.2f}")]
    head = "| size | method | " + " | ".join(f"{c} {n}" for c, _, _ in columns for n in names) + " |"
    lines = [head, "|---|---|" + "---:|" * (len(columns) * len(names))]
    seen_size = None
    sizes = list(dict.fromkeys(k[:2] for k in order))
    position = {k: i for i, k in enumerate(order)}
    order.sort(key=lambda k: (sizes.index(k[:2]), position[k]))
    for key in order:
        h, w, method = key
        rows = [m.get(key) for m in by_model]
        if all(r is None or r.get("not_applicable") for r in rows):
            continue                      # e.g. progressive at 2x: the text says where it runs
        label = row_label(next(r for r in rows if r is not None))
        size = size_name(h, w, base) if (h, w) != seen_size else ""
        seen_size = (h, w)
        cells = [_cell(r, k, f) for _, k, f in columns for r in rows]
        lines.append(f"| {size} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def merge(main: dict, *extra: dict) -> dict:
    """A run with the rows of supplementary runs (same seeds and steps) added, direct kept once."""
    out = dict(main, rows=list(main["rows"]))
    have = {(r["height"], r["width"], r["method"]) for r in out["rows"]}
    for e in extra:
        if (e["seeds"], e.get("seed_start", 0), e["steps"]) != (main["seeds"], main.get("seed_start", 0), main["steps"]):
            raise ValueError("a supplement must have the main run's seeds and steps")
        for r in e["rows"]:
            key = (r["height"], r["width"], r["method"])
            if key not in have:
                out["rows"].append(r)
                have.add(key)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    # NAME=main.json[+supplement.json...]
    names, results = [], []
    for arg in argv:
        name, _, files = arg.rpartition("=")
        parts = [json.loads(Path(f).read_text()) for f in files.split("+")]
        results.append(merge(*parts))
        names.append(name or Path(files.split("+")[0]).stem)
    print(peer_table(results, names), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
