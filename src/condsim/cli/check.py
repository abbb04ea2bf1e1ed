"""`condsim check`: verify a store (metadata, items, embedding blocks, caches) and, with --repair,
fix what can be re-derived from the images (`condsim.collection.integrity`)."""

from __future__ import annotations

import json

import typer

from condsim._text import printable
from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import load_encoder
from condsim.cli.render import console, err_console
from condsim.errors import StoreCorruptError


@app.command()
def check(
    store: options.StorePath = options.STORE_NOT_GIVEN,
    repair: bool = typer.Option(
        False, "--repair", help="re-embed damaged rows from their images, drop what cannot be, clean up"
    ),
    model: options.Model = None,
    as_json: options.Json = False,
    device: options.Device = "auto",
) -> None:
    """Verify a store: metadata, items, embedding checksums and caches; --repair fixes what it can."""
    from condsim.collection.integrity import check_store

    report = check_store(store, repair=repair, encoder=lambda model_id: load_encoder(model, model_id, device))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console.print(
            f"{report.items} items, {report.rows} rows, {report.blocks_checked} checksummed blocks: "
            f"{printable(store)}",
            highlight=False,
        )
        for problem in report.problems:
            err_console.print(f"problem: {printable(problem)}", highlight=False, markup=False)
        for fixed in report.fixed:
            console.print(f"fixed: {printable(fixed)}", highlight=False, markup=False)
        for not_fixed in report.not_fixed:
            err_console.print(f"not fixed: {printable(not_fixed)}", highlight=False, markup=False)
        if report.healthy:
            console.print("the store is healthy" if not report.problems else "the store was repaired")
    if not report.healthy:
        raise StoreCorruptError(
            f"the store at {store} has {len(report.problems)} problem(s)"
            + (f", {len(report.not_fixed)} not fixed" if report.not_fixed else ""),
            hint=f"run `condsim check --store {store} --repair`"
            if not repair
            else "the images listed above are gone or unreadable: `condsim index` re-adds them when back",
        )
