"""The README is a front page (issue 33): short, its node table true to the nodes, every page it
points to there, and the depth in docs/ reachable from it.

Its benchmark numbers are held to the bench outputs by tests/test_readme_bench_tables.py."""
import re
from pathlib import Path

import pytest

from conftest import registered_nodes

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_BYTES = 20 * 1024      # "at most about 20 KB"; it was 103 KB before the move to docs/


def _section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else None]


def test_the_readme_is_short():
    assert README.stat().st_size <= MAX_BYTES, (
        f"README.md is {README.stat().st_size} bytes; move depth into a docs/ page and link it")


def test_every_local_link_resolves_and_every_docs_page_is_reachable():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [ln for ln in links if not re.match(r"[a-z]+://", ln)]
    assert [ln for ln in local if not (ROOT / ln).exists()] == []
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")
             if not p.name.startswith(("bench_", "position_probe_results"))}
    linked = set(local)
    for page in sorted(p for p in pages if p in linked):   # one step further: pages linked from pages
        body = (ROOT / page).read_text(encoding="utf-8")
        linked |= {f"docs/{ln}" for ln in re.findall(r"\]\(([^)#\s:]+\.md)\)", body)}
    assert sorted(pages - linked) == [], "docs pages the README does not lead to"


def _node_rows():
    """{display name: {input: value as written}} from the README's node table."""
    rows = {}
    for line in _section(README.read_text(encoding="utf-8"), "## Nodes").splitlines():
        m = re.match(r"\| \*\*(.+?)\*\* \|", line)
        if m:
            defaults = line.rstrip(" |").rsplit(" | ", 1)[-1]
            rows[m.group(1)] = dict(re.findall(r"`(\w+)` ([^,\s]+)", defaults))
    return rows


def _as_written(value):
    """The default as the README would write it: 0.0 for a float, the name for a combo."""
    return repr(value) if isinstance(value, float) else str(value)


def schema_default(info: dict, name: str):
    for section in ("required", "optional"):
        entry = info["input"].get(section, {}).get(name)
        if entry is not None:
            opts = entry[1] if len(entry) > 1 else {}
            if "default" in opts:
                return opts["default"]
            options = entry[0] if isinstance(entry[0], list) else opts.get("options")
            return options[0]   # a combo without a default: the frontend shows the first choice
    raise KeyError(name)


def default_problems(rows: dict, nodes: dict) -> list[str]:
    out = []
    by_name = {display: cls for cls, display in nodes.values()}
    if sorted(rows) != sorted(by_name):
        out.append(f"the table lists {sorted(rows)}, the pack registers {sorted(by_name)}")
    for display, values in rows.items():
        if display not in by_name:
            continue
        info = by_name[display].GET_NODE_INFO_V1()
        if not values:
            out.append(f"{display}: no default in the table")
        for name, written in values.items():
            try:
                actual = _as_written(schema_default(info, name))
            except KeyError:
                out.append(f"{display}: no input {name}")
                continue
            if written != actual:
                out.append(f"{display}: the README says {name} {written}, the node's default is {actual}")
    return out


def test_node_table_defaults_are_the_nodes_defaults(no_model_files):
    assert default_problems(_node_rows(), registered_nodes()) == []


@pytest.mark.parametrize("edit", [
    lambda rows: rows["PBC Model Patcher (hires, upscale)"].update(boundaries="31"),
    lambda rows: rows["DiT Position Mode (YaRN, NTK, interpolate)"].update(mode="interpolate"),
    lambda rows: rows.pop("Boundary Visualizer"),
    lambda rows: rows["Re-dilation Patcher (ScaleCrafter)"].update(window="0.5"),
])
def test_node_table_check_can_fail(edit, no_model_files):
    rows = _node_rows()
    edit(rows)
    assert default_problems(rows, registered_nodes())


# The "Tested with" table is checked against the recorded host runs in tests/test_tested_with.py.


from node_contract import no_model_files  # noqa: E402,F401 (a fixture)
