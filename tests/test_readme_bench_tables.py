"""The README's RPE-2D benchmark tables are the benchmark's own output: every data row of the
section "Does RPE-2D work?" appears, character for character, in a file under docs/ that
`python -m posenc_lab bench-rpe2d` wrote (its command line is in that file's head), so a number
typed or edited by hand into the README fails here."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_readme_rpe2d_rows_come_from_the_benchmark_outputs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = _data_rows(_section(readme, "## Does RPE-2D work?"))
    outputs = sorted((ROOT / "docs").glob("bench_rpe2d*.md"))
    assert outputs, "no benchmark output under docs/"
    for out in outputs:
        assert "Command: `python -m posenc_lab bench-rpe2d " in out.read_text(encoding="utf-8"), out
    produced = {line for out in outputs for line in _data_rows(out.read_text(encoding="utf-8"))}
    assert len(rows) >= 40, f"the section has {len(rows)} table rows; the tables went missing"
    missing = [r for r in rows if r not in produced]
    assert not missing, "README rows not in any docs/bench_rpe2d*.md:\n" + "\n".join(missing)
