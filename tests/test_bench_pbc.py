"""tools/bench_pbc.py times what a sampling run does: each patched forward is a new step."""
import importlib.util
from pathlib import Path

import torch

spec = importlib.util.spec_from_file_location("bench_pbc", Path(__file__).resolve().parents[1] / "tools" / "bench_pbc.py")
bench_pbc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_pbc)


def _plans_per_call(jitter, calls=3):
    _, pbc, rt = bench_pbc.conv_workload(4, 8, 2.0, 31, jitter, "auto")
    seen = []
    for _ in range(calls):
        pbc()
        seen.append((rt._plans_for, [id(p) for p in rt._plans.values()]))
    return seen


def test_with_jitter_every_patched_call_is_a_new_step_with_its_own_plans():
    seen = _plans_per_call(jitter=1)
    steps = [s for s, _ in seen]
    assert len({s.key for s in steps}) == 3            # three sigmas, three boundary keys
    plan_ids = [ids for _, ids in seen]
    assert all(ids for ids in plan_ids)
    assert not set(plan_ids[0]) & set(plan_ids[1]) and not set(plan_ids[1]) & set(plan_ids[2])


def test_without_jitter_the_plans_are_built_once():
    seen = _plans_per_call(jitter=0)
    assert seen[0][1] == seen[1][1] == seen[2][1]


def test_the_patched_forward_is_the_valued_padding_conv():
    plain, pbc, rt = bench_pbc.conv_workload(4, 8, 2.0, 3, 1, "auto")
    a, b = plain(), pbc()
    assert a.shape == b.shape and not torch.equal(a, b)
