"""How much the hyper-parameters matter, and defaults chosen without looking at the test split.

Each sweep varies one hyper-parameter of one retrieval method (`SWEEPS`): CLAY's rank k, the steering
step β, the re-ranker's neighbourhood size and weight. Every value is scored on a *validation*
dataset (the same renderer, seeds in `VALIDATION_SEEDS`: neither the built-in model's training seeds
nor the benchmark's test seeds): that curve (a table and a plot) shows the swing. The value with the
best mean validation score over every condition of every suite is the chosen default
(`choose_defaults`); only it and the paper's default are then scored on the test split
(`values_to_test`), so no test number takes part in any choice.

CLAY k and β are selected on mAP; the re-ranker, which can only reorder CLAY's top 50, is selected on
nDCG@10, the metric it can move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from condsim.data.datasets import DEFAULT_SEEDS
from condsim.data.seeds import check_not_training_seed
from condsim.errors import InvalidInputError
from condsim.eval.embed import EmbeddedDataset
from condsim.eval.protocols import retrieval_scores
from condsim.eval.scorers import (
    CLAY_K,
    RERANK_NEIGHBOURS,
    RERANK_WEIGHT,
    STEER_BETA,
    ScoreFunction,
    clay_scores,
    rerank_scores,
    steer_scores,
)
from condsim.methods import EmbeddedCondition

#: dataset -> validation seed (disjoint from training seeds and from `DEFAULT_SEEDS`, the test seeds)
VALIDATION_SEEDS: dict[str, int] = {"clevr4": 30_240_001, "cards": 30_240_002, "objects": 30_240_003}


def check_validation_seed(dataset: str, seed: int) -> int:
    """`seed` if it renders neither training nor test images of `dataset`, else an error."""
    check_not_training_seed(seed)
    if seed == DEFAULT_SEEDS.get(dataset):
        raise InvalidInputError(
            f"seed {seed} renders the {dataset} test images; a validation split must not",
            hint=f"use the validation seed {VALIDATION_SEEDS.get(dataset)}",
        )
    return seed


@dataclass(frozen=True)
class Sweep:
    """One hyper-parameter of one method: its values, the paper's (or our) default, the factory that
    builds the method at a value, and the metric the default is chosen on."""

    method: str
    parameter: str
    values: tuple[float, ...]
    default: float
    build: Callable[[float], ScoreFunction]
    metric: str = "map"

    @property
    def name(self) -> str:
        return f"{self.method} {self.parameter}"


SWEEPS: tuple[Sweep, ...] = (
    Sweep("clay", "k", (5, 10, 20, 50, 100), CLAY_K, lambda value: clay_scores(int(value))),
    Sweep(
        "steer", "beta", (0.25, 0.5, 1.0, 2.0, 4.0, 8.0), STEER_BETA, lambda value: steer_scores(beta=value)
    ),
    Sweep(
        "rerank",
        "neighbours",
        (5, 10, 20),
        RERANK_NEIGHBOURS,
        lambda value: rerank_scores(neighbours=int(value)),
        metric="ndcg@10",
    ),
    Sweep(
        "rerank",
        "weight",
        (0.25, 0.5, 0.75, 1.0),
        RERANK_WEIGHT,
        lambda value: rerank_scores(weight=value),
        metric="ndcg@10",
    ),
)

#: results["sensitivity"][split][suite][sweep name][value] = {condition: {"map", "precision@10", "ndcg@10"}}
Curves = dict[str, dict[str, dict[str, dict[str, float]]]]


def sweep_suite(
    dataset: EmbeddedDataset,
    texts: Mapping[str, EmbeddedCondition],
    values: Mapping[str, Sequence[str]] | None = None,
) -> Curves:
    """Every sweep value (or, per sweep name, only `values[name]`) scored on every condition of one
    dataset (split seed 0)."""
    curves: Curves = {}
    for sweep in SWEEPS:
        by_value: dict[str, dict[str, dict[str, float]]] = {}
        wanted = values.get(sweep.name, ()) if values is not None else [_key(v) for v in sweep.values]
        for value in (v for v in sweep.values if _key(v) in wanted):
            method = sweep.build(value)
            by_value[_key(value)] = {
                condition: _rounded(retrieval_scores(dataset, condition, condition_texts, method))
                for condition, condition_texts in texts.items()
            }
        curves[sweep.name] = by_value
    return curves


def _key(value: float) -> str:
    return f"{value:g}"


def _rounded(scores: Mapping[str, float]) -> dict[str, float]:
    return {key: round(float(value), 2) for key, value in scores.items()}


def mean_curve(per_suite: Mapping[str, Curves], sweep: Sweep, metric: str) -> dict[str, float]:
    """Value -> the mean of `metric` over every condition of every suite in `per_suite`."""
    means: dict[str, float] = {}
    for value in sweep.values:
        scores = [
            condition_scores[metric]
            for curves in per_suite.values()
            for condition_scores in curves.get(sweep.name, {}).get(_key(value), {}).values()
        ]
        if scores:
            means[_key(value)] = round(sum(scores) / len(scores), 2)
    return means


def choose_defaults(validation: Mapping[str, Curves]) -> dict[str, str]:
    """Sweep name -> the value with the best mean validation score (ties: the smaller value)."""
    chosen: dict[str, str] = {}
    for sweep in SWEEPS:
        curve = mean_curve(validation, sweep, sweep.metric)
        if curve:
            chosen[sweep.name] = max(curve, key=lambda value: (curve[value], -float(value)))
    return chosen


def values_to_test(chosen: Mapping[str, str]) -> dict[str, list[str]]:
    """Sweep name -> the values to score on the test split: the chosen one and the default."""
    return {
        sweep.name: sorted({chosen[sweep.name], _key(sweep.default)})
        for sweep in SWEEPS
        if sweep.name in chosen
    }


def summarize(
    validation: Mapping[str, Curves], test: Mapping[str, Curves], chosen: Mapping[str, str]
) -> dict[str, Any]:
    """Per sweep: ``{"metric", "default", "chosen", "validation": {value: mean}, "test": {value: mean},
    "test_map": {value: mean mAP}}`` (test means exist for the chosen value and the default only)."""
    return {
        sweep.name: {
            "metric": sweep.metric,
            "default": _key(sweep.default),
            "chosen": chosen[sweep.name],
            "validation": mean_curve(validation, sweep, sweep.metric),
            "test": mean_curve(test, sweep, sweep.metric),
            "test_map": mean_curve(test, sweep, "map"),
        }
        for sweep in SWEEPS
        if sweep.name in chosen
    }
