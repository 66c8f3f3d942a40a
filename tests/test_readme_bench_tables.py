"""Every benchmark number in the README and in the benchmark pages of docs/ is a benchmark's own
output, so a number typed or edited by hand fails here.

* docs/benchmarks_dit.md (the RPE-2D tables, once the README's "Does RPE-2D work?"): every data
  row appears, character for character, in a docs/bench_rpe2d*.md that `python -m posenc_lab
  bench-rpe2d` wrote (its command line is in that file's head).
* docs/benchmarks_unet.md: every data row is a row of docs/bench_layout.md (written by `python -m
  posenc_lab bench`) or of the two-model table tools/peer_table.py makes from the runs'
  JSON outputs docs/bench_peers_{A,B}.json and their supplements.
* README.md: every percentage in it is part of one of the CLAIMS below, whose numbers are read
  from the rows of bench outputs under docs/.
"""
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else None]


def _data_rows(text):
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| size |") and not line.startswith("|---"):
            rows.append(line.rstrip())
    return rows


def _bench_output(path: Path, command: str) -> str:
    text = path.read_text(encoding="utf-8")
    assert f"Command: `python -m posenc_lab {command} " in text, f"{path} is not a `{command}` output"
    return text


def test_rpe2d_rows_come_from_the_benchmark_outputs():
    page = (DOCS / "benchmarks_dit.md").read_text(encoding="utf-8")
    rows = _data_rows(_section(page, "## Does RPE-2D work?"))
    outputs = sorted(DOCS.glob("bench_rpe2d*.md"))
    assert outputs, "no benchmark output under docs/"
    produced = {line for out in outputs for line in _data_rows(_bench_output(out, "bench-rpe2d"))}
    assert len(rows) >= 80, f"the section has {len(rows)} table rows; the tables went missing"
    missing = [r for r in rows if r not in produced]
    assert not missing, "docs/benchmarks_dit.md rows not in any docs/bench_rpe2d*.md:\n" + "\n".join(missing)


def _peer_table_rows() -> set:
    spec = importlib.util.spec_from_file_location("peer_table", ROOT / "tools" / "peer_table.py")
    peer_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer_table)
    runs = []
    for model in ("A", "B"):
        main = DOCS / f"bench_peers_{model}.json"
        _bench_output(main.with_suffix(".md"), "bench")
        runs.append(peer_table.merge(json.loads(main.read_text()),
                                     json.loads((DOCS / f"bench_peers_{model}_supp.json").read_text())))
    return set(_data_rows(peer_table.peer_table(runs, ["A", "B"])))


def test_reference_unet_rows_come_from_the_benchmark_outputs():
    page = (DOCS / "benchmarks_unet.md").read_text(encoding="utf-8")
    peers = _data_rows(_section(page, "## Is it worth using?"))
    layout = _data_rows(_section(page, "## Does it work?"))
    assert len(peers) >= 70 and len(layout) >= 40, "the tables went missing"
    from_peers = _peer_table_rows()
    missing = [r for r in peers if r not in from_peers]
    assert not missing, "two-model table rows tools/peer_table.py does not make:\n" + "\n".join(missing)
    bench = set(_data_rows(_bench_output(DOCS / "bench_layout.md", "bench")))
    missing = [r for r in layout if r not in bench]
    assert not missing, "layout table rows not in docs/bench_layout.md:\n" + "\n".join(missing)


# The README's benchmark numbers: each {name} is the cell of a bench output's row,
# (file under docs/, size cell, method cell, column header).
A, B = "bench_peers_A.md", "bench_peers_B.md"
SINCOS, ROPE = "bench_rpe2d.md", "bench_rpe2d_rope.md"
SINCOS_HIRES, ROPE_HIRES = "bench_rpe2d_hires_modes.md", "bench_rpe2d_rope_hires_modes.md"
X2, X3, VALID = "2x (64x64)", "3x (96x96)", "layout valid"
CLAIMS = [
    ("2x, denoise 0.5: {a_hires} / {b_hires} valid layouts, against {a_pbc} / {b_pbc} for PBC alone "
     "and {a_direct} / {b_direct} for direct sampling", {
         "a_hires": (A, X2, "hires fix (nearest-exact, denoise 0.5)", VALID),
         "b_hires": (B, X2, "hires fix (nearest-exact, denoise 0.5)", VALID),
         "a_pbc": (A, X2, "PBC N=3", VALID), "b_pbc": (B, X2, "PBC N=3", VALID),
         "a_direct": (A, X2, "direct", VALID), "b_direct": (B, X2, "direct", VALID)}),
    ("more valid layouts than `interpolate` at 2x ({s_yarn} / {r_yarn} against {s_interp} / {r_interp})", {
        "s_yarn": (SINCOS, X2, "vanilla+yarn", VALID), "r_yarn": (ROPE, X2, "rope+yarn", VALID),
        "s_interp": (SINCOS, X2, "vanilla+interpolate", VALID),
        "r_interp": (ROPE, X2, "rope+interpolate", VALID)}),
    ("at 2x ({s_yarn} / {r_yarn} against {s_rpe} / {r_rpe})", {
        "s_yarn": (SINCOS_HIRES, X2, "vanilla+hires:mode=yarn", VALID),
        "r_yarn": (ROPE_HIRES, X2, "rope+hires:mode=yarn", VALID),
        "s_rpe": (SINCOS, X2, "rpe2d+hires", VALID), "r_rpe": (ROPE, X2, "rope_rpe2d+hires", VALID)}),
    ("lost to `yarn` on the RoPE tiny DiT at 2x and 3x ({yarn2} / {yarn3} valid against {interp2} / {interp3})", {
        "yarn2": (ROPE, X2, "rope+yarn", VALID), "yarn3": (ROPE, X3, "rope+yarn", VALID),
        "interp2": (ROPE, X2, "rope+interpolate", VALID), "interp3": (ROPE, X3, "rope+interpolate", VALID)}),
    ("({s_rpe} valid at 2x against `yarn`'s {s_yarn})", {
        "s_rpe": (SINCOS, X2, "rpe2d+linspace", VALID), "s_yarn": (SINCOS, X2, "vanilla+yarn", VALID)}),
]


def _cell(name: str, size: str, method: str, column: str) -> str:
    text = _bench_output(DOCS / name, "bench-rpe2d" if "rpe2d" in name else "bench")
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("| size |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    for line in _data_rows(text):
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == size and cells[1] == method:
            return cells[columns.index(column)]
    raise AssertionError(f"no row {size} | {method} in docs/{name}")


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def readme_number_problems(readme: str) -> list[str]:
    """What in `readme` is not what the bench outputs say: a claim whose text (numbers filled in
    from the outputs) is missing, or a percentage outside every claim."""
    text, out, covered = _flat(readme), [], []
    for template, cells in CLAIMS:
        claim = template.format(**{k: _cell(*v) for k, v in cells.items()})
        at = text.find(claim)
        if at < 0:
            out.append(f"the README does not say, as the bench outputs do: {claim!r}")
        while at >= 0:
            covered.append((at, at + len(claim)))
            at = text.find(claim, at + 1)
    for m in re.finditer(r"\d+(?:\.\d+)?\s?%", text):
        if not any(a <= m.start() and m.end() <= b for a, b in covered):
            out.append(f"a percentage no claim ties to a bench output: ...{text[max(0, m.start() - 60):m.end() + 10]}...")
    return out


def test_readme_numbers_come_from_the_benchmark_outputs():
    assert readme_number_problems((ROOT / "README.md").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("50.0% / 82.8%", "50.0% / 83.8%", 1),        # a number typed by hand
    lambda t: t.replace("## Limitations", "About 95% of users like it.\n\n## Limitations", 1),  # untied
])
def test_readme_number_check_can_fail(edit):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_number_problems(edit(readme))
