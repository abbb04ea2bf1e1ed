"""`condsim demo`: the whole product in one command, on images whose true labels are known.

1. Render `n` Clevr-4-like scenes (`condsim.data.scenes`, seed `DEMO_SEED`, which is not one of the
   built-in model's training seeds) into OUT/images as PNG files, with their labels in OUT/labels.csv.
2. Index them with the built-in model into OUT/store (incremental: a second run re-embeds nothing).
3. Pick a query scene and ask for its nearest neighbours plainly, then by colour, by shape and by
   count (CLAY, methods.md §1.2). Each table shows every result's true labels, with the labels that
   match the query's in green, and each conditional query is compared with the plain one by
   precision@k: the fraction of the k results that share the query's value of the condition, for
   this query and averaged over `n_queries` queries (the mean is the stabler number).
4. Write one contact sheet per query to OUT/sheets (results framed green / red: match / mismatch).
5. Duplicates: a JPEG re-encode of the query (OUT/images/copy_of_<query>.jpg) is indexed with the
   scenes; it scores 1.000 with `keep_duplicates=True` and is left out of the results by default.
6. "Like this, but red": the query moved by the text "but red" inside the colour space
   (`condsim.collection.compose`), with the share of red results before and after (blue is asked for
   when the query is red).
7. Zero-shot labels: every image labelled with its nearest scene colour, no labelled images used,
   with the accuracy against the rendered colours (OUT/label/labels.csv; `condsim.demo.steps`).
8. Named clusters: k-means under colour, each cluster named after its nearest colour, with its
   purity against the rendered colours (OUT/clusters/; `condsim.demo.steps`).

Plain similarity mixes every factor of variation; a condition keeps only the one asked for, so the
conditional rows should match the query on that column far more often than the plain rows do.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table
from rich.text import Text

from condsim.collection import Collection, Result, index_folder
from condsim.collection.duplicates import find_duplicates
from condsim.data.scenes import render_scene, scene_spec_at
from condsim.data.seeds import check_not_training_seed
from condsim.demo.steps import (
    VALUES_FILE,
    ClusterStep,
    LabelStep,
    show_named_clusters,
    show_zero_shot_labels,
    write_colour_values,
)
from condsim.errors import InvalidInputError, StoreModelMismatchError
from condsim.sheets import MATCH_BORDER, MISMATCH_BORDER, QUERY_BORDER, Tile, results_sheet, save_sheet

if TYPE_CHECKING:
    from condsim.encoders.base import Encoder

#: seed of the demo collection (never one of `condsim.data.seeds.TRAINING_SEEDS`)
DEMO_SEED = 20_250_601
#: the conditions the demo queries by, with the scene label each one is about
DEMO_CONDITIONS: tuple[str, ...] = ("color", "shape", "count")
LABEL_COLUMNS: tuple[str, ...] = ("color", "shape", "texture", "count")
MIN_IMAGES = 20
MAX_IMAGES = 20_000
IMAGE_SIZE = 128
#: file name prefix of the demo's planted duplicate of the query
DUPLICATE_PREFIX = "copy_of_"


@dataclass(frozen=True)
class DemoQuery:
    """One query of the demo: its condition (None = plain), results, and precision@k per condition."""

    condition: str | None
    results: list[Result]
    #: precision@k of this query's results for every demo condition (fraction sharing the label)
    precision: dict[str, float]
    sheet: Path


@dataclass
class DemoReport:
    """What `run_demo` produced: where things are, the query, and the precision@k comparison."""

    out: Path
    images: Path
    store: Path
    labels_csv: Path
    query: Path
    query_labels: dict[str, str]
    k: int
    queries: list[DemoQuery] = field(default_factory=list)
    #: condition -> {"plain": mean P@k, "clay": mean P@k} over `n_queries` queries
    mean_precision: dict[str, dict[str, float]] = field(default_factory=dict)
    n_queries: int = 0
    #: the planted JPEG copy of the query, and whether `similar` left it out by default
    duplicate: Path | None = None
    duplicate_left_out: bool = False
    #: "like this, but <colour>": the colour asked for, its results, and the colour's share before/after
    shifted: DemoQuery | None = None
    shift_colour: str = ""
    shift_share: dict[str, float] = field(default_factory=dict)
    #: zero-shot colour labels of every image and named colour clusters, scored against the truth
    labelled: LabelStep | None = None
    clustered: ClusterStep | None = None


def render_collection(folder: Path, n_images: int, seed: int = DEMO_SEED) -> dict[str, dict[str, str]]:
    """Render scenes 0..n-1 of `seed` into `folder` as scene_NNNNN.png; returns relpath -> labels.

    A file whose bytes would not change is left untouched (so re-indexing finds it unchanged), and
    scene files beyond `n_images` from an earlier, larger run are removed.
    """
    check_not_training_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels: dict[str, dict[str, str]] = {}
    for index in range(n_images):
        spec = scene_spec_at(seed, index)
        name = f"scene_{index:05d}.png"
        buffer = io.BytesIO()
        render_scene(spec, IMAGE_SIZE).save(buffer, format="PNG")
        path = folder / name
        payload = buffer.getvalue()
        if not path.is_file() or path.read_bytes() != payload:
            path.write_bytes(payload)
        labels[name] = {key: str(value) for key, value in spec.labels().items()}
    for stale in folder.glob("scene_*.png"):
        if stale.name not in labels:
            stale.unlink()
    return labels


def _write_labels(path: Path, labels: dict[str, dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", *LABEL_COLUMNS))
        for name, values in labels.items():
            writer.writerow((f"images/{name}", *(values[column] for column in LABEL_COLUMNS)))


def _choose_query(labels: dict[str, dict[str, str]]) -> str:
    """The first scene with 2-4 objects: colour, shape and count are all easy to see on it."""
    for name, values in labels.items():
        if 2 <= int(values["count"]) <= 4:
            return name
    return next(iter(labels))


def _labels_of(result: Result, labels: dict[str, dict[str, str]]) -> dict[str, str]:
    return labels.get(Path(result.path).name, {})


def _precision(
    results: Sequence[Result],
    query_labels: dict[str, str],
    labels: dict[str, dict[str, str]],
    conditions: Sequence[str] = DEMO_CONDITIONS,
) -> dict[str, float]:
    """The share of `results` whose label equals `query_labels`' for each of `conditions`."""
    return {
        condition: float(
            np.mean([_labels_of(r, labels).get(condition) == query_labels[condition] for r in results])
        )
        if results
        else 0.0
        for condition in conditions
    }


def _mean_precision(
    collection: Collection,
    query_names: Sequence[str],
    labels: dict[str, dict[str, str]],
    images: Path,
    k: int,
) -> dict[str, dict[str, float]]:
    """Mean precision@k over `query_names`, plain vs CLAY, for every demo condition (batch queries)."""
    paths = [str(images / name) for name in query_names]
    items = {item.row: Path(item.abspath).name for item in collection.store.items()}

    def mean_hits(rows: np.ndarray, condition: str) -> float:
        hits: list[float] = []
        for query_name, row_list in zip(query_names, rows, strict=True):
            found = [labels[items[int(row)]][condition] for row in row_list if row >= 0]
            same = [value == labels[query_name][condition] for value in found]
            hits.append(sum(same) / len(same) if same else 0.0)
        return sum(hits) / len(hits)

    _, plain_rows = collection.similar_batch(paths, method="plain", k=k)
    summary: dict[str, dict[str, float]] = {}
    for condition in DEMO_CONDITIONS:
        _, clay_rows = collection.similar_batch(paths, by=condition, method="clay", k=k)
        summary[condition] = {
            "plain": mean_hits(plain_rows, condition),
            "clay": mean_hits(clay_rows, condition),
        }
    return summary


def _results_table(
    title: str,
    results: Sequence[Result],
    query_labels: dict[str, str],
    labels: dict[str, dict[str, str]],
    condition: str | None,
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("image", no_wrap=True, min_width=15)
    for column in LABEL_COLUMNS:
        table.add_column(column)
    if condition is not None:
        table.add_column("match")
    table.add_row(
        "", "", Text("query", style="bold"), *(Text(query_labels[c], style="bold") for c in LABEL_COLUMNS)
    )
    for rank, result in enumerate(results, start=1):
        truth = _labels_of(result, labels)
        cells = [
            Text(truth.get(column, "?"), style="green" if truth.get(column) == query_labels[column] else "")
            for column in LABEL_COLUMNS
        ]
        if condition is not None:
            same = truth.get(condition) == query_labels[condition]
            cells.append(Text("yes" if same else "no", style="green" if same else "red"))
        table.add_row(str(rank), f"{result.score:.3f}", Text(Path(result.path).name), *cells)
    return table


def run_demo(
    out: str | Path,
    *,
    n_images: int = 300,
    k: int = 8,
    n_queries: int = 50,
    seed: int = DEMO_SEED,
    encoder: Encoder | None = None,
    console: Console | None = None,
    device: str = "cpu",
) -> DemoReport:
    """Render, index and query the demo collection (module docstring); print and return the results.

    `encoder` defaults to the built-in model on `device` (tests pass a small fake one).
    """
    if not MIN_IMAGES <= n_images <= MAX_IMAGES:
        raise InvalidInputError(
            f"--n {n_images}: the demo renders between {MIN_IMAGES} and {MAX_IMAGES} images",
            hint="e.g. --n 300",
        )
    if not 1 <= k < n_images:
        raise InvalidInputError(f"-k {k} must be between 1 and {n_images - 1}", hint="e.g. -k 8")
    console = console if console is not None else Console()
    if encoder is None:
        from condsim.encoders import load_encoder

        encoder = load_encoder(None, device=device)
    out_dir = Path(out)
    images, store, sheets = out_dir / "images", out_dir / "store", out_dir / "sheets"

    with console.status(f"rendering {n_images} scenes into {images}"):
        labels = render_collection(images, n_images, seed)
    query_name = _choose_query(labels)
    duplicate = _plant_duplicate(images, query_name, labels)
    labels_csv = out_dir / "labels.csv"
    _write_labels(labels_csv, labels)
    console.print(
        f"rendered {n_images} scenes (seed {seed}) into {images}; true labels in {labels_csv}",
        highlight=False,
        soft_wrap=True,
    )

    try:
        report = index_folder(images, store, encoder)
    except StoreModelMismatchError:
        console.print(f"{store} was built with another model; rebuilding it", highlight=False, soft_wrap=True)
        shutil.rmtree(store)
        report = index_folder(images, store, encoder)
    console.print(
        f"indexed {report.indexed} new and {report.unchanged} unchanged images "
        f"with {report.model_id} into {store}",
        highlight=False,
        soft_wrap=True,
    )

    query = images / query_name
    query_labels = labels[query_name]
    demo = DemoReport(out_dir, images, store, labels_csv, query, query_labels, k, duplicate=duplicate)
    describe = ", ".join(f"{column} {query_labels[column]}" for column in LABEL_COLUMNS)
    console.print(f"\n[bold]query[/]: {query_name} ({describe})", highlight=False, soft_wrap=True)

    with Collection.open(store, encoder) as collection:
        for condition in (None, *DEMO_CONDITIONS):
            if condition is None:
                results = collection.similar(query, method="plain", k=k)
                title, sheet_name, label = f"plain similarity (top {k})", "plain.png", "plain similarity"
            else:
                results = collection.similar(query, by=condition, method="clay", k=k)
                title, sheet_name, label = (
                    f"by {condition} (CLAY, top {k})",
                    f"by_{condition}.png",
                    f"{condition} (CLAY)",
                )
            precision = _precision(results, query_labels, labels)
            console.print(_results_table(title, results, query_labels, labels, condition))
            captions = [
                [
                    " ".join(_labels_of(r, labels).get(c, "?") for c in ("color", "shape")),
                    f"count {_labels_of(r, labels).get('count', '?')}",
                ]
                for r in results
            ]
            borders = None
            if condition is not None:
                borders = [
                    MATCH_BORDER
                    if _labels_of(r, labels).get(condition) == query_labels[condition]
                    else MISMATCH_BORDER
                    for r in results
                ]
            sheet = results_sheet(
                query,
                [(r.path, r.score) for r in results],
                sheets / sheet_name,
                condition=label,
                captions=captions,
                borders=borders,
                query_caption=[
                    f"{query_labels['color']} {query_labels['shape']}",
                    f"count {query_labels['count']}",
                ],
            )
            demo.queries.append(DemoQuery(condition, results, precision, sheet))

        query_names = list(labels)[: max(1, min(n_queries, n_images))]
        demo.n_queries = len(query_names)
        demo.mean_precision = _mean_precision(collection, query_names, labels, images, k)
        _show_duplicates(collection, demo, console)
        _show_text_shift(collection, demo, labels, sheets / "like_this_but.png", console)
        console.print()
        colours = write_colour_values(out_dir)
        demo.labelled = show_zero_shot_labels(collection, colours, labels, out_dir, console)
    console.print()
    demo.clustered = show_named_clusters(store, encoder, colours, labels, out_dir, console)
    console.print()

    plain = demo.queries[0]
    summary = Table(title=f"precision@{k}: share of results with the query's value", title_justify="left")
    summary.add_column("condition")
    summary.add_column("plain (this query)", justify="right")
    summary.add_column("CLAY (this query)", justify="right")
    summary.add_column(f"plain (mean of {demo.n_queries})", justify="right")
    summary.add_column(f"CLAY (mean of {demo.n_queries})", justify="right")
    for query_result in demo.queries[1:]:
        condition = query_result.condition
        assert condition is not None
        mean = demo.mean_precision[condition]
        summary.add_row(
            condition,
            f"{plain.precision[condition]:.2f}",
            f"{query_result.precision[condition]:.2f}",
            f"{mean['plain']:.2f}",
            Text(f"{mean['clay']:.2f}", style="bold green" if mean["clay"] > mean["plain"] else "bold red"),
        )
    console.print(summary)
    for query_result in demo.queries[1:]:
        condition = query_result.condition
        assert condition is not None
        mean = demo.mean_precision[condition]
        console.print(
            f"precision@{k} by {condition}: CLAY {query_result.precision[condition]:.2f} vs plain "
            f"{plain.precision[condition]:.2f} (mean of {demo.n_queries} queries: CLAY {mean['clay']:.2f} "
            f"vs plain {mean['plain']:.2f})",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"contact sheets in {sheets}", highlight=False, soft_wrap=True)
    values_file = out_dir / VALUES_FILE
    console.print(
        f"next: condsim similar {query} --store {store} --by color --sheet similar.png\n"
        f'      condsim similar {query} --store {store} --by color --text "but {demo.shift_colour}"\n'
        f"      condsim duplicates --store {store}\n"
        f"      condsim label --by color --values {values_file} --store {store} --out labels.csv\n"
        f"      condsim cluster --by color --prompts color={values_file} -n {len(demo.clustered.clusters)} "
        f"--store {store} --out clusters",
        highlight=False,
        soft_wrap=True,
    )
    return demo


def _plant_duplicate(images: Path, query_name: str, labels: dict[str, dict[str, str]]) -> Path:
    """Write a JPEG re-encode of the query beside it (the same picture, other bytes), give it the
    query's labels, and remove copies planted by earlier runs for another query."""
    duplicate = images / f"{DUPLICATE_PREFIX}{Path(query_name).stem}.jpg"
    for stale in images.glob(f"{DUPLICATE_PREFIX}*"):
        if stale != duplicate:
            stale.unlink()
    if not duplicate.is_file():
        with Image.open(images / query_name) as original:
            original.convert("RGB").save(duplicate, format="JPEG", quality=85)
    labels[duplicate.name] = dict(labels[query_name])
    return duplicate


def _show_duplicates(collection: Collection, demo: DemoReport, console: Console) -> None:
    """Step 5: the planted copy is the query's top plain result only when duplicates are kept."""
    assert demo.duplicate is not None
    kept = collection.similar(demo.query, method="plain", k=1, keep_duplicates=True)
    default = collection.similar(demo.query, method="plain", k=demo.k)
    demo.duplicate_left_out = all(Path(result.path) != demo.duplicate for result in default)
    groups = find_duplicates(collection)
    top = f"{Path(kept[0].path).name} at {kept[0].score:.3f}" if kept else "nothing"
    console.print(
        f"\n[bold]duplicates[/]: {demo.duplicate.name} is a JPEG re-encode of the query. With "
        f"keep_duplicates=True the query's best match is {top}; by default it is "
        f"{'left out' if demo.duplicate_left_out else 'still listed'}. "
        f"`condsim duplicates` finds {len(groups)} group(s) of duplicates in the collection.",
        highlight=False,
        soft_wrap=True,
    )


def _show_text_shift(
    collection: Collection,
    demo: DemoReport,
    labels: dict[str, dict[str, str]],
    sheet_path: Path,
    console: Console,
) -> None:
    """Step 6: "like this, but red" by colour, with the share of red results before and after."""
    colour = "red" if demo.query_labels["color"] != "red" else "blue"
    before = collection.similar(demo.query, by="color", k=demo.k)
    after = collection.similar(demo.query, by="color", text=f"but {colour}", k=demo.k)
    demo.shift_colour = colour
    demo.shift_share = {
        "before": _precision(before, {"color": colour}, labels, ("color",))["color"],
        "after": _precision(after, {"color": colour}, labels, ("color",))["color"],
    }
    title = f'like this, but {colour}: by color with --text "but {colour}" (CLAY, top {demo.k})'
    console.print(_results_table(title, after, demo.query_labels, labels, None))
    console.print(
        f"share of {colour} results by color: {demo.shift_share['before']:.2f} for the image alone, "
        f"{demo.shift_share['after']:.2f} with the text",
        highlight=False,
        soft_wrap=True,
    )
    tiles = [
        Tile(
            demo.query, ["query", f"{demo.query_labels['color']} {demo.query_labels['shape']}"], QUERY_BORDER
        )
    ]
    for rank, result in enumerate(after, start=1):
        truth = _labels_of(result, labels)
        border = MATCH_BORDER if truth.get("color") == colour else MISMATCH_BORDER
        caption = [f"#{rank}  {result.score:.3f}", f"{truth.get('color', '?')} {truth.get('shape', '?')}"]
        tiles.append(Tile(result.path, caption, border))
    legend = [(QUERY_BORDER, "query"), (MATCH_BORDER, colour), (MISMATCH_BORDER, f"not {colour}")]
    sheet = save_sheet(
        tiles, sheet_path, title=f"like this, but {colour} (by color)", columns=len(tiles), legend=legend
    )
    demo.shifted = DemoQuery("color", after, {"color": demo.shift_share["after"]}, sheet)
