"""What each method adds: the derived comparisons a reader of `condsim bench` needs first.

Pure functions from a results.json dictionary (`condsim.eval.bench`) to rows of numbers; the report
(`condsim.eval.report`) renders them. Every comparison is between two cells of the same run, so the
summary can never disagree with the tables below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: methods that read no prompt: the baselines every other method is compared with
REFERENCE = "zero-shot-match"
PLAIN = "plain"


@dataclass(frozen=True)
class ReferenceRow:
    """One condition: the baselines, CLAY, and the best prompt-using method against the reference."""

    suite: str
    condition: str
    plain: float
    reference: float
    clay: float | None
    best_method: str
    best: float
    #: True when the 95 % intervals over split seeds of the best method and the reference are disjoint
    separated: bool | None

    @property
    def best_minus_reference(self) -> float:
        return self.best - self.reference

    @property
    def clay_minus_plain(self) -> float | None:
        return None if self.clay is None else self.clay - self.plain


def reference_rows(results: Mapping[str, Any], suites: list[str]) -> list[ReferenceRow]:
    """Per retrieval condition: plain, the zero-shot reference, CLAY and the best other method (split 0),
    and whether the intervals of the best method and the reference are disjoint."""
    rows = []
    for suite in suites:
        for condition, scores in results[suite].items():
            if PLAIN not in scores or REFERENCE not in scores:
                continue
            others = {m: v for m, v in scores.items() if m not in (PLAIN, REFERENCE)}
            if not others:
                continue
            best_method = max(others, key=lambda m: (others[m], m))
            spans = results.get("intervals", {}).get(suite, {}).get(condition, {})
            rows.append(
                ReferenceRow(
                    suite=suite,
                    condition=condition,
                    plain=scores[PLAIN],
                    reference=scores[REFERENCE],
                    clay=scores.get("clay"),
                    best_method=best_method,
                    best=others[best_method],
                    separated=_disjoint(spans.get(best_method), spans.get(REFERENCE)),
                )
            )
    return rows


def _disjoint(first: Any, second: Any) -> bool | None:
    if not first or not second:
        return None
    return bool(first[1] < second[0] or second[1] < first[0])


def prompt_gain_rows(results: Mapping[str, Any], suites: list[str], method: str = "clay") -> list[list[Any]]:
    """[suite, condition, {prompt set: `method` − plain}] for every condition run with prompt variants."""
    rows: list[list[Any]] = []
    for suite in suites:
        for condition, variants in results.get("prompts", {}).get(suite, {}).items():
            plain = results[suite].get(condition, {}).get(PLAIN)
            if plain is None:
                continue
            gains = {v: by[method] - plain for v, by in variants.items() if method in by}
            if gains:
                rows.append([suite, condition, gains])
    return rows


def rerank_rows(results: Mapping[str, Any], suites: list[str]) -> list[list[Any]]:
    """[suite, condition, ΔP@10, ΔnDCG@10, ΔmAP] of `rerank` over `clay`, whose top 50 it reorders."""
    rows: list[list[Any]] = []
    for suite in suites:
        for condition, by_method in results.get("topk", {}).get(suite, {}).items():
            clay, rerank = by_method.get("clay"), by_method.get("rerank")
            scores = results[suite].get(condition, {})
            if not clay or not rerank or "clay" not in scores or "rerank" not in scores:
                continue
            rows.append(
                [
                    suite,
                    condition,
                    rerank["precision@10"] - clay["precision@10"],
                    rerank["ndcg@10"] - clay["ndcg@10"],
                    scores["rerank"] - scores["clay"],
                ]
            )
    return rows


def combine_rows(results: Mapping[str, Any], suites: list[str]) -> list[list[Any]]:
    """[suite, conditions, stack, mean, mean − stack] for every multi-condition pair."""
    rows: list[list[Any]] = []
    for suite in suites:
        for combo, scores in results.get("multi_condition", {}).get(suite, {}).items():
            if "clay-stacked" in scores and "clay-mean" in scores:
                stack, mean = scores["clay-stacked"], scores["clay-mean"]
                rows.append([suite, combo, stack, mean, mean - stack])
    return rows


def sensitivity_rows(results: Mapping[str, Any]) -> list[list[Any]]:
    """[sweep, metric, default, chosen, test at default, test at chosen, validation low, high]."""
    rows: list[list[Any]] = []
    for sweep, summary in results.get("sensitivity", {}).get("defaults", {}).items():
        validation = summary["validation"].values()
        default, chosen = summary["default"], summary["chosen"]
        rows.append(
            [
                sweep,
                summary["metric"],
                default,
                chosen,
                summary["test"].get(default),
                summary["test"].get(chosen),
                min(validation),
                max(validation),
            ]
        )
    return rows
