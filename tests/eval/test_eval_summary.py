"""The report's summary: every comparison is the difference of two cells of the same results."""

from __future__ import annotations

from typing import Any

import pytest

from condsim.eval.report import render_markdown
from condsim.eval.summary import (
    ChosenValueRow,
    PromptGainRow,
    RerankRow,
    chosen_value_rows,
    combine_rows,
    paired_interval,
    prompt_gain_rows,
    reference_rows,
    rerank_rows,
    sensitivity_rows,
)


def _results() -> dict[str, Any]:
    at = {"a": {"map": 60.0, "ndcg@10": 80.0}}
    return {
        "toy": {
            "a": {"plain": 30.0, "zero-shot-match": 90.0, "clay": 70.0, "text": 60.0},
            "b": {"plain": 40.0, "zero-shot-match": 50.0, "clay": 58.0, "rerank": 57.0},
            "c": {"plain": 10.0, "zero-shot-match": 12.0, "clay": 12.02},
            "d": {"plain": 10.0, "zero-shot-match": 12.0, "clay": 20.0, "text": 20.0},
        },
        "split_scores": {
            "toy": {
                # a: clay always 20 below the reference; b: clay ahead on average, but not on every split;
                # d: clay 8 ahead on every split, give or take 1
                "a": {"clay": [70.0, 69.0, 71.0], "zero-shot-match": [90.0, 89.0, 91.0]},
                "b": {"clay": [58.0, 40.0, 60.0], "zero-shot-match": [50.0, 52.0, 49.0]},
                "d": {"clay": [20.0, 21.0, 19.0], "zero-shot-match": [12.0, 12.0, 12.0]},
                "a+b": {"clay-stacked": [50.0, 51.0, 49.0], "clay-mean": [47.5, 48.0, 46.0]},
            }
        },
        "topk": {
            "toy": {
                "a": {"zero-shot-match": {"ndcg@10": 85.0}},
                "b": {
                    "clay": {"precision@10": 60.0, "ndcg@10": 62.0},
                    "rerank": {"precision@10": 63.0, "ndcg@10": 61.5},
                },
            }
        },
        "prompts": {"toy": {"a": {"built-in": {"clay": 70.0}, "no-class-names": {"clay": 35.0}}}},
        "multi_condition": {"toy": {"a+b": {"clay-stacked": 50.0, "clay-mean": 47.5}}},
        "sensitivity": {
            "defaults": {
                "clay k": {
                    "metric": "map",
                    "default": "50",
                    "chosen": "20",
                    "validation": {"10": 55.0, "20": 66.0, "50": 61.0, "100": 50.0},
                    "test": {"20": 65.0, "50": 60.0},
                },
                "w": {"metric": "map", "default": "1", "chosen": "1", "validation": {"1": 1.0}, "test": {}},
            },
            "test": {"toy": {"clay k": {"50": at, "20": {"a": {"map": 72.0, "ndcg@10": 79.0}}}}},
        },
        "meta": {},
    }


def test_reference_rows_compare_the_best_other_method_with_the_reference() -> None:
    a, b, c, d = reference_rows(_results(), ["toy"])
    assert (a.best_method, a.best_minus_reference, a.clay_minus_plain) == ("clay", -20.0, 40.0)
    assert a.difference_interval == pytest.approx((-20.0, -20.0)) and a.side == "below 0"
    assert (b.best_method, b.best_minus_reference, b.side) == ("clay", 8.0, "spans 0")
    assert c.difference_interval is None and c.best_minus_reference == pytest.approx(0.02)
    assert (d.best_method, d.side) == ("clay", "above 0")  # a tie goes to the method listed first
    low, high = d.difference_interval or (0.0, 0.0)
    assert low < 8.0 < high and high - low < 5.0


def test_paired_intervals_need_the_same_splits_on_both_sides() -> None:
    assert paired_interval([1.0, 2.0], [1.0]) is None and paired_interval([1.0], [0.0]) is None
    assert paired_interval(None, [1.0, 2.0]) is None
    # a swing both methods share cancels: the paired interval is a point, the unpaired ones would overlap
    assert paired_interval([10.0, 30.0, 50.0], [9.0, 29.0, 49.0]) == pytest.approx((1.0, 1.0))


def test_the_other_comparisons_are_differences_of_cells() -> None:
    results = _results()
    assert prompt_gain_rows(results, ["toy"]) == [
        PromptGainRow("toy", "a", {"built-in": 40.0, "no-class-names": 5.0})
    ]
    assert rerank_rows(results, ["toy"]) == [RerankRow("toy", "b", 3.0, -0.5, -1.0)]
    (combined,) = combine_rows(results, ["toy"])
    assert (combined.suite, combined.conditions, combined.stack, combined.mean) == ("toy", "a+b", 50.0, 47.5)
    assert combined.difference_interval is not None and combined.difference_interval[1] < 0
    clay_k, weight = sensitivity_rows(results)
    assert (clay_k.test_at_default, clay_k.test_at_chosen, clay_k.validation_low, clay_k.validation_high) == (
        60.0,
        65.0,
        50.0,
        66.0,
    )
    assert not clay_k.chosen_at_grid_edge and weight.chosen_at_grid_edge
    # only sweeps whose chosen value differs from the default, with the reference beside them
    assert chosen_value_rows(results) == [
        ChosenValueRow(
            "clay k",
            "toy",
            "a",
            default={"map": 60.0, "ndcg@10": 80.0},
            chosen={"map": 72.0, "ndcg@10": 79.0},
            reference={"map": 90.0, "ndcg@10": 85.0},
        )
    ]


def test_the_report_opens_with_the_summary_and_counts_ties_as_ties() -> None:
    report = render_markdown(_results())
    assert report.index("## Summary: what each method adds") < report.index("## toy")
    # c's +0.02 rounds to +0.0 in the table, so it is not counted as beating the reference; b is above
    # it on split 0 but not on every split, d on every split
    assert (
        "above the reference on 2 of 4 conditions (toy/b, toy/d); with the paired interval of the "
        "difference above 0 on 1 (toy/d)." in report
    )
    assert "| toy | a | +40.0 | +5.0 |" in report and "| toy | a+b | 50.0 | 47.5 | -2.5 | " in report
    assert "| clay k 50 → 20 | toy | a | 60.0 → 72.0 | 80.0 → 79.0 | 90.0 / 85.0 |" in report


def test_a_run_without_reference_or_sweeps_has_no_empty_summary() -> None:
    results = {"toy": {"a": {"plain": 30.0, "clay": 70.0}}, "meta": {}}
    assert "## Summary" not in render_markdown(results)
