"""One suite of `condsim bench`, in two stages: `prepare` (embedding, in the calling thread) and
`score` (every protocol; pure numpy / scikit-learn, so several suites can run in threads at once).

Each `SuiteRun` collects its own results (``run.results[key][path...]``), which `condsim.eval.bench`
merges in suite order, so the output does not depend on which thread finished first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from condsim.conditions import get_condition
from condsim.data.datasets import generated_dataset
from condsim.encoders.base import Encoder
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

TextEncoder = Callable[[list[str]], np.ndarray]


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


def score(run: SuiteRun, encode_texts: TextEncoder, show_progress: bool) -> SuiteRun:
    """Every protocol of the suite (`encode_texts` embeds comparative prompting's sentences).

    CLAY's k is clipped, with a `CondsimWarning`, to the rank of short prompt lists (CRL's, stripped
    ones, k = 100 in the sweep); `run_bench` silences that warning around all threads at once
    (`warnings.catch_warnings` is not thread-safe)."""
    started = time.perf_counter()
    _retrieval(run, show_progress)
    _features(run)
    _comparatives(run)
    _prompt_variants(run)
    if run.validation is not None:
        run.curves = sweep_suite(run.validation, run.texts)
        for condition, key in run.suite.conditions.items():
            result = comparative_prompting(
                run.validation, run.dataset, condition, run.texts[condition], get_condition(key), encode_texts
            )
            rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
            run.put("comparative", condition, rounded)
    run.seconds += time.perf_counter() - started
    return run


def _retrieval(run: SuiteRun, show_progress: bool) -> None:
    """Main table (split 0), top-k (split 0) and intervals (every split seed) of every method."""
    from condsim._progress import track

    cells = [(c, m) for c in run.suite.conditions for m in run.settings.methods]
    for condition, method in track(cells, total=len(cells), description=f"{run.name}: retrieval",
                                   enabled=show_progress):  # fmt: skip
        scores = [
            protocols.retrieval_scores(
                run.dataset, condition, run.texts[condition], METHODS[method], split_seed=seed
            )
            for seed in range(run.settings.split_seeds)
        ]
        run.retrieval.setdefault(condition, {})[method] = round(scores[0]["map"], 2)
        run.put("topk", condition, method, _rounded({k: v for k, v in scores[0].items() if k != "map"}))
        run.put("intervals", condition, method, _interval([score["map"] for score in scores]))
    for combo in run.suite.multi:
        texts = [run.texts[c] for c in combo]
        per_seed = [
            protocols.multi_condition_map(run.dataset, combo, texts, split_seed=seed)
            for seed in range(run.settings.split_seeds)
        ]
        key = "+".join(combo)
        run.put("multi_condition", key, _rounded(per_seed[0]))
        for method in per_seed[0]:
            run.put("intervals", key, method, _interval([scores[method] for scores in per_seed]))


def _features(run: SuiteRun) -> None:
    """Zero-shot accuracy, clustering (with the zero-shot labels as a reference) and few-shot."""
    for condition in run.suite.conditions:
        texts = run.texts[condition]
        run.put("zero_shot", condition, round(protocols.zero_shot_accuracy(run.dataset, condition, texts), 2))
        if condition in run.dataset.nested_in:
            continue  # clustering / few-shot of a nested label is the same task with more classes
        for method in (*protocols.FEATURE_METHODS, protocols.ZERO_SHOT):
            scores = protocols.clustering(
                run.dataset, condition, texts, method, seeds=run.settings.kmeans_seeds
            )
            run.put("clustering", condition, method, _rounded(scores))
        for method in protocols.FEATURE_METHODS:
            scores = protocols.fewshot(
                run.dataset,
                condition,
                texts,
                method,
                shots=run.settings.shots,
                splits=run.settings.fewshot_splits,
            )
            run.put("fewshot", condition, method, _rounded(scores))


def _comparatives(run: SuiteRun) -> None:
    for comparative in run.suite.comparatives:
        more, less = run.comparative_texts[comparative.attribute]
        difference = protocols.difference_accuracy(
            run.dataset,
            comparative,
            more,
            less,
            seeds=run.settings.difference_seeds,
            images_per_seed=run.settings.images_per_seed,
        )
        ranking = protocols.ranking_spearman(run.dataset, comparative, more, less)
        run.put("difference", comparative.attribute, _rounded(difference))
        run.put("ranking", comparative.attribute, _rounded(ranking, 4))


def _prompt_variants(run: SuiteRun) -> None:
    """The text-side methods with each prompt variant (split 0); the built-in one is the main table."""
    for condition in run.suite.conditions:
        for method in TEXT_METHODS:
            run.put("prompts", condition, "built-in", method, run.retrieval[condition][method])
        for variant, texts in run.variants.get(condition, {}).items():
            for method in TEXT_METHODS:
                value = protocols.retrieval_map(run.dataset, condition, texts, METHODS[method])
                run.put("prompts", condition, variant, method, round(value, 2))


def sweep_test_split(run: SuiteRun, values: Mapping[str, Sequence[str]]) -> Curves:
    """The chosen and default sweep values on the suite's test split."""
    started = time.perf_counter()
    curves = sweep_suite(run.dataset, run.texts, values)
    run.seconds += time.perf_counter() - started
    return curves
