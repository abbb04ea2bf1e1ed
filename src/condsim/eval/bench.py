"""`condsim bench`: every protocol on every method, on the rendered benchmarks, the held-out domain
(or the user's own labelled images, `user_data_suite`), written as tables.

One call renders (or loads from the cache) each suite's dataset, embeds it with the chosen encoder,
embeds each condition's prompts, runs the protocols of `condsim.eval.protocols` and writes
``results.json``, ``report.md`` and charts (`condsim.eval.report`).

results.json layout (scores in percent unless noted)::

    {"clevr4": {"color": {"plain": 18.2, "zero-shot-match": 97.9, "clay": 61.0, ...}, ...},  # mAP, split 0
     "cards": {...}, "objects": {...}, "flat": {...},            # flat: the held-out domain
     "intervals": {suite: {condition or "a+b": {method: [low, high]}}},  # 95 % t-interval, split seeds
     "split_scores": {suite: {condition or "a+b": {method: [mAP of split seed 0, 1, …]}}},
     "topk": {suite: {condition: {method: {"precision@10", "ndcg@10"}}}},  # split 0
     "zero_shot": {suite: {condition: accuracy}},                # class-name prompts, all images
     "prompts": {suite: {condition: {variant: {method: mAP}}}},   # built-in / crl-lists / no-class-names
     "multi_condition": {suite: {"color+shape": {method: mAP}}},
     "clustering": {suite: {condition: {method: {"nmi", "acc", "ari"}}}},
     "fewshot": {suite: {condition: {method: {"1": acc, "5": acc, "10": acc}}}},
     "difference": {suite: {attribute: {"text": acc, "contrast": acc}}},
     "ranking": {suite: {attribute: {"text": rho, "contrast": rho}}},        # Spearman, not percent
     "comparative": {suite: {condition: {"pairs", "images", "without", "with", "example"}}},
     "sensitivity": {"validation": curves, "test": curves, "defaults": {sweep: choice}},
     "meta": {model_id, commit, versions, settings, crl_texts, machine, jobs, seconds (wall),
              suites: {name: dataset, classes, prompt sources and sizes, seconds_embedding (wall),
              seconds_protocols (CPU seconds, summed over the worker processes)}}}

The main tables use split seed 0 and the papers' defaults, so their numbers are those of earlier
releases; the intervals repeat every retrieval cell on `BenchSettings.split_seeds` split seeds.
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from condsim.conditions import get_condition
from condsim.data.datasets import DEFAULT_SIZES, GeneratedDataset, generated_dataset
from condsim.data.loaders import LabelledImages
from condsim.encoders.base import Encoder
from condsim.errors import InvalidInputError
from condsim.eval.embed import embed_dataset
from condsim.eval.provenance import library_versions, source_commit
from condsim.eval.scorers import METHODS, LabelledCondition
from condsim.eval.sensitivity import VALIDATION_SEEDS, Curves, choose_defaults, summarize, values_to_test
from condsim.eval.stages import RESULT_KEYS, Put, SuiteRun, apply, prepare, run_task, sweep_test_split, tasks
from condsim.eval.suites import DATA_KINDS as DATA_KINDS
from condsim.eval.suites import (
    HELD_OUT,
    SUITES,
    Suite,
    held_out_images,
    resolve_suites,
    suite_of,
    user_data_suite,
)
from condsim.eval.variants import builtin_texts, crl_list, load_crl_texts, packaged_crl_texts

__all__ = [
    "FULL",
    "QUICK",
    "SUITES",
    "BenchSettings",
    "Suite",
    "load_crl_texts",
    "resolve_suites",
    "run_bench",
    "user_data_suite",
    "write_results",
]


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and repetitions. `FULL` follows the papers; `QUICK` is a smoke run (minutes on 2 cores).

    split_seeds: query/database splits behind each retrieval interval (seed 0 is the table's value);
    validation_images: images per rendered suite in the validation split of the sensitivity sweeps
    and of comparative prompting (0: no sweeps); held_out_images: flat drawings of the held-out suite.
    """

    images: dict[str, int]
    kmeans_seeds: int = 20
    fewshot_splits: int = 20
    shots: tuple[int, ...] = (1, 5, 10)
    difference_seeds: int = 5
    images_per_seed: int = 100
    methods: tuple[str, ...] = tuple(METHODS)
    image_size: int = 128
    split_seeds: int = 5
    validation_images: int = 2000
    held_out_images: int = 2000


FULL = BenchSettings(images=dict(DEFAULT_SIZES))
QUICK = BenchSettings(
    images={name: 1000 for name in DEFAULT_SIZES},
    kmeans_seeds=3,
    fewshot_splits=3,
    difference_seeds=2,
    validation_images=500,
    held_out_images=500,
)


def _task_job(job: tuple[SuiteRun, str, str]) -> tuple[list[Put], float]:
    return run_task(*job)


def _sweep_job(job: tuple[SuiteRun, dict[str, list[str]]]) -> tuple[Curves, float]:
    return sweep_test_split(*job)


def _map(function: Callable[[Any], Any], items: Sequence[Any], jobs: int, show_progress: bool) -> list[Any]:
    """`function` over `items` in order: in this process for jobs=1, else in `jobs` worker processes
    (spawned: the parent's model threads are not inherited)."""
    if jobs == 1:
        from condsim._progress import track

        return [
            function(item)
            for item in track(items, total=len(items), description="protocols", enabled=show_progress)
        ]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(function, items))


def _sources(
    names: Sequence[str], settings: BenchSettings
) -> list[tuple[str, Suite, GeneratedDataset | LabelledImages]]:
    sources: list[tuple[str, Suite, GeneratedDataset | LabelledImages]] = []
    for name in names:
        if name == HELD_OUT:
            sources.append(
                (name, suite_of(name), held_out_images(settings.held_out_images, settings.image_size))
            )
        else:
            rendered = generated_dataset(
                SUITES[name].dataset, n=settings.images[name], size=settings.image_size
            )
            sources.append((name, SUITES[name], rendered))
    return sources


def run_bench(
    suites: Sequence[str],
    encoder: Encoder,
    *,
    settings: BenchSettings = FULL,
    crl_texts: str | Path | None = None,
    cache: bool = True,
    show_progress: bool = True,
    user_data: Sequence[tuple[str, Suite, LabelledImages]] = (),
    banned_words: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run every protocol of `suites` (names from `resolve_suites`, the held-out ``flat`` included)
    and of `user_data` (from `user_data_suite`) with `encoder`; returns the results.json dictionary.

    crl_texts: a CRL text-list JSON whose lists replace CRL's prompts in the main tables (as in the CRL
    paper); the ``crl-lists`` prompt variant always uses CRL's published lists (shipped with condsim).
    banned_words: suite -> condition -> words removed (with the class names) from the vocabulary in
    the ``no-class-names`` variant, e.g. the built-in model's training-caption wordings of the classes.
    jobs: worker processes for the protocols (embedding stays in this process); the results do not
    depend on it.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidInputError(f"jobs={jobs!r} must be a positive whole number", hint="e.g. jobs=2")
    started = time.perf_counter()
    user_document = load_crl_texts(crl_texts) if crl_texts is not None else None
    published = load_crl_texts(packaged_crl_texts())
    meta: dict[str, Any] = {
        "model_id": encoder.model_id,
        "commit": source_commit(),
        "versions": library_versions(encoder),
        "settings": asdict(settings),
        "crl_texts": str(crl_texts) if crl_texts is not None else None,
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "jobs": jobs,
        "suites": {},
    }
    runs: list[SuiteRun] = []
    sources: dict[str, GeneratedDataset | LabelledImages] = {}
    seconds_embedding: dict[str, float] = {}
    prompt_sources: dict[str, dict[str, dict[str, Any]]] = {}
    for name, suite, source in [*_sources(suites, settings), *user_data]:
        suite_started = time.perf_counter()
        dataset = embed_dataset(source, encoder, cache=cache, show_progress=show_progress)
        texts: dict[str, LabelledCondition] = {}
        prompt_sources[name] = {}
        for condition, key in suite.conditions.items():
            vocabulary = get_condition(key)
            override = None
            if user_document is not None and condition in suite.crl_lists:
                list_key = suite.crl_lists[condition]
                override = (*crl_list(user_document, *list_key), "/".join(list_key))
            texts[condition], crl_source = builtin_texts(
                condition, vocabulary, dataset.classes[condition], encoder, override
            )
            prompt_sources[name][condition] = {
                "clay": f"built-in vocabulary {vocabulary.key!r}",
                "crl": crl_source,
            }
        run = SuiteRun(name, suite, dataset, texts, settings)
        prepare(
            run,
            encoder,
            published,
            (banned_words or {}).get(name, {}),
            cache=cache,
            show_progress=show_progress,
        )
        runs.append(run)
        sources[name] = source
        seconds_embedding[name] = time.perf_counter() - suite_started
    jobs_of_runs = [(run, kind, item) for run in runs for kind, item in tasks(run)]
    outputs = _map(_task_job, jobs_of_runs, jobs, show_progress)
    for (run, kind, item), (puts, seconds) in zip(jobs_of_runs, outputs, strict=True):
        apply(run, kind, item, puts)
        run.seconds += seconds
    swept = [run for run in runs if run.curves is not None]
    validation = {run.name: run.curves for run in swept if run.curves is not None}
    chosen = choose_defaults(validation) if validation else {}
    wanted = values_to_test(chosen)
    test: dict[str, Curves] = {}
    sweeps = _map(_sweep_job, [(run, wanted) for run in swept], jobs, False)
    for run, (curves, seconds) in zip(swept, sweeps, strict=True):
        test[run.name] = curves
        run.seconds += seconds
    results: dict[str, Any] = {}
    for run in runs:
        results[run.name] = run.retrieval
    for key in RESULT_KEYS:
        results[key] = {run.name: run.results[key] for run in runs if run.results[key]}
    if validation:
        results["sensitivity"] = {
            "validation_seeds": {name: VALIDATION_SEEDS[name] for name in validation},
            "defaults": summarize(validation, test, chosen),
            "validation": validation,
            "test": test,
        }
    for run in runs:
        for condition, sizes in run.variant_sizes.items():
            prompt_sources[run.name][condition]["values"] = sizes
        source = sources[run.name]
        meta["suites"][run.name] = {
            "dataset": asdict(source) if isinstance(source, GeneratedDataset) else {"n": len(source)},
            "classes": {c: len(v) for c, v in run.dataset.classes.items()},
            "prompts": prompt_sources[run.name],
            "seconds_embedding": round(seconds_embedding[run.name], 1),
            "seconds_protocols": round(run.seconds, 1),
        }
    meta["seconds"] = round(time.perf_counter() - started, 1)
    results["meta"] = meta
    return results


def write_results(results: dict[str, Any], out: str | Path) -> Path:
    """Write results.json, report.md and the charts into `out`; returns the results.json path."""
    from condsim.eval.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    write_report(results, out)
    return path
