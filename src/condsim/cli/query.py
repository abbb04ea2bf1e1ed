"""`condsim similar` and `condsim search`: the k images nearest to an image or a text, under
conditions (--by, --not, --weight) or plainly, an image query optionally moved by a text (--text).

Results leave out duplicates of the query and of each other (--keep-duplicates keeps them), can be
limited (--min-score, --path) and go out as a table, the JSON result envelope (--json, the same
shape as the HTTP service's), bare paths (--paths-only, for piping), copies or links in a folder
(--copy-to, --link-to) and a contact sheet (--sheet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import cli_spelling, open_collection, resolve_conditions
from condsim.cli.render import describe, note, print_json, print_paths, print_results, value_captions
from condsim.errors import InvalidInputError

if TYPE_CHECKING:
    from condsim.collection import Collection, Result
    from condsim.collection.tasks import Labelling
    from condsim.conditions import Condition


def _text_weight(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise InvalidInputError(
            f"--text-weight {value}: must be above 0 and at most 1 (how far the text moves the query)",
            hint="e.g. --text-weight 0.5; 1 = the text's images alone",
        )
    return value


Text = Annotated[
    str | None,
    typer.Option(
        "--text",
        metavar="TEXT",
        help='a text that shifts the image query, e.g. "but red" (like this, but red)',
    ),
]
TextWeight = Annotated[
    float,
    typer.Option(
        "--text-weight",
        metavar="A",
        help="how far --text moves the query: 0.5 halfway, 1 the text alone",
        callback=_text_weight,
    ),
]


def _check_outputs(as_json: bool, paths_only: bool, copy_to: str | None, link_to: str | None) -> None:
    """Refuse clashing outputs and a bad export folder before anything is loaded."""
    from condsim.collection.export import export_folder

    if as_json and paths_only:
        raise InvalidInputError("--json and --paths-only both shape the output", hint="choose one of them")
    if copy_to is not None and link_to is not None:
        raise InvalidInputError("--copy-to and --link-to both export the results", hint="choose one of them")
    if copy_to is not None:
        export_folder(copy_to, "--copy-to", create=False)
    if link_to is not None:
        export_folder(link_to, "--link-to", create=False)


def _query_conditions(
    by: Sequence[str] | None,
    not_: Sequence[str] | None,
    weight: Sequence[str] | None,
    method: str,
    prompts: Sequence[str] | None,
    llm: bool,
    *,
    outputs: tuple[bool, bool, str | None, str | None],
) -> tuple[list[str], list[str], dict[str, Condition], dict[str, float] | None]:
    """The checks and resolution `similar` and `search` share: condition names, output flags, the
    conditions themselves and their weights, each refused in one line before any model loads."""
    from condsim.collection.query_inputs import check_conditions, parse_weights

    names, negatives = list(by or []), list(not_ or [])
    check_conditions(names, negatives, method, cli_spelling(), has_weights=bool(weight))
    _check_outputs(*outputs)
    conditions = resolve_conditions([*names, *negatives], prompts, llm)
    weights = parse_weights(weight or [], {name: conditions[name] for name in names}, cli_spelling())
    return names, negatives, conditions, weights


def _report(
    collection: Collection,
    results: list[Result],
    title: str,
    *,
    query: Mapping[str, Any],
    method: str,
    names: Sequence[str],
    negatives: Sequence[str],
    weights: Mapping[str, float] | None,
    as_json: bool,
    paths_only: bool,
    min_score: float | None,
) -> None:
    """Print the results (table, envelope or paths); say so when none are left."""
    if as_json:
        from condsim.collection.envelope import condition_summary, result_envelope

        summary = condition_summary(names, negatives if method == "clay" else [], weights)
        print_json(result_envelope(collection, results, query=query, method=method, conditions=summary))
    elif paths_only:
        print_paths([result.path for result in results])
    else:
        print_results(results, title, as_json=False)
    if not results:
        reason = f" scoring at least --min-score {min_score}" if min_score is not None else ""
        note(f"no images{reason}", as_json=as_json or paths_only)


def _export(results: Sequence[Result], copy_to: str | None, link_to: str | None, quiet: bool) -> None:
    """--copy-to / --link-to: the results' images put into a folder."""
    from condsim.collection.export import export_images

    paths = [result.path for result in results]
    if copy_to is not None:
        written = export_images(paths, copy_to, "copy", option="--copy-to")
        note(f"copied {len(written)} images into {copy_to}", as_json=quiet)
    if link_to is not None:
        written = export_images(paths, link_to, "link", option="--link-to")
        note(f"linked {len(written)} images into {link_to}", as_json=quiet)


@app.command()
def similar(
    image: Annotated[str, typer.Argument(help="query image: a file, or the path of an indexed image")],
    store: options.StorePath = options.STORE_NOT_GIVEN,
    by: options.Conditions = None,
    not_: options.Negatives = None,
    weight: options.Weights = None,
    combine: options.Combine = None,
    text: Text = None,
    text_weight: TextWeight = 0.5,
    method: options.QueryMethod = "clay",
    k: options.TopK = 20,
    keep_duplicates: options.KeepDuplicates = False,
    min_score: options.MinScore = None,
    path: options.PathGlob = None,
    as_json: options.Json = False,
    paths_only: options.PathsOnly = False,
    copy_to: options.CopyTo = None,
    link_to: options.LinkTo = None,
    sheet: options.Sheet = None,
    prompts: options.Prompts = None,
    llm: options.Llm = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Images similar to IMAGE, under conditions (--by) or plainly; --text "but red" shifts the query."""
    if text is not None and not text.strip():
        raise InvalidInputError("--text is empty", hint='e.g. --text "but red"')
    names, negatives, conditions, weights = _query_conditions(
        by, not_, weight, method, prompts, llm, outputs=(as_json, paths_only, copy_to, link_to)
    )
    collection, query_path = open_collection(store, model, image, device)
    assert query_path is not None
    label = describe(names, negatives, method) + (f", shifted by {text!r}" if text else "")
    with collection:
        results = collection.similar(
            str(query_path),
            by=[conditions[name] for name in names],
            not_=[conditions[name] for name in negatives],
            weights=weights,
            combine=combine,
            method=method,
            k=k,
            text=text,
            text_weight=text_weight,
            keep_duplicates=keep_duplicates,
            min_score=min_score,
            path=path,
        )
        _report(
            collection,
            results,
            f"{len(results)} images most similar to {image} by {label}",
            query={"image": image, **({"text": text} if text else {})},
            method=method,
            names=names,
            negatives=negatives,
            weights=weights,
            as_json=as_json,
            paths_only=paths_only,
            min_score=min_score,
        )
        labellings = _labellings(collection, [conditions[name] for name in names]) if sheet else []
    _export(results, copy_to, link_to, as_json or paths_only)
    if sheet is not None:
        from condsim.sheets import results_sheet

        written = results_sheet(
            query_path,
            [(r.path, r.score) for r in results],
            sheet,
            condition=label,
            captions=value_captions(labellings, [r.path for r in results]),
            query_caption=value_captions(labellings, [str(query_path.resolve())])[0],
        )
        note(f"contact sheet: {written}", as_json=as_json or paths_only)


@app.command()
def search(
    text: Annotated[str, typer.Argument(help='what to look for, e.g. "a red car"')],
    store: options.StorePath = options.STORE_NOT_GIVEN,
    by: options.Conditions = None,
    not_: options.Negatives = None,
    weight: options.Weights = None,
    combine: options.Combine = None,
    method: options.QueryMethod = "clay",
    k: options.TopK = 20,
    keep_duplicates: options.KeepDuplicates = False,
    min_score: options.MinScore = None,
    path: options.PathGlob = None,
    as_json: options.Json = False,
    paths_only: options.PathsOnly = False,
    copy_to: options.CopyTo = None,
    link_to: options.LinkTo = None,
    sheet: options.Sheet = None,
    prompts: options.Prompts = None,
    llm: options.Llm = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Images that match a text, plainly or inside a condition's space."""
    names, negatives, conditions, weights = _query_conditions(
        by, not_, weight, method, prompts, llm, outputs=(as_json, paths_only, copy_to, link_to)
    )
    label = describe(names, negatives, method)
    with open_collection(store, model, device=device)[0] as collection:
        results = collection.search(
            text,
            by=[conditions[name] for name in names],
            not_=[conditions[name] for name in negatives],
            weights=weights,
            combine=combine,
            method=method,
            k=k,
            keep_duplicates=keep_duplicates,
            min_score=min_score,
            path=path,
        )
        _report(
            collection,
            results,
            f"{len(results)} images matching {text!r} by {label}",
            query={"text": text},
            method=method,
            names=names,
            negatives=negatives,
            weights=weights,
            as_json=as_json,
            paths_only=paths_only,
            min_score=min_score,
        )
        labellings = _labellings(collection, [conditions[name] for name in names]) if sheet else []
    _export(results, copy_to, link_to, as_json or paths_only)
    if sheet is not None:
        from condsim.sheets import result_tiles, save_sheet

        captions = value_captions(labellings, [r.path for r in results])
        tiles = result_tiles([(r.path, r.score) for r in results], captions)
        written = save_sheet(tiles, sheet, title=f"{text!r} by {label}")
        note(f"contact sheet: {written}", as_json=as_json or paths_only)


def _labellings(collection: Collection, conditions: Sequence[Condition]) -> list[Labelling]:
    """The zero-shot value of every image under each condition, for the contact sheet's captions."""
    from condsim.collection.tasks import label_collection

    return [label_collection(collection, condition) for condition in conditions]
