"""bench/engine.py's repeated runs: the order trees stream in, and how repeats pool."""

from __future__ import annotations

import math

from bench.engine import pooled, run_order


def test_trees_take_turns_to_stream_first():
    assert run_order(2, 3) == [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]
    assert run_order(1, 2) == [(0, 0), (1, 0)]


def result(cpu: float, items: list[str], rtf: float = math.nan) -> dict:
    runs = [{"item": item, "presenter": 0, "events": []} for item in items]
    return {
        "engine": "OfflineEngine",
        "rounds": [{"presenters": 1, "runs": runs, "cpu": cpu, "rtf": rtf}],
        "checks": [{"item": "silence-60s", "events": []}],
    }


def test_repeats_pool_their_runs_and_average_their_cost():
    merged = pooled([result(0.8, ["a", "b"]), result(0.6, ["a", "b"])])
    (round_,) = merged["rounds"]
    assert [(r["item"], r["repeat"]) for r in round_["runs"]] == [
        ("a", 0),
        ("b", 0),
        ("a", 1),
        ("b", 1),
    ]
    assert math.isclose(round_["cpu"], 0.7) and math.isnan(round_["rtf"])
    assert len(round_["repeats"]) == 2 and len(merged["checks"]) == 2


def test_one_run_is_reported_as_it_came():
    single = result(0.8, ["a"])
    assert pooled([single]) is single
