"""The condsim command line: parse, call the library, print. No method logic lives here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from condsim import __version__
from condsim.errors import CondsimError

app = typer.Typer(
    name="condsim",
    help="Conditional image similarity: index a collection once, then search it under any condition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"condsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True),
) -> None:
    """condsim command line."""


def main() -> None:
    """Entry point: user mistakes become one line plus a hint and exit code 2, never a traceback."""
    try:
        app()
    except CondsimError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        if error.hint:
            err_console.print(f"[dim]hint:[/] {error.hint}", highlight=False)
        sys.exit(2)
