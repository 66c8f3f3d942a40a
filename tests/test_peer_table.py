"""tools/peer_table.py: two benchmark runs side by side (values checked against the inputs)."""
import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("peer_table", Path(__file__).resolve().parents[1] / "tools" / "peer_table.py")
peer_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer_table)


def _row(h, method, valid, **kw):
    return dict(dict(height=h, width=h, method=method, valid_rate=valid, palette_outside=0.1, kid=0.002,
                     seam=0.01, time_ratio=1.0, same_as=None, resolved=None), **kw)


def _run(rows, seeds=24):
    return {"seeds": seeds, "seed_start": 1000, "steps": 20, "base": 32, "rows": rows}


def test_side_by_side_values_and_na():
    a = _run([_row(32, "direct", 1.0), _row(64, "direct", 0.0), _row(64, "hires", 1.0),
              dict(height=64, width=64, method="progressive", not_applicable="needs > 2x")])
    b = _run([_row(32, "direct", 0.9), _row(64, "direct", 0.25), _row(64, "hires", 0.75, kid=-0.0031)])
    table = peer_table.peer_table([a, b], ["A", "B"])
    lines = table.splitlines()
    assert lines[0].startswith("| size | method | layout valid A | layout valid B |")
    assert len(lines) == 2 + 2                  # 1x rows and rows n/a in every run left out
    assert lines[2].startswith("| 2x (64x64) | direct | 0.0% | 25.0% |")
    assert "| hires fix (nearest-exact, denoise 0.5) | 100.0% | 75.0% | 10.0% | 10.0% | 2.0 | -3.1 |" in lines[3]
    b["rows"].append(_row(64, "progressive", 0.5))            # run in B only: shown, n/a for A
    lines = peer_table.peer_table([a, b], ["A", "B"]).splitlines()
    assert lines[4].startswith("|  | progressive (nearest-exact, denoise 0.5) | n/a | 50.0% |")


def test_supplement_rows_are_merged_and_runs_must_match():
    main = _run([_row(64, "direct", 0.0)])
    supp = _run([_row(64, "direct", 0.5), _row(64, "hires:pbc=3", 0.75)])
    merged = peer_table.merge(main, supp)
    assert [r["method"] for r in merged["rows"]] == ["direct", "hires:pbc=3"]
    assert merged["rows"][0]["valid_rate"] == 0.0              # the main run's direct is kept
    with pytest.raises(ValueError, match="seeds and steps"):
        peer_table.merge(main, _run([], seeds=8))
    with pytest.raises(ValueError, match="seeds or steps"):
        peer_table.peer_table([main, _run([], seeds=8)], ["A", "B"])
