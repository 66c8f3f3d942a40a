"""tools/soak.py without ComfyUI: its plan (every pack node, every bad category, a plain check after
each bad prompt and interrupt), how it reads refusals, and the README's soak figures, which must be
the recorded runs' (docs/soak/*.json, written by `python tools/soak.py --json`)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("soak", ROOT / "tools" / "soak.py")
soak = importlib.util.module_from_spec(spec)
sys.modules["soak"] = soak          # (its dataclasses look their module up)
spec.loader.exec_module(soak)

PATCHES = {"PBCModelPatcher", "RedilationPatcher", "DiTPositionMode", "LoraLoaderModelOnly"}


def _classes(p):
    return {n["class_type"] for n in p.prompt.values()}


def test_the_plan_is_fixed_by_the_seed():
    a, b, c = (soak.build_plan(s, 12, 12, 3) for s in (0, 0, 1))
    dump = lambda plan: json.dumps([(e, p.prompt) for e, p in plan.stream], allow_nan=True)
    assert dump(a) == dump(b) and dump(a) != dump(c)


def test_the_short_plan_covers_every_node_and_category():
    plan = soak.build_plan(0, 12, 12, 3)
    events = [e for e, _ in plan.stream]
    assert events.count("valid") == 12 and events.count("bad") == 12 and events.count("interrupt") == 3
    used = set().union(*(_classes(p) for e, p in plan.stream if e == "valid"))
    assert set(soak.PACK_NODES) <= used and "LoraLoaderModelOnly" in used and "LatentUpscaleBy" in used
    assert {p.category for e, p in plan.stream if e == "bad"} == set(soak.BAD_CATEGORIES)
    # a plain check prompt (no patch) follows every bad prompt and every interrupt, with a seed of its own
    for (event, _), (after, check) in zip(plan.stream, plan.stream[1:]):
        assert (after == "check") == (event in ("bad", "interrupt"))
    checks = [p for e, p in plan.stream if e == "check"]
    assert all(not _classes(p) & PATCHES for p in checks)
    seeds = [p.prompt[p.samplers[0]]["inputs"]["seed"] for p in checks]
    assert len(set(seeds)) == len(seeds) == 15
    assert {soak._tag(p) for p in checks} <= {soak._tag(p) for p in plan.reference}


def test_the_default_bad_prompts_cover_every_case():
    cases = soak._bad_cases()
    order = soak.bad_case_order(cases, 80)
    assert soak.BAD_CASES == 76 and set(order) == {m for v in cases.values() for m in v}
    assert len(soak.bad_case_order(cases, 12)) == 12


def test_chains_the_issue_asks_for():
    plan = soak.build_plan(0, 200, 80, 20)
    valid = [p for e, p in plan.stream if e == "valid"]
    assert len(valid) == 200
    assert any({"PBCModelPatcher", "RedilationPatcher"} <= _classes(p) for p in valid)
    assert any({"DiTPositionMode", "LoraLoaderModelOnly"} <= _classes(p) for p in valid)
    hires = [p for p in valid if "LatentUpscaleBy" in _classes(p)]
    assert hires and all(len(p.samplers) == 2 for p in hires)
    assert sum(e == "interrupt" for e, _ in plan.stream) == 20


def test_refusal_text_is_what_the_user_is_told():
    validation = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                            "details": "", "extra_info": {}},
                  "node_errors": {"3": {"errors": [{"type": "value_bigger_than_max", "message": "Value 257 bigger than max of 256",
                                                    "details": "boundaries", "extra_info": {"input_name": "boundaries"}}]}}}
    assert "Value 257 bigger than max of 256" in soak.refusal_text(400, validation, None)
    entry = {"status": {"status_str": "error", "messages": [
        ["execution_start", {}],
        ["execution_error", {"node_type": "PBCModelPatcher", "exception_message": "PBC: need 0 <= start_percent",
                             "traceback": ["File posenc/pbc.py, in end_percent"]}]]}}
    text = soak.refusal_text(200, {}, entry)
    assert text == "PBCModelPatcher | PBC: need 0 <= start_percent"      # not the traceback
    assert soak.status_kind(entry) == "error"
    assert soak.names_it(text, ["start_percent"]) and not soak.names_it(text, ["end_percent"])
    assert not soak.names_it("position_mode 'x' is not one of its choices", ["mode"])
    assert soak.names_it("DiT Position Mode: mode 'x' is not one of its choices", ["mode"])


def test_cache_and_memory_figures():
    entry = {"status": {"messages": [["execution_cached", {"nodes": ["1", "2"]}]]}}
    assert not soak.executed(entry, "2") and soak.executed(entry, "5")
    assert soak.rss_growth(1000.0, 1050.0) == pytest.approx(0.05)
    assert soak.slope_per_100([10, 11, 12, 13]) == pytest.approx(100.0)
    assert soak.slope_per_100([5, 5, 5]) == 0.0


# The README's soak figures are the recorded runs' (docs/soak/comfyui-<version>.json, written by
# `python tools/soak.py --host HOST --json docs/soak/comfyui-<version>.json`), as its "Tested with"
# table is the recorded host-test runs'.

def test_readme_holds_the_recorded_soak_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Reliability")
    section = text[start:text.find("\n## ", start + 1)]
    assert soak.table() in section, "README's soak table differs from `python tools/soak.py table`"
    assert {r["host"]["comfyui"] for r in soak.records()} >= {"0.3.64", "0.33.0"}


@pytest.mark.parametrize("record", soak.records(), ids=lambda r: r["host"]["comfyui"])
def test_each_recorded_soak_is_full_size_and_passed(record):
    assert all(record["checks"].values()) and not record["failures"], record["failures"]
    assert record["valid"]["sent"] >= 200 and record["bad"]["sent"] >= 60 and record["interrupts"]["sent"] >= 20
    assert record["valid"]["succeeded"] == record["valid"]["sent"]
    assert record["bad"]["refused"] + record["bad"]["completed"] == record["bad"]["sent"]
    assert set(record["bad"]["categories"]) == set(soak.BAD_CATEGORIES)
    assert record["rss_mib"]["growth_percent"] <= 100 * soak.RSS_LIMIT


def test_table_rows_from_records(tmp_path, monkeypatch):
    monkeypatch.setattr(soak, "RECORDS", tmp_path)
    for version, growth in (("0.33.0", 1.5), ("0.3.64", -0.5)):
        (tmp_path / f"comfyui-{version}.json").write_text(json.dumps({
            "host": {"comfyui": version}, "valid": {"sent": 200, "succeeded": 200, "identical": 25, "compared_with_reference": 25},
            "bad": {"sent": 80, "refused": 75, "named": 75, "completed": 5, "next_identical": 80},
            "interrupts": {"sent": 20, "interrupted_running": 20, "plain_identical": 20},
            "rss_mib": {"after_warmup": 1000.0, "end": 1000.0 * (1 + growth / 100), "growth_percent": growth}}))
    rows = soak.table().splitlines()
    assert rows[2] == ("| 0.3.64 | 200/200 | 75/75 (+5 accepted limits ran) | 80/80 | 20/20, 20/20 | 25/25 | "
                       "1000 -> 995 MiB |")
    assert rows[3].startswith("| 0.33.0 |")      # by version, not by name
