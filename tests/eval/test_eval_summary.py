"""The report's summary: every comparison is the difference of two cells of the same results."""

from __future__ import annotations

from typing import Any

import pytest

from condsim.eval.report import render_markdown
from condsim.eval.summary import combine_rows, prompt_gain_rows, reference_rows, rerank_rows, sensitivity_rows


def _results() -> dict[str, Any]:
    return {
        "toy": {
            "a": {"plain": 30.0, "zero-shot-match": 90.0, "clay": 70.0, "text": 60.0},
            "b": {"plain": 40.0, "zero-shot-match": 50.0, "clay": 58.0, "rerank": 57.0},
            "c": {"plain": 10.0, "zero-shot-match": 12.0, "clay": 12.02},
        },
        "intervals": {
            "toy": {
                "a": {"clay": [68.0, 72.0], "zero-shot-match": [88.0, 91.0]},
                "b": {"clay": [49.0, 60.0], "zero-shot-match": [45.0, 55.0]},
            }
        },
        "topk": {
            "toy": {
                "b": {
                    "clay": {"precision@10": 60.0, "ndcg@10": 62.0},
                    "rerank": {"precision@10": 63.0, "ndcg@10": 61.5},
                }
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
                    "validation": {"20": 66.0, "50": 61.0},
                    "test": {"20": 65.0, "50": 60.0},
                }
            }
        },
        "meta": {},
    }


def test_reference_rows_compare_the_best_other_method_with_the_reference() -> None:
    a, b, c = reference_rows(_results(), ["toy"])
    assert (a.best_method, a.best_minus_reference, a.clay_minus_plain, a.separated) == (
        "clay",
        -20.0,
        40.0,
        True,
    )
    assert (b.best_method, b.best_minus_reference, b.separated) == ("clay", 8.0, False)  # intervals overlap
    assert c.separated is None and c.best_minus_reference == pytest.approx(0.02)


def test_the_other_comparisons_are_differences_of_cells() -> None:
    results = _results()
    assert prompt_gain_rows(results, ["toy"]) == [["toy", "a", {"built-in": 40.0, "no-class-names": 5.0}]]
    assert rerank_rows(results, ["toy"]) == [["toy", "b", 3.0, -0.5, -1.0]]
    assert combine_rows(results, ["toy"]) == [["toy", "a+b", 50.0, 47.5, -2.5]]
    assert sensitivity_rows(results) == [["clay k", "map", "50", "20", 60.0, 65.0, 61.0, 66.0]]


def test_the_report_opens_with_the_summary_and_counts_ties_as_ties() -> None:
    report = render_markdown(_results())
    assert report.index("## Summary: what each method adds") < report.index("## toy")
    # c's +0.02 rounds to +0.0 in the table, so it is not counted as beating the reference
    assert "above the reference on 1 of 3 conditions (toy/b); with disjoint intervals on 0." in report
    assert "| toy | a | +40.0 | +5.0 |" in report and "| toy | a+b | 50.0 | 47.5 | -2.5 |" in report
