"""What each method adds: the derived comparisons a reader of `condsim bench` needs first.

Pure functions from a results.json dictionary (`condsim.eval.bench`) to rows of numbers; the report
renders them (`condsim.eval.report_summary`). Every comparison is between two cells of the same run,
so the summary can never disagree with the tables below it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from condsim.eval.metrics import confidence_interval

#: the label-matching reference every conditional method must beat (it reads class-name prompts)
REFERENCE = "zero-shot-match"
#: the unconditional baseline (reads no prompt)
PLAIN = "plain"

#: where the 95 % interval of a difference lies against zero
Side = Literal["above 0", "below 0", "spans 0"]


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
    #: 95 % interval of the mean of (best − reference) over the split seeds, paired split by split
    #: (None: the run kept no per-split scores, or the metric has none)
    difference_interval: tuple[float, float] | None

    @property
    def best_minus_reference(self) -> float:
        return self.best - self.reference

    @property
    def clay_minus_plain(self) -> float | None:
        return None if self.clay is None else self.clay - self.plain

    @property
    def side(self) -> Side | None:
        return side_of_zero(self.difference_interval)


def reference_rows(results: Mapping[str, Any], suites: list[str], metric: str = "map") -> list[ReferenceRow]:
    """Per retrieval condition: plain, the zero-shot reference, CLAY and the best other method (split 0;
    ties go to the method listed first), and the paired interval of best − reference over the split
    seeds (mAP only: top-k is measured on split 0). `metric`: "map", or a `topk` key ("precision@10",
    "ndcg@10")."""
    rows = []
    for suite in suites:
        for condition, scores in _scores(results, suite, metric).items():
            if PLAIN not in scores or REFERENCE not in scores:
                continue
            others = {m: v for m, v in scores.items() if m not in (PLAIN, REFERENCE)}
            if not others:
                continue
            best_method = max(others, key=lambda m: others[m])  # max keeps the first of equals
            splits = (
                results.get("split_scores", {}).get(suite, {}).get(condition, {}) if metric == "map" else {}
            )
            rows.append(
                ReferenceRow(
                    suite=suite,
                    condition=condition,
                    plain=scores[PLAIN],
                    reference=scores[REFERENCE],
                    clay=scores.get("clay"),
                    best_method=best_method,
                    best=others[best_method],
                    difference_interval=paired_interval(splits.get(best_method), splits.get(REFERENCE)),
                )
            )
    return rows


def _scores(results: Mapping[str, Any], suite: str, metric: str) -> dict[str, dict[str, float]]:
    """condition -> method -> value of `metric` for one suite (split 0)."""
    if metric == "map":
        return {condition: dict(scores) for condition, scores in results[suite].items()}
    return {
        condition: {method: values[metric] for method, values in by_method.items() if metric in values}
        for condition, by_method in results.get("topk", {}).get(suite, {}).items()
    }


def paired_interval(
    scores: Sequence[float] | None, baseline: Sequence[float] | None
) -> tuple[float, float] | None:
    """The 95 % Student-t interval of the mean of (scores − baseline), split by split. Pairing removes
    the split-to-split swing both methods share, which two separate intervals would count twice."""
    if not scores or not baseline or len(scores) != len(baseline) or len(scores) < 2:
        return None
    low, high = confidence_interval([a - b for a, b in zip(scores, baseline, strict=True)])
    return (low, high)


def side_of_zero(interval: tuple[float, float] | None) -> Side | None:
    if interval is None:
        return None
    if interval[0] > 0:
        return "above 0"
    if interval[1] < 0:
        return "below 0"
    return "spans 0"


@dataclass(frozen=True)
class PromptGainRow:
    """`method` − plain (mAP points) for one condition with each prompt set (built-in, crl-lists, …)."""

    suite: str
    condition: str
    gains: dict[str, float]


def prompt_gain_rows(
    results: Mapping[str, Any], suites: list[str], method: str = "clay"
) -> list[PromptGainRow]:
    """Every condition that was run with prompt variants."""
    rows = []
    for suite in suites:
        for condition, variants in results.get("prompts", {}).get(suite, {}).items():
            plain = results[suite].get(condition, {}).get(PLAIN)
            if plain is None:
                continue
            gains = {v: by[method] - plain for v, by in variants.items() if method in by}
            if gains:
                rows.append(PromptGainRow(suite, condition, gains))
    return rows


@dataclass(frozen=True)
class RerankRow:
    """What re-ranking CLAY's top 50 changed on one condition (points, `rerank` − `clay`)."""

    suite: str
    condition: str
    precision_at_10: float
    ndcg_at_10: float
    map: float


def rerank_rows(results: Mapping[str, Any], suites: list[str]) -> list[RerankRow]:
    rows = []
    for suite in suites:
        for condition, by_method in results.get("topk", {}).get(suite, {}).items():
            clay, rerank = by_method.get("clay"), by_method.get("rerank")
            scores = results[suite].get(condition, {})
            if not clay or not rerank or "clay" not in scores or "rerank" not in scores:
                continue
            rows.append(
                RerankRow(
                    suite,
                    condition,
                    precision_at_10=rerank["precision@10"] - clay["precision@10"],
                    ndcg_at_10=rerank["ndcg@10"] - clay["ndcg@10"],
                    map=scores["rerank"] - scores["clay"],
                )
            )
    return rows


@dataclass(frozen=True)
class CombineRow:
    """Several conditions in one query: CLAY with the prompt sets stacked vs per-condition means."""

    suite: str
    conditions: str
    stack: float
    mean: float
    #: paired 95 % interval of mean − stack over the split seeds (None: no per-split scores)
    difference_interval: tuple[float, float] | None


def combine_rows(results: Mapping[str, Any], suites: list[str]) -> list[CombineRow]:
    rows = []
    for suite in suites:
        for combo, scores in results.get("multi_condition", {}).get(suite, {}).items():
            if "clay-stacked" in scores and "clay-mean" in scores:
                splits = results.get("split_scores", {}).get(suite, {}).get(combo, {})
                interval = paired_interval(splits.get("clay-mean"), splits.get("clay-stacked"))
                rows.append(CombineRow(suite, combo, scores["clay-stacked"], scores["clay-mean"], interval))
    return rows


@dataclass(frozen=True)
class SensitivityRow:
    """One swept hyper-parameter: its default and the value chosen on validation, with their test means
    over conditions, and the range of the validation means over the grid."""

    sweep: str
    metric: str
    default: str
    chosen: str
    test_at_default: float | None
    test_at_chosen: float | None
    validation_low: float
    validation_high: float
    #: the chosen value is the smallest or largest value tried: the optimum may lie outside the grid
    chosen_at_grid_edge: bool


def sensitivity_rows(results: Mapping[str, Any]) -> list[SensitivityRow]:
    rows = []
    for sweep, summary in results.get("sensitivity", {}).get("defaults", {}).items():
        validation: dict[str, float] = summary["validation"]
        if not validation:
            continue
        grid = sorted(validation, key=float)
        default, chosen = summary["default"], summary["chosen"]
        rows.append(
            SensitivityRow(
                sweep=sweep,
                metric=summary["metric"],
                default=default,
                chosen=chosen,
                test_at_default=summary["test"].get(default),
                test_at_chosen=summary["test"].get(chosen),
                validation_low=min(validation.values()),
                validation_high=max(validation.values()),
                chosen_at_grid_edge=chosen in (grid[0], grid[-1]),
            )
        )
    return rows


@dataclass(frozen=True)
class ChosenValueRow:
    """One condition's test scores at a sweep's default and at its validation-chosen value, beside the
    zero-shot reference: where the chosen value helps, and where it costs."""

    sweep: str
    suite: str
    condition: str
    #: metric -> value, for "map" and "ndcg@10"
    default: dict[str, float]
    chosen: dict[str, float]
    reference: dict[str, float]


def chosen_value_rows(results: Mapping[str, Any]) -> list[ChosenValueRow]:
    """Per sweep whose chosen value differs from its default, every test condition at both values."""
    sensitivity = results.get("sensitivity", {})
    rows = []
    for sweep, summary in sensitivity.get("defaults", {}).items():
        default, chosen = summary["default"], summary["chosen"]
        if default == chosen:
            continue
        for suite, sweeps in sensitivity.get("test", {}).items():
            at_value = sweeps.get(sweep, {})
            for condition, at_default in at_value.get(default, {}).items():
                at_chosen = at_value.get(chosen, {}).get(condition)
                if at_chosen is None:
                    continue
                reference = {"map": results.get(suite, {}).get(condition, {}).get(REFERENCE)}
                reference["ndcg@10"] = (
                    results.get("topk", {})
                    .get(suite, {})
                    .get(condition, {})
                    .get(REFERENCE, {})
                    .get("ndcg@10")
                )
                rows.append(
                    ChosenValueRow(
                        sweep,
                        suite,
                        condition,
                        default=at_default,
                        chosen=at_chosen,
                        reference={k: v for k, v in reference.items() if v is not None},
                    )
                )
    return rows
