"""tools/tested_with.py: the README's "Tested with" table comes from recorded host-test runs.

The counts are read from pytest's JUnit XML (written here by hand, so the expected numbers do not
come from the code under test); a partial run records nothing; the README holds exactly the table
the records give."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("tested_with", ROOT / "tools" / "tested_with.py")
tw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tw)

XML = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{e}" failures="{f}"
skipped="{s}" tests="{t}" time="1.0"></testsuite></testsuites>"""


def test_counts_from_junit_xml(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(XML.format(e=1, f=2, s=3, t=20))
    assert tw.counts(str(xml)) == {"tests": 20, "failures": 2, "errors": 1, "skipped": 3, "passed": 14}


def test_a_run_of_picked_tests_records_nothing(tmp_path, monkeypatch):
    xml = tmp_path / "r.xml"
    xml.write_text(XML.format(e=0, f=0, s=0, t=3))
    monkeypatch.setattr(tw, "RECORDS", tmp_path / "records")
    assert tw.record(str(xml), ["-k", "schema"]) is None
    assert not (tmp_path / "records").exists()


def test_what_ran():
    assert tw.scope([]) == "all of tests/host"
    assert tw.scope(["tests/host/test_browser_widget.py", "tests/host/test_host_workflows.py"]) == \
        "test_browser_widget, test_host_workflows"
    assert tw.scope(["tests/host/test_host_pbc.py", "-x"]) is None


def test_table_rows_from_records(tmp_path, monkeypatch):
    monkeypatch.setattr(tw, "RECORDS", tmp_path)
    for version, fe in (("0.33.0", "1.58.1"), ("0.33.0", "1.49.6"), ("0.3.64", "1.27.10")):
        (tmp_path / f"comfyui-{version}-fe{fe}.json").write_text(json.dumps({
            "comfyui": version, "commit": "abcd1234", "frontend": fe, "torch": "2.13.0", "tests": 10,
            "failures": 1, "errors": 0, "skipped": 2, "passed": 7, "scope": "all of tests/host",
            "date": "2026-12-07"}))
    rows = tw.table().splitlines()
    assert rows[2] == ("| 0.3.64 | abcd1234 | 1.27.10 | 2.13.0 | all of tests/host | 7 passed, 1 failed, 2 skipped "
                       "| 2026-12-07 |")
    assert rows[3].startswith("| 0.33.0 | abcd1234 | 1.49.6 |")     # by version, then frontend, not by name
    assert rows[4].startswith("| 0.33.0 | abcd1234 | 1.58.1 |")


def test_readme_holds_the_recorded_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Tested with")
    end = text.find("\n## ", start + 1)
    assert tw.table() in text[start:end], "README's 'Tested with' table differs from `python tools/tested_with.py table`"
    assert {e["comfyui"] for e in tw.entries() if e["scope"] == "all of tests/host"} >= {"0.3.64", "0.33.0"}


@pytest.mark.parametrize("entry", tw.entries(), ids=lambda e: e["comfyui"])
def test_each_recorded_run_is_whole_and_green(entry):
    assert entry["passed"] + entry["failures"] + entry["errors"] + entry["skipped"] == entry["tests"]
    assert entry["failures"] == entry["errors"] == 0, entry
