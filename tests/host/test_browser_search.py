"""Browser test of the node search in real ComfyUI: the words users type find the pack's nodes,
as high as the frontend's ranking lets a new pack's node come (issue #15: "hires", "high res",
"upscale", "ScaleCrafter" found none of them; issue 33: "yarn", "ntk", "interpolate", "flux" found
none).  Opt-in.

Starts ComfyUI with the pack (tests/host/comfy_server.py), opens it in headless Chromium with
playwright-core (tests/host/browser_search.mjs), double-clicks the canvas, types each word of
posenc_lab/search_ranks.py into the node search box and reads the result list in the order shown.
Each word's rank must meet the rule there, and equal the rank recorded for this ComfyUI and frontend
in docs/search_ranks.json; POSENC_RECORD_SEARCH=1 records it instead (and rewrites
docs/search_ranks.md).  Needs what the widget's browser test needs (COMFYUI_PATH, Chromium, node,
playwright-core); screenshots go to tests/artifacts/browser_search/."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from host import browser
from host.comfy_server import get_json, running_comfyui
from posenc_lab import search_ranks

HOST_DIR = Path(__file__).resolve().parent
ROOT = HOST_DIR.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser_search"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
RECORD = os.environ.get("POSENC_RECORD_SEARCH") == "1"

pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="browser test of the node search: set "
                                "COMFYUI_PATH to a ComfyUI checkout to run it")


def _searched(word: str, info: dict, keys: list) -> bool:
    """Whether the frontend searches a field of the node that holds the word (its id, its display
    name, or, where the frontend reads them, its search aliases)."""
    w = word.lower()
    fields = [info["name"], info["display_name"]] + (info.get("search_aliases") or [] if "search_aliases" in keys else [])
    return any(w in f.lower() for f in fields)


def test_users_words_find_the_packs_nodes_in_the_search_box():
    ours = sorted({n for nodes in search_ranks.QUERIES.values() for n in nodes})
    with running_comfyui(ARTIFACTS, "posenc-search-", "PBCModelPatcher") as server:
        url = server["url"]
        info = {k: get_json(f"{url}object_info/{k}")[k] for k in ours}
        comfyui = get_json(f"{url}system_stats")["system"]["comfyui_version"]
        r = browser.run_script("browser_search.mjs", url, ARTIFACTS, "--", *search_ranks.QUERIES)
    assert r.returncode == 0, r.stderr[-4000:]
    seen = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith('{"results"')][-1])
    label = f"ComfyUI {comfyui} + frontend {seen['frontend']}"
    ranks, searched, bad = {}, {}, []
    for query, nodes in search_ranks.QUERIES.items():
        answers = [info[n]["display_name"] for n in nodes]
        ranks[query] = search_ranks.measure(query, seen["results"][query], answers, seen["frequencies"])
        searched[query] = any(_searched(query, info[n], seen["keys"]) for n in nodes)
        wrong = search_ranks.problem(query, ranks[query], searched[query])
        if wrong:
            bad.append(f"{label}: {wrong}; listed: {seen['results'][query][:12]}")
    print(label, {q: m["rank"] for q, m in ranks.items()})
    (ARTIFACTS / "ranks.json").write_text(json.dumps({label: ranks}, indent=1))
    record = search_ranks.load()
    if RECORD:
        record["queries"] = {q: [info[n]["display_name"] for n in nodes] for q, nodes in search_ranks.QUERIES.items()}
        record["frontends"][label] = {"keys": seen["keys"], "searched": searched, "ranks": ranks}
        record["frontends"] = dict(sorted(record["frontends"].items(), key=lambda kv: kv[0].split()[-1]))
        search_ranks.RECORD_JSON.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        search_ranks.RECORD_MD.write_text(search_ranks.render(record), encoding="utf-8")
    elif label in record["frontends"]:
        was = record["frontends"][label]["ranks"]
        bad += [f"{label}: {q!r} listed the pack's node at {m['rank']} of {m['shown']}, recorded "
                f"{was.get(q, {}).get('rank')} of {was.get(q, {}).get('shown')} (POSENC_RECORD_SEARCH=1 records it)"
                for q, m in ranks.items() if (m["rank"], m["shown"]) != (was.get(q, {}).get("rank"), was.get(q, {}).get("shown"))]
    else:
        print(f"{label} has no record in {search_ranks.RECORD_JSON.name} (POSENC_RECORD_SEARCH=1 records it)")
    assert bad == [], "\n".join(bad)
