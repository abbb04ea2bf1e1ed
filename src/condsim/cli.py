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


@app.command()
def bench(
    suite: str = typer.Option("all", "--suite", help="clevr4, cards, objects or all"),
    out: str = typer.Option(..., "--out", help="output folder for results.json, report.md and charts"),
    quick: bool = typer.Option(False, "--quick", help="smoke run: 1,000 images per suite, 3 seeds"),
    model: str | None = typer.Option(None, "--model", help="encoder name or path; default: built-in model"),
    crl_texts: str | None = typer.Option(None, "--crl-texts", help="CRL's published text-list JSON for CRL"),
    no_cache: bool = typer.Option(False, "--no-cache", help="re-embed even if cached embeddings exist"),
) -> None:
    """Run the papers' protocols (retrieval mAP, clustering, few-shot, PC-CLIP) on every method."""
    from condsim.encoders import load_encoder
    from condsim.eval.bench import FULL, QUICK, resolve_suites, run_bench, write_results

    names = resolve_suites(suite)
    encoder = load_encoder(model)
    settings = QUICK if quick else FULL
    results = run_bench(names, encoder, settings=settings, crl_texts=crl_texts, cache=not no_cache)
    path = write_results(results, out)
    typer.echo(f"wrote {path} and {path.parent / 'report.md'}")


def main() -> None:
    """Entry point: user mistakes become one line plus a hint and exit code 2, never a traceback."""
    try:
        app()
    except CondsimError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        if error.hint:
            err_console.print(f"[dim]hint:[/] {error.hint}", highlight=False)
        sys.exit(2)
