"""The README's "Tested with" table, made from what the host test runs recorded.

    python tools/tested_with.py record RESULTS.xml [pytest args]   (tools/host_tests.sh calls it)
    python tools/tested_with.py table                               print the README table

``record`` runs inside the host's Python (COMFYUI_PATH set): it reads ComfyUI's version and
commit (COMFYUI_COMMIT, where the checkout is not a git work tree), the frontend package's
version and torch's, and pytest's counts from its JUnit XML, and writes
docs/tested_with/comfyui-<version>-fe<frontend>.json.  What ran is "all of tests/host" for a run
without pytest arguments, else the test files named (a run with -k or other options that pick
tests is not recorded: its counts say nothing about a file).  ``table`` renders those files;
tests/test_tested_with.py checks that the README holds exactly that table.
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
COLUMNS = ("ComfyUI", "commit", "frontend", "torch", "what ran", "result", "recorded")


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
        commit = subprocess.run(["git", "-C", str(comfyui), "rev-parse", "--show-toplevel", "--short=8", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.split()
        commit = commit[1] if Path(commit[0]).resolve() == comfyui.resolve() else ""
    except (OSError, subprocess.CalledProcessError, IndexError):
        commit = ""
    commit = commit or os.environ.get("COMFYUI_COMMIT", "")[:8]
    from importlib import metadata
    return {"comfyui": version, "commit": commit,
            "frontend": metadata.version("comfyui-frontend-package"), "torch": metadata.version("torch")}


def scope(pytest_args: list[str]) -> str | None:
    """What a run covered: every test of tests/host, or the files named; None when options pick tests."""
    if not pytest_args:
        return "all of tests/host"
    if all(a.startswith("tests/host/") and a.endswith(".py") for a in pytest_args):
        return ", ".join(Path(a).stem for a in pytest_args)
    return None


def record(xml_path: str, pytest_args: list[str]) -> Path | None:
    c = counts(xml_path)
    summary = f"{c['passed']} passed, {c['failures'] + c['errors']} failed, {c['skipped']} skipped"
    what = scope(pytest_args)
    if what is None:
        print(f"tested_with: {summary} (tests picked by {' '.join(pytest_args)}; nothing recorded)")
        return None
    entry = dict(host_versions(Path(os.environ["COMFYUI_PATH"])), **c, scope=what, date=date.today().isoformat())
    RECORDS.mkdir(parents=True, exist_ok=True)
    out = RECORDS / f"comfyui-{entry['comfyui']}-fe{entry['frontend']}.json"
    out.write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
    print(f"tested_with: {summary}; recorded in {out.relative_to(ROOT)}")
    return out


def entries() -> list[dict]:
    def key(e):
        return tuple(tuple(int(p) if p.isdigit() else 0 for p in e[k].split(".")) for k in ("comfyui", "frontend"))
    return sorted((json.loads(p.read_text()) for p in RECORDS.glob("comfyui-*.json")), key=key)


def table() -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for e in entries():
        failed = e["failures"] + e["errors"]
        result = f"{e['passed']} passed, {failed} failed, {e['skipped']} skipped"
        rows.append(f"| {e['comfyui']} | {e['commit'] or '?'} | {e['frontend']} | {e['torch']} | {e['scope']} | "
                    f"{result} | {e['date']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:] == ["table"]:
        print(table())
    else:
        sys.exit(__doc__)
