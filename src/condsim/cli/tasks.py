"""`condsim cluster`, `condsim classify` and `condsim rank`: the collection tasks of
`condsim.collection.tasks`, with their results written as CSV and contact sheets and shown as tables,
or with --json printed as the result envelope of every listing command (`collection.envelope`): one
entry per image, with the command's own fields (cluster, label, end of the ranking) beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import open_collection, read_labels, resolve_conditions
from condsim.cli.render import (
    note,
    print_classification,
    print_clusters,
    print_comparative,
    print_json,
    print_ranking,
    write_csv,
)
from condsim.errors import InvalidInputError

#: labelled images per class below which `classify` points to --zero-shot (issue 13 measured 2 per
#: class on colour: 77.9 % few-shot CRL, 87.5 % few-shot CLAY, 97.7 % zero-shot)
FEW_LABELS = 5

if TYPE_CHECKING:
    from condsim.collection import Collection
    from condsim.collection.tasks import ClusterResult


@app.command()
def cluster(
    by: options.Condition,
    store: options.StorePath = options.STORE_NOT_GIVEN,
    out: str = typer.Option(..., "--out", help="folder for clusters.csv and one contact sheet per cluster"),
    n_clusters: int = typer.Option(
        10,
        "-n",
        "--clusters",
        help="number of clusters",
        callback=options.at_least_one("-n", "the number of clusters", 10),
    ),
    method: options.FeatureMethod = "clay",
    seed: int = typer.Option(0, "--seed", help="k-means random_state"),
    as_json: options.Json = False,
    prompts: options.Prompts = None,
    llm: options.Llm = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Group the images by a condition (k-means on its CLAY or CRL features); a contact sheet per group."""
    from condsim.collection.tasks import cluster_collection
    from condsim.sheets import cluster_sheet

    condition = resolve_conditions([by], prompts, llm)[by]
    with open_collection(store, model, device=device)[0] as collection:
        clusters = cluster_collection(collection, condition, n_clusters, method=method, seed=seed)
        envelope = _cluster_envelope(collection, clusters, condition.name, method, seed) if as_json else None
    out_dir = Path(out).expanduser()
    csv_path = write_csv(
        out_dir / "clusters.csv",
        ("path", "cluster", "name"),
        [
            (path, label, clusters.name(label))
            for path, label in zip(clusters.paths, clusters.labels.tolist(), strict=True)
        ],
    )
    width = len(str(n_clusters - 1))
    sheets = []
    for number in range(n_clusters):
        members = clusters.members(number)
        named = f": {clusters.name(number)}" if clusters.name(number) else ""
        title = f"cluster {number}{named} by {condition.name} ({method})"
        sheets.append(
            cluster_sheet(members, out_dir / f"cluster_{number:0{width}d}.png", title=title)
            if members
            else None
        )
    if envelope is not None:
        envelope["clusters"] = [
            {
                "cluster": number,
                "name": clusters.name(number),
                "images": int((clusters.labels == number).sum()),
                "sheet": str(sheet) if sheet else None,
            }
            for number, sheet in enumerate(sheets)
        ]
        envelope["csv"] = str(csv_path)
        print_json(envelope)
        return
    title = f"{n_clusters} clusters of {len(clusters.paths)} images by {condition.name} ({method})"
    print_clusters(clusters, sheets, title, csv_path)


def _cluster_envelope(
    collection: Collection, clusters: ClusterResult, condition: str, method: str, seed: int
) -> dict[str, Any]:
    """The result envelope of a clustering: each image with its cluster and its distance to the
    cluster's centre (score = minus that distance), cluster by cluster, nearest first as on the sheets."""
    from condsim.collection.envelope import condition_summary, images_envelope

    distances = clusters.distances.tolist()
    labels = clusters.labels.tolist()
    rows = sorted(range(len(labels)), key=lambda row: (labels[row], distances[row]))
    return images_envelope(
        collection,
        [
            (
                clusters.paths[row],
                -distances[row],
                {"cluster": labels[row], "name": clusters.name(labels[row]), "distance": distances[row]},
            )
            for row in rows
        ],
        query={"cluster": condition, "n_clusters": clusters.n_clusters, "seed": seed},
        method=method,
        conditions=condition_summary([condition]),
    )


@app.command()
def classify(
    by: options.Condition,
    store: options.StorePath = options.STORE_NOT_GIVEN,
    labels: str = typer.Option(..., "--labels", help="CSV of path,label rows for a few labelled images"),
    method: options.FeatureMethod = "crl",
    zero_shot: bool = typer.Option(
        False, "--zero-shot", help="no training: each label's prompt names its class (--labels names them)"
    ),
    comparative: bool = typer.Option(
        False,
        "--comparative",
        help="with --zero-shot: sharpen the 3 most-confused label pairs with difference texts "
        "(picked on half the labelled images, measured on the other half; docs/methods.md §4.2)",
    ),
    out: str = typer.Option(
        "predictions.csv", "--out", help="CSV of path,label,confidence for the other images"
    ),
    as_json: options.Json = False,
    prompts: options.Prompts = None,
    llm: options.Llm = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Label every other image: few-shot (logistic regression on the labelled ones) or --zero-shot.

    With a few labels per class and a condition the model names well (colour, shape), --zero-shot is
    usually more accurate than the few-shot probe; `condsim label` labels without any labelled image.
    """
    from condsim.collection.tasks import classify_collection

    if comparative and not zero_shot:
        raise InvalidInputError("--comparative works with --zero-shot", hint="add --zero-shot")
    examples = read_labels(Path(labels).expanduser())
    condition = resolve_conditions([by], prompts, llm)[by]
    how = ("zero-shot" + (", comparative" if comparative else "")) if zero_shot else method
    report = None
    with open_collection(store, model, device=device)[0] as collection:
        if zero_shot:
            from condsim.collection.zero_shot import zero_shot_classify

            result = zero_shot_classify(collection, examples, condition, comparative=comparative)
            classification, report = result.classification, result.comparative
        else:
            classification = classify_collection(collection, examples, condition, method=method)
        envelope = None
        if as_json:
            from dataclasses import asdict

            from condsim.collection.envelope import condition_summary, images_envelope

            hits = [(p.path, p.confidence, {"label": p.label}) for p in classification.predictions]
            extra: dict[str, Any] = {"comparative": asdict(report)} if report is not None else {}
            envelope = images_envelope(
                collection,
                hits,
                query={"classify": condition.name, "labels": labels},
                method="zero-shot" if zero_shot else method,
                conditions=condition_summary([condition.name]),
                labelled=classification.labelled,
                predicted=classification.predicted(),
                **extra,
            )
    smallest = min(classification.labelled.values())
    if not zero_shot and not as_json and smallest < FEW_LABELS:
        note(
            f"only {smallest} labelled image(s) in some class: --zero-shot (or `condsim label`, which needs "
            "no labels) is often more accurate with this few",
            as_json=True,  # on stderr, beside the table
        )
    predictions = classification.predictions
    csv_path = write_csv(
        Path(out).expanduser(),
        ("path", "label", "confidence"),
        [(p.path, p.label, f"{p.confidence:.4f}") for p in predictions],
    )
    if envelope is not None:
        envelope["csv"] = str(csv_path)
        print_json(envelope)
        return
    labelled = sum(classification.labelled.values())
    title = f"{len(predictions)} images classified by {condition.name} ({how}, {labelled} labelled)"
    print_classification(classification, title, csv_path)
    if report is not None:
        print_comparative(report)


@app.command()
def rank(
    store: options.StorePath = options.STORE_NOT_GIVEN,
    compare: str = typer.Option(
        "",
        "--compare",
        metavar='"MORE|LESS"',
        show_default=False,
        help='two opposite words, e.g. "larger|smaller", or one text describing the difference',
    ),
    old_by: str | None = typer.Option(None, "--by", hidden=True),
    k: options.TopK = 10,
    as_json: options.Json = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Order the images along a comparison such as "larger|smaller"; show the -k images at each end."""
    from condsim.collection.tasks import rank_collection

    if old_by is not None:  # --by names a condition in every other command; rank compares texts
        raise InvalidInputError(
            "rank takes the comparison as --compare, not --by (which names a condition elsewhere)",
            hint=f"write --compare {old_by!r}",
        )
    sides = [side.strip() for side in compare.split("|")]
    if len(sides) > 2 or not all(sides):
        raise InvalidInputError(
            f'--compare {compare!r} is not "MORE|LESS" or one difference text',
            hint='e.g. --compare "larger|smaller" or --compare "a larger object"',
        )
    with open_collection(store, model, device=device)[0] as collection:
        ranking = rank_collection(collection, sides[0], sides[1] if len(sides) == 2 else None, k=k)
        if as_json:
            from condsim.collection.envelope import images_envelope

            ends = [("top", ranking.top), ("bottom", ranking.bottom)]
            hits = [(image.path, image.score, {"end": end}) for end, images in ends for image in images]
            print_json(
                images_envelope(
                    collection,
                    hits,
                    query={"compare": compare},
                    method="comparative",
                    conditions={"by": [], "not": [], "weights": {}},
                    direction=list(ranking.direction),
                )
            )
            return
    print_ranking(ranking)
