"""One suite of `condsim bench`, in two stages: `prepare` (everything that needs the encoder, in the
calling process) and `tasks` (every protocol, pure numpy / scikit-learn, split into independent tasks
that `condsim.eval.bench` runs in worker processes or in turn).

A task returns its results as `Put`s (key, path, value); `apply` writes them into the suite's own
results in task order, so the output does not depend on which worker finished first.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from condsim.conditions import get_condition
from condsim.data.datasets import generated_dataset
from condsim.encoders.base import Encoder
from condsim.errors import CondsimWarning
from condsim.eval import protocols
from condsim.eval.comparative import comparative_prompting
from condsim.eval.embed import EmbeddedDataset, embed_dataset
from condsim.eval.metrics import confidence_interval
from condsim.eval.scorers import METHODS, TEXT_METHODS, LabelledCondition
from condsim.eval.sensitivity import VALIDATION_SEEDS, Curves, check_validation_seed, sweep_suite
from condsim.eval.suites import Suite
from condsim.eval.variants import crl_list, crl_list_texts, stripped_texts

#: the results.json keys a suite contributes to (besides its own retrieval table)
RESULT_KEYS = (
    "intervals",
    "split_scores",
    "topk",
    "zero_shot",
    "prompts",
    "multi_condition",
    "clustering",
    "fewshot",
    "difference",
    "ranking",
    "comparative",
)


def _rounded(scores: Mapping[str, float], digits: int = 2) -> dict[str, float]:
    return {key: round(float(value), digits) for key, value in scores.items()}


def _interval(values: Sequence[float]) -> list[float]:
    """The 95 % interval of the mean of percentages, clipped to [0, 100]."""
    low, high = confidence_interval(list(values))
    return [round(max(low, 0.0), 2), round(min(high, 100.0), 2)]


@dataclass
class SuiteRun:
    """One suite: its definition, embedded images and prompts, and the results it has produced.

    ``variants[condition][variant]`` holds the prompt variants other than the built-in one;
    ``comparative_texts[attribute]`` the embedded (more, less) sentences; ``validation`` the
    validation split (rendered suites only).
    """

    name: str
    suite: Suite
    dataset: EmbeddedDataset
    texts: dict[str, LabelledCondition]
    settings: Any
    variants: dict[str, dict[str, LabelledCondition]] = field(default_factory=dict)
    variant_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    comparative_texts: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    validation: EmbeddedDataset | None = None
    retrieval: dict[str, dict[str, float]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=lambda: {key: {} for key in RESULT_KEYS})
    curves: Curves | None = None
    seconds: float = 0.0

    def put(self, key: str, *path_and_value: Any) -> None:
        """results[key][path...] = value, creating the levels on the way."""
        *path, value = path_and_value
        node = self.results[key]
        for step in path[:-1]:
            node = node.setdefault(step, {})
        node[path[-1]] = value


def prepare(
    run: SuiteRun,
    encoder: Encoder,
    crl_document: Mapping[str, Any],
    banned: Mapping[str, Sequence[str]],
    *,
    cache: bool,
    show_progress: bool,
) -> None:
    """Everything that needs the encoder: prompt variants, comparative sentences, validation split.

    The ``no-class-names`` variant removes every class name of the suite (of every condition: the
    object category vocabulary also names the sub-categories) and `banned`[condition]."""
    suite_class_names = [
        name for condition in run.suite.conditions for name in run.dataset.classes[condition]
    ]
    for condition, key in run.suite.conditions.items():
        vocabulary = get_condition(key)
        class_names = run.dataset.classes[condition]
        run.variants[condition] = {}
        run.variant_sizes[condition] = {"built-in": len(vocabulary)}
        if condition in run.suite.crl_lists:
            prefix, words = crl_list(crl_document, *run.suite.crl_lists[condition])
            texts = crl_list_texts(condition, vocabulary, class_names, encoder, prefix, words)
            run.variants[condition]["crl-lists"] = texts
            run.variant_sizes[condition]["crl-lists"] = len(words)
        removed = [*suite_class_names, *banned.get(condition, ())]
        stripped, size = stripped_texts(condition, vocabulary, class_names, encoder, removed)
        run.variant_sizes[condition]["no-class-names"] = size
        if stripped is not None:
            run.variants[condition]["no-class-names"] = stripped
    for comparative in run.suite.comparatives:
        more, less = encoder.encode_texts([comparative.more, comparative.less])
        run.comparative_texts[comparative.attribute] = (more, less)
    if run.name in VALIDATION_SEEDS and run.settings.validation_images >= 20:
        seed = check_validation_seed(run.name, VALIDATION_SEEDS[run.name])
        source = generated_dataset(
            run.name, n=run.settings.validation_images, seed=seed, size=run.settings.image_size
        )
        run.validation = embed_dataset(source, encoder, cache=cache, show_progress=show_progress)
        for condition, key in run.suite.conditions.items():
            result = comparative_prompting(
                run.validation,
                run.dataset,
                condition,
                run.texts[condition],
                get_condition(key),
                encoder.encode_texts,
            )
            rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
            run.put("comparative", condition, rounded)


#: one result: (results key, path inside it, value); key "retrieval" is the suite's main table
Put = tuple[str, tuple[str, ...], Any]


def tasks(run: SuiteRun) -> list[tuple[str, str]]:
    """The suite's independent (kind, item) tasks, in the order their results are written."""
    conditions = list(run.suite.conditions)
    flat = [c for c in conditions if c not in run.dataset.nested_in]
    listed = [("retrieval", c) for c in conditions] + [
        ("multi", "+".join(combo)) for combo in run.suite.multi
    ]
    listed += [("zero_shot", c) for c in conditions] + [("clustering", c) for c in flat]
    listed += [("fewshot", c) for c in flat] + [("difference", a.attribute) for a in run.suite.comparatives]
    listed += [("prompts", c) for c in conditions]
    if run.validation is not None:
        listed.append(("sweep", "validation"))
    return listed


def run_task(run: SuiteRun, kind: str, item: str) -> tuple[list[Put], float]:
    """Results of one task, and the CPU seconds it took (`time.process_time` of this process)."""
    started = time.process_time()
    with warnings.catch_warnings():
        # CLAY's k is clipped, with a CondsimWarning, to the rank of short prompt lists (CRL's, the
        # stripped ones, k = 100 in the sweep); the bench reports the prompt counts instead
        warnings.simplefilter("ignore", CondsimWarning)
        puts = _TASKS[kind](run, item)
    return puts, time.process_time() - started


def apply(run: SuiteRun, kind: str, item: str, puts: list[Put]) -> None:
    """Write task (kind, item)'s results into the suite (for "prompts" the built-in row first: it is
    the main table's)."""
    if kind == "prompts":
        for method in TEXT_METHODS:
            run.put("prompts", item, "built-in", method, run.retrieval[item][method])
    for key, path, value in puts:
        if key == "retrieval":
            run.retrieval.setdefault(path[0], {})[path[1]] = value
        elif key == "curves":
            run.curves = value
        else:
            run.put(key, *path, value)


def _retrieval(run: SuiteRun, condition: str) -> list[Put]:
    """Main table (split 0), top-k (split 0) and intervals (every split seed) of every method."""
    puts: list[Put] = []
    for method in run.settings.methods:
        scores = [
            protocols.retrieval_scores(
                run.dataset, condition, run.texts[condition], METHODS[method], split_seed=seed
            )
            for seed in range(run.settings.split_seeds)
        ]
        puts.append(("retrieval", (condition, method), round(scores[0]["map"], 2)))
        puts.append(
            ("topk", (condition, method), _rounded({k: v for k, v in scores[0].items() if k != "map"}))
        )
        puts.append(("intervals", (condition, method), _interval([score["map"] for score in scores])))
        # every split's value, so that two methods can be compared split by split (a paired interval)
        puts.append(("split_scores", (condition, method), [round(score["map"], 2) for score in scores]))
    return puts


def _multi(run: SuiteRun, key: str) -> list[Put]:
    combo = key.split("+")
    texts = [run.texts[c] for c in combo]
    per_seed = [
        protocols.multi_condition_map(run.dataset, combo, texts, split_seed=seed)
        for seed in range(run.settings.split_seeds)
    ]
    puts: list[Put] = [("multi_condition", (key,), _rounded(per_seed[0]))]
    puts += [("intervals", (key, method), _interval([s[method] for s in per_seed])) for method in per_seed[0]]
    puts += [
        ("split_scores", (key, method), [round(s[method], 2) for s in per_seed]) for method in per_seed[0]
    ]
    return puts


def _zero_shot(run: SuiteRun, condition: str) -> list[Put]:
    accuracy = protocols.zero_shot_accuracy(run.dataset, condition, run.texts[condition])
    return [("zero_shot", (condition,), round(accuracy, 2))]


def _clustering(run: SuiteRun, condition: str) -> list[Put]:
    """k-means per feature method, and the zero-shot labels as clusters (a nested label is skipped:
    its clustering is the same task with more classes)."""
    return [
        (
            "clustering",
            (condition, method),
            _rounded(
                protocols.clustering(
                    run.dataset, condition, run.texts[condition], method, seeds=run.settings.kmeans_seeds
                )
            ),
        )
        for method in (*protocols.FEATURE_METHODS, protocols.ZERO_SHOT)
    ]


def _fewshot(run: SuiteRun, condition: str) -> list[Put]:
    settings = run.settings
    return [
        (
            "fewshot",
            (condition, method),
            _rounded(
                protocols.fewshot(
                    run.dataset,
                    condition,
                    run.texts[condition],
                    method,
                    shots=settings.shots,
                    splits=settings.fewshot_splits,
                )
            ),
        )
        for method in protocols.FEATURE_METHODS
    ]


def _difference(run: SuiteRun, attribute: str) -> list[Put]:
    comparative = next(c for c in run.suite.comparatives if c.attribute == attribute)
    more, less = run.comparative_texts[attribute]
    difference = protocols.difference_accuracy(
        run.dataset,
        comparative,
        more,
        less,
        seeds=run.settings.difference_seeds,
        images_per_seed=run.settings.images_per_seed,
    )
    ranking = protocols.ranking_spearman(run.dataset, comparative, more, less)
    return [
        ("difference", (attribute,), _rounded(difference)),
        ("ranking", (attribute,), _rounded(ranking, 4)),
    ]


def _prompt_variants(run: SuiteRun, condition: str) -> list[Put]:
    """The text-side methods with each prompt variant but the built-in one (split 0; `apply` adds the
    built-in row from the main table)."""
    return [
        (
            "prompts",
            (condition, variant, method),
            round(protocols.retrieval_map(run.dataset, condition, texts, METHODS[method]), 2),
        )
        for variant, texts in run.variants.get(condition, {}).items()
        for method in TEXT_METHODS
    ]


def _sweep(run: SuiteRun, _: str) -> list[Put]:
    assert run.validation is not None
    return [("curves", (), sweep_suite(run.validation, run.texts))]


_TASKS: dict[str, Callable[[SuiteRun, str], list[Put]]] = {
    "retrieval": _retrieval,
    "multi": _multi,
    "zero_shot": _zero_shot,
    "clustering": _clustering,
    "fewshot": _fewshot,
    "difference": _difference,
    "prompts": _prompt_variants,
    "sweep": _sweep,
}


def sweep_test_split(run: SuiteRun, values: Mapping[str, Sequence[str]]) -> tuple[Curves, float]:
    """The chosen and default sweep values on the suite's test split, and the CPU seconds it took."""
    started = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CondsimWarning)
        curves = sweep_suite(run.dataset, run.texts, values)
    return curves, time.process_time() - started
