"""`condsim bench`: every protocol on every method, on the generated benchmarks (or the user's own
labelled images, `user_data_suite`), written as tables.

One call renders (or loads from the cache) each suite's dataset, embeds it with the chosen encoder,
embeds each condition's prompts, runs the protocols of `condsim.eval.protocols` and writes
``results.json``, ``report.md`` and bar-chart PNGs (`condsim.eval.report`).

results.json layout (scores in percent unless noted)::

    {"clevr4": {"color": {"plain": 18.2, "clay": 61.0, ...}, ...},     # retrieval mAP, 1:9 split
     "cards": {...}, "objects": {...},
     "multi_condition": {suite: {"color+shape": {method: mAP}}},
     "clustering": {suite: {condition: {method: {"nmi", "acc", "ari"}}}},
     "fewshot": {suite: {condition: {method: {"1": acc, "5": acc, "10": acc}}}},
     "difference": {suite: {attribute: {"text": acc, "contrast": acc}}},
     "ranking": {suite: {attribute: {"text": rho, "contrast": rho}}},        # Spearman, not percent
     "meta": {model_id, settings (sizes, seeds, splits), crl_texts, machine, suites: {name: dataset,
              classes, prompt sources, seconds}}}

Prompts: each condition's built-in vocabulary (`condsim.conditions.get_condition`): CLAY wording
for CLAY and the text baselines, CRL wording for CRL. With ``crl_texts`` (a JSON in the layout of
CRL's published lists, {"vlm_prompt_prefix": {dataset: {criterion: prefix}}, "texts": {dataset:
{criterion: [word, ...]}}}), CRL uses those lists instead, as in the CRL paper.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from condsim.conditions import get_condition
from condsim.data.datasets import (
    DEFAULT_SIZES,
    EmbeddedDataset,
    GeneratedDataset,
    embed_dataset,
    generated_dataset,
)
from condsim.data.loaders import LabelledImages, load_clevr4, load_csv, load_image_folders
from condsim.encoders.base import Encoder
from condsim.errors import InvalidInputError, UnknownConditionError
from condsim.eval import protocols
from condsim.eval.protocols import Comparative, ConditionTexts


@dataclass(frozen=True)
class Suite:
    """One benchmark: its dataset, the vocabulary behind each labelled condition, and what else to run.

    ``crl_lists`` maps a condition to its (dataset, criterion) entry in CRL's published text lists.
    """

    dataset: str
    conditions: dict[str, str]
    crl_lists: dict[str, tuple[str, str]] = field(default_factory=dict)
    multi: tuple[tuple[str, ...], ...] = ()
    comparatives: tuple[Comparative, ...] = ()


SUITES: dict[str, Suite] = {
    "clevr4": Suite(
        dataset="clevr4",
        conditions={"color": "color", "shape": "shape", "texture": "texture", "count": "count"},
        crl_lists={c: ("clevr4", c) for c in ("color", "shape", "texture", "count")},
        multi=(("color", "shape"), ("shape", "count")),
        comparatives=(
            Comparative(
                "count",
                more="The first image has more objects than the second.",
                less="The first image has fewer objects than the second.",
            ),
        ),
    ),
    "cards": Suite(
        dataset="cards",
        conditions={"number": "card rank", "suit": "suit"},
        crl_lists={"number": ("cards", "number"), "suit": ("cards", "suits")},
        multi=(("number", "suit"),),
        comparatives=(
            Comparative(
                "number",
                more="The first card has a higher number than the second.",
                less="The first card has a lower number than the second.",
            ),
        ),
    ),
    "objects": Suite(
        dataset="objects",
        # the built-in "category" vocabulary names both levels (animal, vehicle, ... and cat, bus, ...)
        conditions={"category": "category", "subcategory": "category", "color": "color"},
        multi=(("color", "category"), ("color", "subcategory")),
        comparatives=(
            Comparative(
                "size",
                more="The first object is larger than the second.",
                less="The first object is smaller than the second.",
            ),
        ),
    ),
}


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and repetitions. `FULL` follows the papers; `QUICK` is a smoke run (minutes on 2 cores)."""

    images: dict[str, int]
    kmeans_seeds: int = 20
    fewshot_splits: int = 20
    shots: tuple[int, ...] = (1, 5, 10)
    difference_seeds: int = 5
    images_per_seed: int = 100
    methods: tuple[str, ...] = tuple(protocols.METHODS)
    image_size: int = 128


FULL = BenchSettings(images=dict(DEFAULT_SIZES))
QUICK = BenchSettings(
    images={name: 1000 for name in DEFAULT_SIZES},
    kmeans_seeds=3,
    fewshot_splits=3,
    difference_seeds=2,
)


def load_crl_texts(path: str | Path) -> dict[str, Any]:
    """Read a CRL text-list JSON (see the module docstring for the layout)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"{path}: not a readable JSON file ({error})") from error
    if not isinstance(document, dict) or "texts" not in document or "vlm_prompt_prefix" not in document:
        raise InvalidInputError(
            f"{path}: expected keys 'texts' and 'vlm_prompt_prefix'",
            hint="use CRL's published list (crl_default_texts_clevr4_cards.json)",
        )
    return document


def _condition_texts(
    suite: Suite, condition: str, encoder: Encoder, crl_texts: dict[str, Any] | None
) -> tuple[ConditionTexts, str]:
    """Embedded prompts of one labelled condition, and where the CRL prompts came from."""
    vocabulary = get_condition(suite.conditions[condition])
    clay = encoder.encode_texts(list(vocabulary.clay_prompts))
    crl_source = f"built-in vocabulary {vocabulary.key!r} ({len(vocabulary)} values)"
    crl_prompts = list(vocabulary.crl_prompts)
    if crl_texts is not None and condition in suite.crl_lists:
        dataset_key, criterion = suite.crl_lists[condition]
        try:
            prefix = crl_texts["vlm_prompt_prefix"][dataset_key][criterion]
            words = crl_texts["texts"][dataset_key][criterion]
        except (KeyError, TypeError) as error:
            raise InvalidInputError(f"CRL texts have no list for {dataset_key}/{criterion}") from error
        crl_prompts = [prefix + word for word in words]
        crl_source = f"CRL list {dataset_key}/{criterion} ({len(words)} texts)"
    return ConditionTexts(condition, clay, encoder.encode_texts(crl_prompts)), crl_source


def _run_suite(
    suite: Suite,
    dataset: EmbeddedDataset,
    texts: dict[str, ConditionTexts],
    encoder: Encoder,
    settings: BenchSettings,
    results: dict[str, Any],
    name: str,
    show_progress: bool,
) -> None:
    from condsim._progress import track

    steps: list[tuple[str, Any]] = []
    for condition in suite.conditions:
        steps += [("retrieval", (condition, method)) for method in settings.methods]
    steps += [("multi", combo) for combo in suite.multi]
    for condition in suite.conditions:
        if condition in dataset.nested_in:
            continue  # clustering / few-shot of a nested label is the same task with more classes
        steps += [("clustering", (condition, method)) for method in protocols.FEATURE_METHODS]
        steps += [("fewshot", (condition, method)) for method in protocols.FEATURE_METHODS]
    steps += [("comparative", comparative) for comparative in suite.comparatives]

    for kind, item in track(steps, total=len(steps), description=f"{name}: protocols", enabled=show_progress):
        if kind == "retrieval":
            condition, method = item
            score = protocols.retrieval_map(dataset, condition, texts[condition], protocols.METHODS[method])
            results.setdefault(name, {}).setdefault(condition, {})[method] = round(score, 2)
        elif kind == "multi":
            scores = protocols.multi_condition_map(dataset, item, [texts[c] for c in item])
            results["multi_condition"].setdefault(name, {})["+".join(item)] = _rounded(scores)
        elif kind == "clustering":
            condition, method = item
            scores = protocols.clustering(
                dataset, condition, texts[condition], method, seeds=settings.kmeans_seeds
            )
            results["clustering"].setdefault(name, {}).setdefault(condition, {})[method] = _rounded(scores)
        elif kind == "fewshot":
            condition, method = item
            scores = protocols.fewshot(
                dataset,
                condition,
                texts[condition],
                method,
                shots=settings.shots,
                splits=settings.fewshot_splits,
            )
            results["fewshot"].setdefault(name, {}).setdefault(condition, {})[method] = _rounded(scores)
        else:
            comparative: Comparative = item
            more, less = encoder.encode_texts([comparative.more, comparative.less])
            difference = protocols.difference_accuracy(
                dataset,
                comparative,
                more,
                less,
                seeds=settings.difference_seeds,
                images_per_seed=settings.images_per_seed,
            )
            ranking = protocols.ranking_spearman(dataset, comparative, more, less)
            results["difference"].setdefault(name, {})[comparative.attribute] = _rounded(difference)
            results["ranking"].setdefault(name, {})[comparative.attribute] = _rounded(ranking, 4)


def _rounded(scores: dict[str, float], digits: int = 2) -> dict[str, float]:
    return {key: round(float(value), digits) for key, value in scores.items()}


def resolve_suites(suite: str) -> list[str]:
    """'all' or one suite name -> the suite names to run."""
    if suite == "all":
        return list(SUITES)
    if suite not in SUITES:
        raise UnknownConditionError(
            f"unknown suite {suite!r}", hint=f"choose one of {', '.join(SUITES)} or all"
        )
    return [suite]


DATA_KINDS = ("clevr4", "folders", "csv")


def user_data_suite(spec: str) -> tuple[str, Suite, LabelledImages]:
    """A benchmark on the user's own labelled images: ``KIND:PATH`` with KIND one of `DATA_KINDS`.

    ``clevr4:DIR`` reads the official Clevr-4 layout and runs the clevr4 suite (multi-condition
    pairs and the count comparison included); ``folders:DIR`` (one sub-folder per condition, one
    sub-sub-folder per class) and ``csv:FILE`` (a path column and one column per condition) run
    retrieval, clustering and few-shot for every labelled condition. Each condition is prompted with
    the built-in vocabulary of its name (colour, shape, action, mood, ...).
    """
    kind, separator, location = spec.partition(":")
    if not separator or kind not in DATA_KINDS or not location:
        raise InvalidInputError(
            f"--data {spec!r}: expected KIND:PATH", hint="e.g. clevr4:~/clevr_4_10k_v1, folders:DIR, csv:FILE"
        )
    path = Path(location).expanduser()
    if kind == "clevr4":
        images = load_clevr4(path)
        return images.name, SUITES["clevr4"], images
    images = load_image_folders(path) if kind == "folders" else load_csv(path)
    conditions = {}
    for condition in images.conditions:
        try:
            conditions[condition] = get_condition(condition).key
        except UnknownConditionError as error:
            raise UnknownConditionError(
                f"--data {spec}: condition {condition!r} has no built-in vocabulary to prompt it with",
                hint=error.hint,
            ) from error
    return images.name, Suite(dataset=images.name, conditions=conditions), images


def run_bench(
    suites: Sequence[str],
    encoder: Encoder,
    *,
    settings: BenchSettings = FULL,
    crl_texts: str | Path | None = None,
    cache: bool = True,
    show_progress: bool = True,
    user_data: Sequence[tuple[str, Suite, LabelledImages]] = (),
) -> dict[str, Any]:
    """Run every protocol of `suites` (and of `user_data`, from `user_data_suite`) with `encoder`;
    returns the results.json dictionary."""
    crl_document = load_crl_texts(crl_texts) if crl_texts is not None else None
    results: dict[str, Any] = {
        key: {} for key in ("multi_condition", "clustering", "fewshot", "difference", "ranking")
    }
    meta: dict[str, Any] = {
        "model_id": encoder.model_id,
        "settings": asdict(settings),
        "crl_texts": str(crl_texts) if crl_texts is not None else None,
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "suites": {},
    }
    runs: list[tuple[str, Suite, GeneratedDataset | LabelledImages]] = [
        (
            name,
            SUITES[name],
            generated_dataset(SUITES[name].dataset, n=settings.images[name], size=settings.image_size),
        )
        for name in suites
    ]
    for name, suite, source in [*runs, *user_data]:
        started = time.perf_counter()
        dataset = embed_dataset(source, encoder, cache=cache, show_progress=show_progress)
        embedded = time.perf_counter()
        texts: dict[str, ConditionTexts] = {}
        prompt_sources: dict[str, dict[str, str]] = {}
        for condition in suite.conditions:
            texts[condition], crl_source = _condition_texts(suite, condition, encoder, crl_document)
            prompt_sources[condition] = {
                "clay": f"built-in vocabulary {get_condition(suite.conditions[condition]).key!r}",
                "crl": crl_source,
            }
        _run_suite(suite, dataset, texts, encoder, settings, results, name, show_progress)
        meta["suites"][name] = {
            "dataset": asdict(source) if isinstance(source, GeneratedDataset) else {"n": len(source)},
            "classes": {c: len(v) for c, v in dataset.classes.items()},
            "prompts": prompt_sources,
            "seconds_embedding": round(embedded - started, 1),
            "seconds_protocols": round(time.perf_counter() - embedded, 1),
        }
    results["meta"] = meta
    return results


def write_results(results: dict[str, Any], out: str | Path) -> Path:
    """Write results.json, report.md and the bar charts into `out`; returns the results.json path."""
    from condsim.eval.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    write_report(results, out)
    return path
