"""The README's "Tested with" table, made from what the host test runs recorded.

    python tools/tested_with.py record RESULTS.xml [pytest args]   (tools/host_tests.sh calls it)
    python tools/tested_with.py table                               print the README table

``record`` runs inside the host's Python (COMFYUI_PATH set): it reads ComfyUI's version and
commit, the frontend package's version and torch's, and pytest's counts from its JUnit XML, and
writes docs/tested_with/comfyui-<version>.json.  Only a run of the whole suite (no pytest
arguments) is recorded; a partial run prints its counts and writes nothing.  ``table`` renders
those files; tests/test_tested_with.py checks that the README holds exactly that table.
Standard library only.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "tested_with"
COLUMNS = ("ComfyUI", "commit", "frontend", "torch", "host tests", "recorded")


def counts(xml_path: str) -> dict:
    tree = ET.parse(xml_path)
    suites = [tree.getroot()] if tree.getroot().tag == "testsuite" else list(tree.getroot())
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    total["passed"] = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return total


def host_versions(comfyui: Path) -> dict:
    text = (comfyui / "comfyui_version.py").read_text()
    version = re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)
    try:
        commit = subprocess.run(["git", "-C", str(comfyui), "rev-parse", "--short=8", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = os.environ.get("COMFYUI_COMMIT", "")
    from importlib import metadata
    return {"comfyui": version, "commit": commit,
            "frontend": metadata.version("comfyui-frontend-package"), "torch": metadata.version("torch")}


def record(xml_path: str, pytest_args: list[str]) -> Path | None:
    c = counts(xml_path)
    summary = f"{c['passed']} passed, {c['failures'] + c['errors']} failed, {c['skipped']} skipped"
    if pytest_args:
        print(f"tested_with: {summary} (a partial run: {' '.join(pytest_args)}; nothing recorded)")
        return None
    entry = dict(host_versions(Path(os.environ["COMFYUI_PATH"])), **c, date=date.today().isoformat())
    RECORDS.mkdir(parents=True, exist_ok=True)
    out = RECORDS / f"comfyui-{entry['comfyui']}.json"
    out.write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
    print(f"tested_with: {summary}; recorded in {out.relative_to(ROOT)}")
    return out


def entries() -> list[dict]:
    def key(e):
        return tuple(int(p) if p.isdigit() else 0 for p in e["comfyui"].split("."))
    return sorted((json.loads(p.read_text()) for p in RECORDS.glob("comfyui-*.json")), key=key)


def table() -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for e in entries():
        failed = e["failures"] + e["errors"]
        result = f"{e['passed']} passed, {failed} failed, {e['skipped']} skipped"
        rows.append(f"| {e['comfyui']} | {e['commit'] or '?'} | {e['frontend']} | {e['torch']} | {result} | {e['date']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:] == ["table"]:
        print(table())
    else:
        sys.exit(__doc__)
