"""Everything the command line prints or writes: tables, JSON, CSV files, warnings and the error line.

Commands hand the library's results to one function here, so every command formats the same things
(a result list, a path, a score) the same way. Tables go to stdout through `console`; warnings, the
`error:`/`hint:` lines and side notes of a `--json` run go to stderr through `err_console`, so that
stdout stays parseable.

Text condsim does not control (file names, labels, a server's answer, generated condition values)
goes through `condsim._text.printable` before it is shown, so an escape sequence in a file name
cannot rewrite the terminal and undecodable file-name bytes cannot crash the output; every error,
warning and note also goes through `condsim._text.safe_message`, which redacts credentials.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from condsim._text import printable, safe_message
from condsim.errors import CondsimError, CondsimWarning

if TYPE_CHECKING:
    from condsim.collection import IndexReport, Result
    from condsim.collection.duplicates import DuplicateGroup
    from condsim.collection.tasks import Classification, ClusterResult, Labelling, Ranking
    from condsim.collection.zero_shot import ComparativeReport
    from condsim.conditions import Condition

console = Console()
err_console = Console(stderr=True)
LIST_LIMIT = 50


# ------------------------------------------------------------------------------------- errors, warnings


def fail(message: str, hint: str | None) -> NoReturn:
    """Print `error: message` and `hint: hint` (one line each) on stderr and exit with code 2."""
    err_console.print(f"[bold red]error:[/] {escape(safe_message(message))}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(safe_message(hint))}", highlight=False, soft_wrap=True)
    sys.exit(2)


_default_show_warning = warnings.showwarning


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """CondsimWarnings as one "warning:" line; any other warning the usual way."""
    if issubclass(category, CondsimWarning):
        err_console.print(
            f"[yellow]warning:[/] {escape(safe_message(message))}", highlight=False, soft_wrap=True
        )
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


def note(message: str, *, as_json: bool = False) -> None:
    """A side note (e.g. where a file was written): stdout, or stderr when stdout carries JSON."""
    (err_console if as_json else console).print(
        safe_message(message), highlight=False, markup=False, soft_wrap=True
    )


# ---------------------------------------------------------------------------------------------- files


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """Write a CSV of a command's output; an unwritable place is a user error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as error:
        raise CondsimError(
            f"cannot write {printable(path)}: {error.strerror or error}", hint="choose a writable --out"
        ) from error
    return path


# ------------------------------------------------------------------------------------ similar, search


def describe(conditions: Sequence[str], negatives: Sequence[str], method: str) -> str:
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
        table.add_row(
            str(rank), f"{result.score:.3f}", *terms, Text(printable(result.relpath or result.path))
        )
    return table


def print_results(results: Sequence[Result], title: str, as_json: bool) -> None:
    """A result list as a table under `title`, or as a JSON list of `Result.to_dict()`."""
    if as_json:
        typer.echo(json.dumps([result.to_dict() for result in results], indent=2))
    else:
        console.print(printable(title), highlight=False, markup=False, soft_wrap=True)
        console.print(_results_table(results))


def value_captions(labellings: Sequence[Labelling], paths: Sequence[str]) -> list[list[str]]:
    """For each path, one "condition: value" line per labelling (the value the image matches best,
    for a contact sheet's tiles); a path not in a labelling gets no line for it."""
    values = [{label.path: label.value for label in labelling.labels} for labelling in labellings]
    return [
        [
            f"{labelling.condition}: {by_path[path]}"
            for labelling, by_path in zip(labellings, values, strict=True)
            if path in by_path
        ]
        for path in paths
    ]


def print_json(payload: object) -> None:
    """A JSON document on stdout (e.g. the result envelope of `condsim.collection.envelope`)."""
    typer.echo(json.dumps(payload, indent=2))


def print_paths(paths: Sequence[str]) -> None:
    """One path a line and nothing else, for piping (`--paths-only`): the file name's bytes as they
    are into a pipe (lossless, as `ls` does), escaped (`printable`) on a terminal."""
    if sys.stdout.isatty():
        for path in paths:
            typer.echo(printable(path))
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(b"".join(os.fsencode(path) + b"\n" for path in paths))
    sys.stdout.buffer.flush()


def print_duplicate_groups(groups: Sequence[DuplicateGroup], title: str) -> None:
    """One row per image, group by group: the group's first image, then its duplicates with their
    cosine to it and how they match it (copy, near, condition)."""
    console.print(printable(title), highlight=False, markup=False, soft_wrap=True)
    table = Table()
    table.add_column("group", justify="right")
    table.add_column("match")
    table.add_column("score", justify="right")
    table.add_column("image", overflow="fold")
    for number, group in enumerate(groups, start=1):
        for member in group.members:
            table.add_row(
                str(number),
                member.match,
                f"{member.score:.3f}",
                Text(printable(member.relpath or member.path)),
            )
    console.print(table)


# ---------------------------------------------------------------------------------------------- index


def print_index_report(report: IndexReport) -> None:
    """The counts of an indexing run, its speed, and the files skipped or unreadable (first 50 each)."""
    summary = Table(
        title=Text(f"index of {printable(report.root)} -> {printable(report.store)}"),
        title_justify="left",
        show_header=False,
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
    if report.unreadable_folders:
        console.print(
            f"[bold yellow]could not read[/] {len(report.unreadable_folders)} folders; "
            f"their {len(report.kept)} stored images were kept:"
        )
        for folder in report.unreadable_folders[:LIST_LIMIT]:
            console.print(
                f"  {printable(Path(report.root, folder))}", highlight=False, markup=False, soft_wrap=True
            )
        if len(report.unreadable_folders) > LIST_LIMIT:
            console.print(f"  ... and {len(report.unreadable_folders) - LIST_LIMIT} more")
    if report.skipped:
        console.print(f"[bold]skipped[/] {len(report.skipped)} files that are not images:")
        for line in report.skipped[:LIST_LIMIT]:
            console.print(f"  {printable(line)}", highlight=False, markup=False, soft_wrap=True)
        if len(report.skipped) > LIST_LIMIT:
            console.print(f"  ... and {len(report.skipped) - LIST_LIMIT} more")
    if report.failed:
        console.print(f"[bold yellow]could not read[/] {len(report.failed)} files:")
        for failure in report.failed[:LIST_LIMIT]:
            console.print(
                f"  {printable(failure.path)}: {printable(failure.reason)}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if len(report.failed) > LIST_LIMIT:
            console.print(f"  ... and {len(report.failed) - LIST_LIMIT} more")


# ------------------------------------------------------------------------------ cluster, classify, rank


def print_clusters(
    clusters: ClusterResult, sheets: Sequence[Path | None], title: str, csv_path: Path
) -> None:
    """One row per cluster (size, contact sheet), then where the assignments were written."""
    table = Table(title=Text(printable(title)), title_justify="left")
    table.add_column("cluster", justify="right")
    if clusters.names:
        table.add_column("nearest value")
    table.add_column("images", justify="right")
    table.add_column("sheet", overflow="fold")
    for number, sheet in enumerate(sheets):
        size = int((clusters.labels == number).sum())
        named = [Text(printable(clusters.name(number) or "-"))] if clusters.names else []
        table.add_row(str(number), *named, str(size), Text(printable(sheet) if sheet else "-"))
    console.print(table)
    console.print(f"assignments: {printable(csv_path)}", highlight=False, markup=False, soft_wrap=True)


def print_classification(classification: Classification, title: str, csv_path: Path) -> None:
    """A title line, labelled vs predicted counts per label, then where the predictions were written."""
    console.print(printable(title), highlight=False, markup=False, soft_wrap=True)
    predicted = classification.predicted()
    table = Table()
    table.add_column("label")
    table.add_column("labelled", justify="right")
    table.add_column("predicted", justify="right")
    for label in classification.labels:
        table.add_row(Text(printable(label)), str(classification.labelled[label]), str(predicted[label]))
    console.print(table)
    console.print(f"predictions: {printable(csv_path)}", highlight=False, markup=False, soft_wrap=True)


def print_labelling(labelling: Labelling, title: str, csv_path: Path) -> None:
    """A title line, the images per value (values no image got are left out), the value pairs
    comparative prompting refined, then where the labels were written."""
    console.print(printable(title), highlight=False, markup=False, soft_wrap=True)
    table = Table()
    table.add_column(printable(labelling.condition))
    table.add_column("images", justify="right")
    for value, count in sorted(labelling.counts().items(), key=lambda entry: -entry[1]):
        if count:
            table.add_row(Text(printable(value)), str(count))
    console.print(table)
    if labelling.refined:
        pairs = ", ".join(f"{a} / {b}" for a, b in labelling.refined)
        console.print(f"refined pairs: {printable(pairs)}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"labels: {printable(csv_path)}", highlight=False, markup=False, soft_wrap=True)


def print_comparative(report: ComparativeReport) -> None:
    """Comparative prompting's pairs and its accuracy on the labelled test half, with and without."""
    pairs = ", ".join(f"{a} / {b}" for a, b in report.pairs) or "none (no labelled image was confused)"
    picked = f"confused pairs (picked on {report.validation_images} labelled images): {printable(pairs)}"
    console.print(picked, highlight=False, markup=False, soft_wrap=True)
    if report.accuracy_without is None or report.accuracy_with is None:
        console.print("no other labelled image of those classes to measure them on", highlight=False)
        return
    console.print(
        f"accuracy on the other {report.images} labelled images of those classes: "
        f"{report.accuracy_without:.1f} % without, {report.accuracy_with:.1f} % with comparative prompts",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def print_ranking(ranking: Ranking) -> None:
    """Both ends of a ranking as two tables (--json: the result envelope, `cli/tasks.py`)."""
    more = ranking.direction[0]
    less = ranking.direction[1] if len(ranking.direction) == 2 else f"not {more}"
    for title, images in ((f"most {more!r}", ranking.top), (f"most {less!r}", ranking.bottom)):
        table = Table(title=Text(printable(title)), title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("projection", justify="right")
        table.add_column("image", overflow="fold")
        for place, image in enumerate(images, start=1):
            table.add_row(str(place), f"{image.score:+.4f}", Text(printable(image.path)))
        console.print(table)


# ------------------------------------------------------------------------------------------ conditions


def print_condition_list(conditions: Sequence[Condition], aliases: dict[str, list[str]]) -> None:
    """The built-in conditions with their aliases, value counts and descriptions."""
    table = Table(title="built-in conditions", title_justify="left")
    table.add_column("condition")
    table.add_column("aliases", overflow="fold")
    table.add_column("values", justify="right")
    table.add_column("description", overflow="fold")
    for condition in conditions:
        table.add_row(
            Text(printable(condition.name)),
            Text(", ".join(sorted(aliases.get(condition.name, [])))),
            str(len(condition)),
            Text(printable(condition.description)),
        )
    console.print(table)
    console.print(
        "any other condition: --prompts FILE (your values) or --llm (generated); "
        "`condsim conditions NAME` shows its prompts"
    )


def print_condition(condition: Condition) -> None:
    """One condition: its source, aliases, and every value with its CLAY and CRL prompt."""
    console.print(
        f"[bold]{escape(printable(condition.name))}[/] ({condition.source}, {len(condition)} values)"
        + (f": {escape(printable(condition.description))}" if condition.description else "")
    )
    if condition.aliases:
        console.print(f"aliases: {', '.join(condition.aliases)}", highlight=False, markup=False)
    table = Table(title_justify="left")
    table.add_column("value")
    table.add_column("CLAY prompt")
    table.add_column("CRL prompt")
    for value, clay_prompt, crl_prompt in zip(
        condition.values, condition.clay_prompts, condition.crl_prompts, strict=True
    ):
        table.add_row(Text(printable(value)), Text(printable(clay_prompt)), Text(printable(crl_prompt)))
    console.print(table)
