"""The condsim command line: parse, call the library, print. No method logic lives here.

Commands: `index`, `similar`, `search`, `cluster`, `classify`, `rank`, `conditions`, `demo`, `bench`,
`train-model`. Every user mistake (missing store, bad image path, unknown or empty condition, k <= 0,
unreadable labels file, bad option value) is a `CondsimError` (or a Click usage error) that `main()`
prints as one line plus a hint, with exit code 2 and no traceback.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from condsim import __version__
from condsim.errors import (
    CondsimError,
    CondsimWarning,
    EmptyConditionError,
    ImageLoadError,
    InvalidInputError,
    ModelLoadError,
    StoreError,
)

try:  # typer >= 0.20 vendors click and raises its own exception classes
    from typer import TyperException as _CommandLineError
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException as _CommandLineError  # type: ignore[assignment]

if TYPE_CHECKING:
    from condsim.collection import Collection, Result
    from condsim.conditions import Condition
    from condsim.encoders import Encoder

app = typer.Typer(
    name="condsim",
    help="Conditional image similarity: index a collection once, then search it under any condition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_LIST_LIMIT = 50


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"condsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True),
) -> None:
    """condsim command line."""


# ---------------------------------------------------------------------------------------------------
# shared option helpers (user mistakes become CondsimError: one line + hint, exit code 2, in main())

_QUERY_METHODS = ("clay", "crl", "plain", "rerank")
_FEATURE_METHODS = ("clay", "crl")
_STORE_HELP = "store directory written by `condsim index`"


def _check_k(k: int, option: str = "-k") -> int:
    if k <= 0:
        raise InvalidInputError(
            f"{option} {k}: the number of results must be at least 1", hint=f"e.g. {option} 20"
        )
    return k


def _check_choice(value: str, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise InvalidInputError(
            f"{option} {value!r} is not one of {', '.join(choices)}", hint=f"e.g. {option} {choices[0]}"
        )
    return value


def _load_encoder(model: str | None, store_model_id: str | None = None) -> Encoder:
    """The encoder named by --model, else the one a store was built with, else the built-in model."""
    from condsim.encoders import load_encoder

    if model is not None:
        return load_encoder(model)
    if store_model_id is None:
        return load_encoder(None)
    try:
        return load_encoder(store_model_id)
    except ModelLoadError as error:
        raise ModelLoadError(
            f"the store was built with model {store_model_id!r}, which cannot be loaded by that name "
            f"({error})",
            hint="pass the model the store was indexed with: --model NAME_OR_PATH",
        ) from error


def _open_collection(
    store: str, model: str | None, image: str | None = None
) -> tuple[Collection, Path | None]:
    """The store opened for search with its encoder (a --model must match the store's model), and the
    query image's file when `image` is given (checked before the encoder is loaded: a bad path fails fast).
    """
    from condsim.collection import Collection, Store

    opened = Store.open(Path(store).expanduser())
    try:
        query_path = None
        if image is not None:
            query_path = Path(image).expanduser()
            if not query_path.is_file():
                stored = opened.find_path(image)
                if stored is None:
                    raise ImageLoadError(
                        f"no image at {image}", hint="give the path of an image file (or of an indexed image)"
                    )
                query_path = Path(stored.abspath)
        return Collection(opened, _load_encoder(model, opened.model_id)), query_path
    except BaseException:
        opened.close()
        raise


def _prompt_files(names: Sequence[str], prompts: Sequence[str]) -> dict[str, str]:
    """Which --prompts file belongs to which condition: FILE (one condition) or COND=FILE."""
    from condsim.conditions import normalize_name

    if prompts and not names:
        raise InvalidInputError(
            "--prompts gives values for a condition, but no condition was named",
            hint='add --by NAME, e.g. --by "fabric" --prompts fabrics.txt',
        )
    files: dict[str, str] = {}
    by_key = {normalize_name(name): name for name in names}
    for value in prompts:
        name, separator, file = value.partition("=")
        if separator and not Path(value).exists() and normalize_name(name) in by_key:
            files[by_key[normalize_name(name)]] = file
        elif len(names) == 1:
            files[names[0]] = value
        else:
            raise InvalidInputError(
                f"--prompts {value!r}: with several conditions, say which one the file is for",
                hint=f"write --prompts NAME=FILE with NAME one of {', '.join(names)}",
            )
    return files


def _resolve_conditions(names: Sequence[str], prompts: Sequence[str], llm: bool) -> dict[str, Condition]:
    """Typed name -> Condition: its --prompts file if it has one, else with --llm values generated by
    the LLM (cached; a built-in name keeps its prompt templates), else the built-in vocabulary (an
    unknown name fails, listing the built-ins)."""
    from condsim.conditions import resolve_condition

    if llm and not names:
        raise InvalidInputError(
            "--llm generates values for a condition, but no condition was named",
            hint='add --by NAME, e.g. --by "fabric" --llm',
        )
    files = _prompt_files(names, prompts)
    resolved: dict[str, Condition] = {}
    for name in names:
        if not name.strip():
            raise EmptyConditionError(
                "a condition name is empty", hint="run `condsim conditions` to list them"
            )
        file = files.get(name)
        resolved[name] = resolve_condition(name, prompts_file=file, use_llm=llm and file is None)
    return resolved


def _parse_weights(weights: Sequence[str], conditions: dict[str, Condition]) -> dict[str, float] | None:
    """--weight COND=W -> {condition name: W}; COND may be what was typed after --by, or any alias of it."""
    from condsim.conditions import normalize_name
    from condsim.conditions.builtin import canonical_name

    if not weights:
        return None
    if not conditions:
        raise InvalidInputError(
            "--weight needs at least one --by condition", hint="e.g. --by color --by shape --weight color=2"
        )
    parsed: dict[str, float] = {}
    for value in weights:
        name, separator, number = value.rpartition("=")
        try:
            weight = float(number)
        except ValueError:
            weight = float("nan")
        if not separator or not name.strip() or not math.isfinite(weight) or weight < 0:
            raise InvalidInputError(
                f"--weight {value!r} is not COND=W with W a non-negative number", hint="e.g. --weight color=2"
            )
        wanted = {normalize_name(name), canonical_name(name)}
        matches = [
            condition.name
            for typed, condition in conditions.items()
            if wanted & {normalize_name(typed), condition.key}
        ]
        if not matches:
            raise InvalidInputError(
                f"--weight {value!r}: {name!r} is not one of the --by conditions",
                hint=f"weight one of {', '.join(conditions)}",
            )
        parsed[matches[0]] = weight
    return parsed


def _describe(conditions: Sequence[str], negatives: Sequence[str], method: str) -> str:
    """A short label of the query: "plain similarity" or "color + shape, not texture (clay)"."""
    if method == "plain" or not conditions:
        return "plain similarity"
    label = " + ".join(conditions)
    if negatives:
        label += ", not " + ", ".join(negatives)
    return f"{label} ({method})"


def _results_table(results: Sequence[Result]) -> Table:
    """#, score, one column per condition's contribution (they sum to the score), image path."""
    names: list[str] = []
    for result in results:
        names.extend(name for name in result.contributions if name not in names)
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    for name in names:
        table.add_column(name, justify="right", style="dim")
    table.add_column("image", overflow="fold")
    for rank, result in enumerate(results, start=1):
        terms = [
            f"{result.contributions[name]:.3f}" if name in result.contributions else "" for name in names
        ]
        table.add_row(str(rank), f"{result.score:.3f}", *terms, Text(result.relpath or result.path))
    return table


def _print_results(results: Sequence[Result], title: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([result.to_dict() for result in results], indent=2))
    else:
        console.print(title, highlight=False, markup=False, soft_wrap=True)
        console.print(_results_table(results))


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """Write a CSV atomically enough for a command's output; an unwritable place is a user error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as error:
        raise CondsimError(
            f"cannot write {path}: {error.strerror or error}", hint="choose a writable --out"
        ) from error
    return path


def _read_labels(path: Path) -> list[tuple[int, str, str]]:
    """(line number, image path, label) rows of a path,label CSV; a header row "path,label" is skipped."""
    hint = (
        "give a CSV with one `path,label` row per labelled image "
        "(paths absolute or relative to the indexed folder)"
    )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvalidInputError(f"cannot read the labels file {path}: {reason}", hint=hint) from error
    rows: list[tuple[int, str, str]] = []
    for number, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or not "".join(record).strip() or record[0].lstrip().startswith("#"):
            continue
        if len(record) < 2 or not record[0].strip() or not record[1].strip():
            raise InvalidInputError(
                f"{path} line {number}: expected `path,label`, got {','.join(record)!r}", hint=hint
            )
        image, label = record[0].strip(), record[1].strip()
        if not rows and number == 1 and (image.casefold(), label.casefold()) == ("path", "label"):
            continue
        rows.append((number, image, label))
    if not rows:
        raise InvalidInputError(f"the labels file {path} has no `path,label` rows", hint=hint)
    return rows


# ---------------------------------------------------------------------------------------------------
# commands


@app.command()
def index(
    folder: str = typer.Argument(..., help="folder of images (searched recursively)"),
    store: str = typer.Option(..., "--store", help="store directory (created if missing)"),
    model: str | None = typer.Option(
        None, "--model", help="encoder name or path; default: the store's model, else the built-in one"
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="images embedded per batch"),
    dtype: str = typer.Option(
        "float32", "--dtype", help="stored embedding type of a new store: float32 or float16"
    ),
    replace: bool = typer.Option(
        False, "--replace", help="let a store that mirrors another folder mirror this one instead"
    ),
) -> None:
    """Index a folder into a store: incremental (only new or changed files are embedded), resumable."""
    from condsim.collection import Store, index_folder
    from condsim.collection.store import DATABASE_FILE

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise StoreError(f"{root} is not a folder", hint="pass the folder of images to index")
    if batch_size <= 0:
        raise InvalidInputError(f"--batch-size {batch_size} must be at least 1", hint="e.g. --batch-size 32")
    _check_choice(dtype, ("float32", "float16"), "--dtype")
    store_path = Path(store).expanduser()
    store_model_id = None
    if model is None and (store_path / DATABASE_FILE).is_file():
        with Store.open(store_path) as existing:
            store_model_id = existing.model_id
    encoder = _load_encoder(model, store_model_id)
    report = index_folder(root, store_path, encoder, batch_size=batch_size, dtype=dtype, replace=replace)

    summary = Table(
        title=f"index of {report.root} -> {report.store}", title_justify="left", show_header=False
    )
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    for label, value in (
        ("indexed (new or changed)", report.indexed),
        ("unchanged", report.unchanged),
        ("moved", report.moved),
        ("copies", report.copied),
        ("removed (gone)", report.removed),
        ("failed (unreadable)", len(report.failed)),
        ("skipped (not images)", len(report.skipped)),
        ("images in the store", report.total),
    ):
        summary.add_row(label, f"{value:,}")
    console.print(summary)
    console.print(
        f"model {report.model_id}; {report.seconds:.1f} s"
        + (f", {report.images_per_second:,.1f} images/s" if report.indexed else ""),
        highlight=False,
    )
    if report.skipped:
        console.print(f"[bold]skipped[/] {len(report.skipped)} files that are not images:")
        for line in report.skipped[:_LIST_LIMIT]:
            console.print(f"  {line}", highlight=False, markup=False)
        if len(report.skipped) > _LIST_LIMIT:
            console.print(f"  ... and {len(report.skipped) - _LIST_LIMIT} more")
    if report.failed:
        console.print(f"[bold yellow]could not read[/] {len(report.failed)} files:")
        for failure in report.failed[:_LIST_LIMIT]:
            console.print(f"  {failure.path}: {failure.reason}", highlight=False, markup=False)
        if len(report.failed) > _LIST_LIMIT:
            console.print(f"  ... and {len(report.failed) - _LIST_LIMIT} more")
    if report.nothing_indexed:
        raise StoreError(
            f"no image could be indexed under {report.root}",
            hint="the folder must hold readable images (png, jpg, webp, ...); see the list above",
        )


@app.command()
def similar(
    image: str = typer.Argument(..., help="query image: a file, or the path of an indexed image"),
    store: str = typer.Option(..., "--store", help=_STORE_HELP),
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help="condition to compare under (repeatable); none: plain similarity"),
    ] = None,
    not_: Annotated[
        list[str] | None, typer.Option("--not", help="condition to ignore (CLAY; repeatable)")
    ] = None,
    weight: Annotated[
        list[str] | None, typer.Option("--weight", help="COND=W: relative weight of a --by condition")
    ] = None,
    method: str = typer.Option("clay", "--method", help="clay, crl, plain or rerank"),
    k: int = typer.Option(20, "-k", "--top", help="number of results"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list (path, score, contributions, ...)"),
    sheet: str | None = typer.Option(
        None, "--sheet", help="write a contact sheet (query + results) to this PNG"
    ),
    prompts: Annotated[
        list[str] | None, typer.Option("--prompts", help="FILE or COND=FILE: your own values of a condition")
    ] = None,
    llm: bool = typer.Option(
        False, "--llm", help="generate the conditions' values with an OpenAI-compatible LLM (cached on disk)"
    ),
    model: str | None = typer.Option(
        None, "--model", help="encoder; default: the one the store was built with"
    ),
) -> None:
    """Images similar to IMAGE, under conditions (--by) or plainly."""
    _check_k(k)
    _check_choice(method, _QUERY_METHODS, "--method")
    if sheet is not None and Path(sheet).suffix.lower() != ".png":
        raise InvalidInputError(
            f"--sheet {sheet}: contact sheets are written as PNG", hint="e.g. --sheet results.png"
        )
    names, negatives = list(by or []), list(not_ or [])
    if method == "plain" and (names or negatives):
        raise InvalidInputError(
            "--method plain ignores conditions", hint="drop --by/--not, or use --method clay, crl or rerank"
        )
    if negatives and not names:
        raise InvalidInputError(
            "--not removes a condition from the ones given with --by, and there is none",
            hint="e.g. --by shape --not color (same shape, whatever the colour)",
        )
    if negatives and method != "clay":
        raise InvalidInputError(
            f"--not works with --method clay only (a subspace is removed), not {method}",
            hint="drop --method or use --method clay",
        )
    if both := sorted(set(names) & set(negatives)):
        raise InvalidInputError(
            f"{', '.join(both)} is given with both --by and --not", hint="keep it in one of the two"
        )
    conditions = _resolve_conditions([*names, *negatives], list(prompts or []), llm)
    weights = _parse_weights(list(weight or []), {name: conditions[name] for name in names})
    collection, query_path = _open_collection(store, model, image)
    assert query_path is not None
    with collection:
        results = collection.similar(
            str(query_path),
            by=[conditions[name] for name in names],
            not_=[conditions[name] for name in negatives],
            weights=weights,
            method=method,
            k=k,
        )
    label = _describe(names, negatives, method)
    _print_results(results, f"{len(results)} images most similar to {image} by {label}", as_json)
    if sheet is not None:
        from condsim.sheets import results_sheet

        written = results_sheet(query_path, [(r.path, r.score) for r in results], sheet, condition=label)
        (err_console if as_json else console).print(f"contact sheet: {written}", highlight=False)


@app.command()
def search(
    text: str = typer.Argument(..., help='what to look for, e.g. "a red car"'),
    store: str = typer.Option(..., "--store", help=_STORE_HELP),
    by: Annotated[
        list[str] | None, typer.Option("--by", help="compare inside this condition's space (repeatable)")
    ] = None,
    weight: Annotated[
        list[str] | None, typer.Option("--weight", help="COND=W: relative weight of a --by condition")
    ] = None,
    method: str = typer.Option("clay", "--method", help="clay, crl, plain or rerank"),
    k: int = typer.Option(20, "-k", "--top", help="number of results"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list (path, score, contributions, ...)"),
    sheet: str | None = typer.Option(
        None, "--sheet", help="write a contact sheet of the results to this PNG"
    ),
    prompts: Annotated[
        list[str] | None, typer.Option("--prompts", help="FILE or COND=FILE: your own values of a condition")
    ] = None,
    llm: bool = typer.Option(
        False, "--llm", help="generate the conditions' values with an OpenAI-compatible LLM (cached on disk)"
    ),
    model: str | None = typer.Option(
        None, "--model", help="encoder; default: the one the store was built with"
    ),
) -> None:
    """Images that match a text, plainly or inside a condition's space."""
    _check_k(k)
    _check_choice(method, _QUERY_METHODS, "--method")
    if not text.strip():
        raise InvalidInputError(
            "the search text is empty", hint='e.g. condsim search "a red car" --store STORE'
        )
    names = list(by or [])
    conditions = _resolve_conditions(names, list(prompts or []), llm)
    weights = _parse_weights(list(weight or []), conditions)
    with _open_collection(store, model)[0] as collection:
        results = collection.search(text, by=list(conditions.values()), weights=weights, method=method, k=k)
    label = _describe(names, [], method)
    _print_results(results, f"{len(results)} images matching {text!r} by {label}", as_json)
    if sheet is not None:
        from condsim.sheets import Tile, save_sheet

        tiles = [
            Tile(r.path, [f"#{rank}  {r.score:.3f}", Path(r.path).name]) for rank, r in enumerate(results, 1)
        ]
        written = save_sheet(tiles, sheet, title=f"{text!r} by {label}")
        (err_console if as_json else console).print(f"contact sheet: {written}", highlight=False)


@app.command()
def cluster(
    by: str = typer.Option(..., "--by", help="condition to cluster under"),
    n_clusters: int = typer.Option(10, "-n", "--clusters", help="number of clusters"),
    store: str = typer.Option(..., "--store", help=_STORE_HELP),
    method: str = typer.Option(
        "clay",
        "--method",
        help="clay (its clusters follow the condition best in docs/results) or crl (CRL's clustering)",
    ),
    out: str = typer.Option(..., "--out", help="folder for clusters.csv and one contact sheet per cluster"),
    seed: int = typer.Option(0, "--seed", help="k-means random_state"),
    prompts: Annotated[
        list[str] | None, typer.Option("--prompts", help="FILE: your own values of the condition")
    ] = None,
    llm: bool = typer.Option(
        False, "--llm", help="generate the condition's values with an OpenAI-compatible LLM (cached on disk)"
    ),
    model: str | None = typer.Option(
        None, "--model", help="encoder; default: the one the store was built with"
    ),
) -> None:
    """k-means on the store's CRL (row-normalised R, CRL §2.3) or CLAY (z, Eq. 5) representations."""
    import numpy as np
    from sklearn.cluster import KMeans

    from condsim.sheets import cluster_sheet

    _check_choice(method, _FEATURE_METHODS, "--method")
    if n_clusters < 1:
        raise InvalidInputError(
            f"-n {n_clusters}: the number of clusters must be at least 1", hint="e.g. -n 10"
        )
    condition = _resolve_conditions([by], list(prompts or []), llm)[by]
    with _open_collection(store, model)[0] as collection:
        paths, features = collection.features(condition, method=method, crl_normalize="row")
    if n_clusters > len(paths):
        raise InvalidInputError(
            f"-n {n_clusters} clusters for {len(paths)} images", hint=f"use -n {len(paths)} or fewer"
        )
    kmeans = KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed).fit(features)
    assignment = kmeans.labels_.astype(np.int64)
    distance = kmeans.transform(features)[np.arange(len(paths)), assignment]
    out_dir = Path(out).expanduser()
    csv_path = _write_csv(
        out_dir / "clusters.csv", ("path", "cluster"), list(zip(paths, assignment.tolist(), strict=True))
    )
    table = Table(
        title=f"{n_clusters} clusters of {len(paths)} images by {condition.name} ({method})",
        title_justify="left",
    )
    table.add_column("cluster", justify="right")
    table.add_column("images", justify="right")
    table.add_column("sheet", overflow="fold")
    width = len(str(n_clusters - 1))
    for number in range(n_clusters):
        members = np.flatnonzero(assignment == number)
        members = members[np.argsort(distance[members], kind="stable")]
        sheet = (
            cluster_sheet(
                [paths[i] for i in members],
                out_dir / f"cluster_{number:0{width}d}.png",
                title=f"cluster {number} by {condition.name} ({method})",
            )
            if len(members)
            else None
        )
        table.add_row(str(number), str(len(members)), Text(str(sheet) if sheet else "-"))
    console.print(table)
    console.print(f"assignments: {csv_path}", highlight=False)


@app.command()
def classify(
    by: str = typer.Option(..., "--by", help="condition the labels are about"),
    labels: str = typer.Option(..., "--labels", help="CSV of path,label rows for a few labelled images"),
    store: str = typer.Option(..., "--store", help=_STORE_HELP),
    method: str = typer.Option("crl", "--method", help="crl (few-shot standardised R, CRL §2.3) or clay"),
    out: str = typer.Option(
        "predictions.csv", "--out", help="CSV of path,label,confidence for the other images"
    ),
    prompts: Annotated[
        list[str] | None, typer.Option("--prompts", help="FILE: your own values of the condition")
    ] = None,
    llm: bool = typer.Option(
        False, "--llm", help="generate the condition's values with an OpenAI-compatible LLM (cached on disk)"
    ),
    model: str | None = typer.Option(
        None, "--model", help="encoder; default: the one the store was built with"
    ),
) -> None:
    """Few-shot: label a few images, predict a label for every other image (logistic regression)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    _check_choice(method, _FEATURE_METHODS, "--method")
    labelled_rows = _read_labels(Path(labels).expanduser())
    condition = _resolve_conditions([by], list(prompts or []), llm)[by]
    with _open_collection(store, model)[0] as collection:
        paths, features = collection.features(condition, method=method, crl_normalize="fewshot")
        position = {path: index for index, path in enumerate(paths)}
        train_index: dict[int, str] = {}
        for number, image, label in labelled_rows:
            item = collection.store.find_path(Path(image).expanduser())
            if item is None or item.abspath not in position:
                raise InvalidInputError(
                    f"{labels} line {number}: {image} is not in the store",
                    hint="label images of the indexed folder (absolute paths or relative to it)",
                )
            train_index[position[item.abspath]] = label
    classes = sorted(set(train_index.values()))
    if len(classes) < 2:
        raise InvalidInputError(
            f"{labels} gives only one label ({classes[0]!r})", hint="label examples of at least two classes"
        )
    rest = np.setdiff1d(np.arange(len(paths)), np.fromiter(train_index, dtype=np.int64))
    if rest.size == 0:
        raise InvalidInputError(
            "every image in the store is labelled: nothing to predict", hint="label only a few images"
        )
    train = np.fromiter(train_index, dtype=np.int64)
    classifier = LogisticRegression(max_iter=1000).fit(features[train], [train_index[i] for i in train])
    probabilities = classifier.predict_proba(features[rest])
    predicted = classifier.classes_[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    csv_path = _write_csv(
        Path(out).expanduser(),
        ("path", "label", "confidence"),
        [
            (paths[i], str(label), f"{p:.4f}")
            for i, label, p in zip(rest.tolist(), predicted, confidence, strict=True)
        ],
    )
    given = {label: sum(1 for value in train_index.values() if value == label) for label in classes}
    console.print(
        f"{rest.size} images classified by {condition.name} ({method}, {len(train)} labelled)",
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    table.add_column("label")
    table.add_column("labelled", justify="right")
    table.add_column("predicted", justify="right")
    for label in classes:
        table.add_row(Text(label), str(given[label]), str(int(np.sum(predicted == label))))
    console.print(table)
    console.print(f"predictions: {csv_path}", highlight=False)


@app.command()
def rank(
    by: str = typer.Option(
        ..., "--by", help='"larger|smaller": rank along e(larger) - e(smaller); or one difference text'
    ),
    store: str = typer.Option(..., "--store", help=_STORE_HELP),
    k: int = typer.Option(10, "-k", "--top", help="images shown at each end"),
    as_json: bool = typer.Option(False, "--json", help='print {"top": [...], "bottom": [...]} as JSON'),
    model: str | None = typer.Option(
        None, "--model", help="encoder; default: the one the store was built with"
    ),
) -> None:
    """Order the store along a comparative text direction (PC-CLIP, methods.md §4.3) and show both ends."""
    from condsim.methods.comparative import rank_by_attribute

    _check_k(k)
    sides = [side.strip() for side in by.split("|")]
    if len(sides) > 2 or not all(sides):
        raise InvalidInputError(
            f'--by {by!r} is not "MORE|LESS" or one difference text',
            hint='e.g. --by "larger|smaller" or --by "a larger object"',
        )
    if len(sides) == 2 and sides[0].casefold() == sides[1].casefold():
        raise InvalidInputError(
            f"--by {by!r}: both ends are the same text", hint='e.g. --by "larger|smaller"'
        )
    with _open_collection(store, model)[0] as collection:
        paths, embeddings = collection.features(None)
        if k > len(paths):
            raise InvalidInputError(
                f"-k {k} is more than the {len(paths)} images in the store",
                hint=f"use -k {len(paths)} or fewer",
            )
        texts = collection.encoder.encode_texts(sides)
    direction = texts[0] - texts[1] if len(texts) == 2 else texts[0]
    order, scores = rank_by_attribute(embeddings, direction)
    top = [(paths[i], float(scores[i])) for i in order[:k]]
    bottom = [(paths[i], float(scores[i])) for i in order[::-1][:k]]
    more, less = (sides[0], sides[1]) if len(sides) == 2 else (sides[0], f"not {sides[0]}")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "direction": sides,
                    "top": [{"path": p, "score": s} for p, s in top],
                    "bottom": [{"path": p, "score": s} for p, s in bottom],
                },
                indent=2,
            )
        )
        return
    for title, rows in ((f"most {more!r}", top), (f"most {less!r}", bottom)):
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("projection", justify="right")
        table.add_column("image", overflow="fold")
        for place, (path, score) in enumerate(rows, start=1):
            table.add_row(str(place), f"{score:+.4f}", Text(path))
        console.print(table)


@app.command()
def conditions(
    name: str | None = typer.Argument(None, help="show this condition's values and prompts"),
    prompts: str | None = typer.Option(
        None, "--prompts", help="preview your own values FILE as condition NAME"
    ),
    llm: bool = typer.Option(
        False, "--llm", help="generate (or read from the cache) the values of NAME with an LLM"
    ),
) -> None:
    """List the built-in conditions (with aliases and value counts), or show one condition's prompts."""
    from condsim.conditions import builtin_aliases, get_condition, list_conditions, normalize_name

    if name is None:
        if prompts is not None or llm:
            raise InvalidInputError(
                "--prompts / --llm need a condition NAME", hint="e.g. condsim conditions fabric --llm"
            )
        aliases: dict[str, list[str]] = {}
        for alias, canonical in builtin_aliases().items():
            if alias != normalize_name(canonical):
                aliases.setdefault(canonical, []).append(alias)
        table = Table(title="built-in conditions", title_justify="left")
        table.add_column("condition")
        table.add_column("aliases", overflow="fold")
        table.add_column("values", justify="right")
        table.add_column("description", overflow="fold")
        for canonical in list_conditions():
            condition = get_condition(canonical)
            table.add_row(
                canonical,
                ", ".join(sorted(aliases.get(canonical, []))),
                str(len(condition)),
                condition.description,
            )
        console.print(table)
        console.print(
            "any other condition: --prompts FILE (your values) or --llm (generated); "
            "`condsim conditions NAME` shows its prompts"
        )
        return
    condition = _resolve_conditions([name], [prompts] if prompts is not None else [], llm)[name]
    console.print(
        f"[bold]{condition.name}[/] ({condition.source}, {len(condition)} values)"
        + (f": {condition.description}" if condition.description else "")
    )
    if condition.aliases:
        console.print(f"aliases: {', '.join(condition.aliases)}", highlight=False)
    table = Table(title_justify="left")
    table.add_column("value")
    table.add_column("CLAY prompt")
    table.add_column("CRL prompt")
    for value, clay_prompt, crl_prompt in zip(
        condition.values, condition.clay_prompts, condition.crl_prompts, strict=True
    ):
        table.add_row(Text(value), Text(clay_prompt), Text(crl_prompt))
    console.print(table)


@app.command()
def demo(
    out: str = typer.Option("out/demo", "--out", help="folder for images/, store/, sheets/ and labels.csv"),
    n_images: int = typer.Option(300, "--n", help="number of scenes to render"),
    k: int = typer.Option(8, "-k", "--top", help="results per query"),
) -> None:
    """Demo: render scenes, index them with the built-in model, query plain / by colour, shape, count."""
    from condsim.demo import run_demo

    _check_k(k)
    run_demo(Path(out).expanduser(), n_images=n_images, k=k, console=console)


@app.command()
def bench(
    suite: str = typer.Option("all", "--suite", help="clevr4, cards, objects or all"),
    out: str = typer.Option(..., "--out", help="output folder for results.json, report.md and charts"),
    quick: bool = typer.Option(False, "--quick", help="smoke run: 1,000 images per suite, 3 seeds"),
    model: str | None = typer.Option(None, "--model", help="encoder name or path; default: built-in model"),
    crl_texts: str | None = typer.Option(None, "--crl-texts", help="CRL's published text-list JSON for CRL"),
    no_cache: bool = typer.Option(False, "--no-cache", help="re-embed even if cached embeddings exist"),
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="your own labelled images, KIND:PATH with KIND clevr4 (clevr_4_annots.json layout), "
            "folders (DIR/condition/class/*.png) or csv (path + one column per condition); repeatable",
        ),
    ] = None,
) -> None:
    """Run the papers' protocols (retrieval mAP, clustering, few-shot, PC-CLIP) on every method."""
    from condsim.encoders import load_encoder
    from condsim.eval.bench import FULL, QUICK, resolve_suites, run_bench, user_data_suite, write_results

    user_data = [user_data_suite(spec) for spec in data or []]
    names = [] if user_data and suite == "all" else resolve_suites(suite)
    encoder = load_encoder(model)
    settings = QUICK if quick else FULL
    results = run_bench(
        names, encoder, settings=settings, crl_texts=crl_texts, cache=not no_cache, user_data=user_data
    )
    path = write_results(results, out)
    typer.echo(f"wrote {path} and {path.parent / 'report.md'}")


@app.command("train-model")
def train_model(
    out_dir: str = typer.Argument(..., help="output folder: model.safetensors, config.json, MODEL_CARD.md"),
    steps: int = typer.Option(3000, "--steps", help="optimiser steps"),
    seed: int = typer.Option(0, "--seed", help="seed of batch sampling and initialisation"),
    batch_size: int = typer.Option(128, "--batch-size", help="images per contrastive batch"),
    n_scenes: int = typer.Option(32_000, "--scenes", help="scenes in the pre-rendered training pool"),
    n_cards: int = typer.Option(6_000, "--cards", help="playing cards in the training pool"),
    threads: int = typer.Option(2, "--threads", help="CPU threads (torch) and rendering workers"),
    no_resume: bool = typer.Option(False, "--no-resume", help="start over instead of resuming"),
) -> None:
    """Train the built-in image tower against frozen MiniLM captions (the script of the shipped model)."""
    from condsim.encoders.builtin_train import PoolSettings, train_builtin_model

    result = train_builtin_model(
        out_dir,
        steps=steps,
        seed=seed,
        resume=not no_resume,
        batch_size=batch_size,
        pool=PoolSettings(n_scenes=n_scenes, n_cards=n_cards),
        threads=threads,
    )
    typer.echo(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; model in {result.out_dir}")
    for task, accuracy in result.zero_shot.items():
        if task.count("/"):
            typer.echo(f"  zero-shot {task}: {accuracy * 100:.1f} %")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """CondsimWarnings as one "warning:" line; any other warning the usual way."""
    if issubclass(category, CondsimWarning):
        err_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def _fail(message: str, hint: str | None) -> None:
    """Print `error: message` and `hint: hint` (one line each) on stderr and exit with code 2."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _command_path(args: Sequence[str] | None) -> str:
    """ "condsim COMMAND" for the command being run (for hints), or "condsim"."""
    words = list(args) if args is not None else sys.argv[1:]
    command = next((word for word in words if not word.startswith("-")), None)
    return f"condsim {command}" if command else "condsim"


def main(args: Sequence[str] | None = None) -> None:
    """Entry point: user mistakes become one line plus a hint and exit code 2, never a traceback."""
    warnings.showwarning = _show_warning
    try:
        result: Any = app(
            args=list(args) if args is not None else None, prog_name="condsim", standalone_mode=False
        )
    except CondsimError as error:
        _fail(str(error), error.hint or f"see `{_command_path(args)} --help`")
    except _CommandLineError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `condsim`: the help text
            typer.echo(error.format_message(), err=True)
            sys.exit(2)
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "condsim"
        _fail(error.format_message(), f"see `{command} --help`")
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)
