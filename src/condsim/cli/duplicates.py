"""`condsim duplicates`: groups of copies and near copies in a store, or with --by, of images that
are the same under conditions ("same colour and shape, different photo"); `collection.duplicates`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import open_collection, resolve_conditions
from condsim.cli.render import note, print_duplicate_groups, print_json
from condsim.errors import InvalidInputError

if TYPE_CHECKING:
    from condsim.collection import Collection
    from condsim.collection.duplicates import DuplicateGroup


def _threshold(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise InvalidInputError(
            f"--threshold {value}: must be a cosine between 0 and 1",
            hint="e.g. --threshold 0.985 (near copies); lower finds looser duplicates",
        )
    return value


Threshold = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        metavar="T",
        help="cosine at and above which two images are duplicates (default 0.985; with --by 0.7)",
        callback=_threshold,
    ),
]


def _envelope(
    collection: Collection,
    groups: list[DuplicateGroup],
    method: str,
    names: list[str],
    threshold: float | None,
    rotations: bool,
) -> dict[str, Any]:
    """The result envelope (`collection.envelope`) with one entry per image, each also naming its
    group and how it matches the group's first image."""
    from condsim.collection.duplicates import DEFAULT_CONDITION_THRESHOLD, DEFAULT_THRESHOLD
    from condsim.collection.envelope import condition_summary, result_envelope

    if threshold is None:  # the default in force, so a saved envelope says which bound made its groups
        threshold = DEFAULT_CONDITION_THRESHOLD if names else DEFAULT_THRESHOLD
    envelope = result_envelope(
        collection,
        [],
        query={"duplicates": True, "threshold": threshold, "rotations": rotations},
        method=method if names else "plain",
        conditions=condition_summary(names),
    )
    envelope["results"] = [
        {
            "id": member.id,
            "path": member.relpath or member.path,
            "score": member.score,
            "contributions": {},
            "group": number,
            "match": member.match,
        }
        for number, group in enumerate(groups, start=1)
        for member in group.members
    ]
    return envelope


@app.command()
def duplicates(
    store: options.StorePath = options.STORE_NOT_GIVEN,
    threshold: Threshold = None,
    by: options.Conditions = None,
    method: options.FeatureMethod = "clay",
    rotations: bool = typer.Option(
        False,
        "--rotations",
        help="also find pictures turned by 90°, 180° or 270° (embeds every image three more times)",
    ),
    as_json: options.Json = False,
    sheet: options.Sheet = None,
    prompts: options.Prompts = None,
    llm: options.Llm = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Groups of duplicates: copies and near copies, or with --by, images alike under conditions."""
    from condsim.collection.duplicates import find_duplicates

    names = list(by or [])
    conditions = resolve_conditions(names, prompts, llm)
    with open_collection(store, model, device=device)[0] as collection:
        groups = find_duplicates(
            collection,
            threshold=threshold,
            by=[conditions[name] for name in names],
            method=method,
            rotations=rotations,
        )
        envelope = _envelope(collection, groups, method, names, threshold, rotations) if as_json else None
    label = f"alike by {' + '.join(names)} ({method})" if names else "copies and near copies"
    if envelope is not None:
        print_json(envelope)
    else:
        print_duplicate_groups(groups, f"{len(groups)} groups of duplicates, {label}")
    if not groups:
        note("no duplicates found", as_json=as_json)
    if sheet is not None:
        from condsim.sheets import QUERY_BORDER, Tile, save_sheet

        tiles = [
            Tile(
                member.path,
                [f"group {number}: {member.match}", f"{member.score:.3f}  {member.relpath or member.path}"],
                QUERY_BORDER if member.match == "first" else None,
            )
            for number, group in enumerate(groups, start=1)
            for member in group.members
        ]
        written = save_sheet(
            tiles, sheet, title=f"duplicates, {label}", legend=[(QUERY_BORDER, "first image of its group")]
        )
        note(f"contact sheet: {written}", as_json=as_json)
