"""`condsim bench` (the papers' protocols on every method) and `condsim demo` (a rendered collection
indexed and queried end to end)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.render import console


@app.command()
def demo(
    out: str = typer.Option(
        "out/demo", "--out", help="folder for images/, store/, sheets/, label/, clusters/ and labels.csv"
    ),
    n_images: int = typer.Option(300, "--n", help="number of scenes to render"),
    k: options.TopK = 8,
    device: options.Device = "auto",
) -> None:
    """Demo: render scenes, index them with the built-in model, query plain / by colour, shape, count;
    then duplicates, "like this, but red", zero-shot labels and named clusters."""
    from condsim.demo import run_demo

    run_demo(Path(out).expanduser(), n_images=n_images, k=k, console=console, device=device)


@app.command()
def bench(
    suite: str = typer.Option(
        "all", "--suite", help="clevr4, cards, objects, flat (drawings the built-in model never saw) or all"
    ),
    out: str = typer.Option(..., "--out", help="output folder for results.json, report.md and charts"),
    quick: bool = typer.Option(False, "--quick", help="smoke run: 1,000 images per suite, 3 seeds"),
    model: options.Model = None,
    device: options.Device = "auto",
    crl_texts: str | None = typer.Option(
        None, "--crl-texts", help="a CRL text-list JSON whose lists replace CRL's prompts in the main tables"
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="re-embed even if cached embeddings exist"),
    jobs: int = typer.Option(
        1,
        "--jobs",
        help="worker processes for the protocols; the numbers do not depend on it",
        callback=options.at_least_one("--jobs", "the number of jobs", 2),
    ),
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="your own labelled images, KIND:PATH with KIND clevr4 (clevr_4_annots.json layout), "
            "folders (DIR/condition/class/*.png) or csv (path + one column per condition); repeatable",
        ),
    ] = None,
) -> None:
    """Run every protocol (retrieval with intervals and top-k, zero-shot, clustering, few-shot,
    differences, sensitivity) on every method; docs/methods.md describes each one."""
    from condsim.cli.inputs import load_encoder
    from condsim.eval.bench import FULL, QUICK, resolve_suites, run_bench, user_data_suite, write_results

    user_data = [user_data_suite(spec) for spec in data or []]
    names = [] if user_data and suite == "all" else resolve_suites(suite)
    encoder = load_encoder(model, None, device)
    settings = QUICK if quick else FULL
    results = run_bench(
        names,
        encoder,
        settings=settings,
        crl_texts=crl_texts,
        cache=not no_cache,
        user_data=user_data,
        banned_words=_caption_wordings(),
        jobs=jobs,
    )
    path = write_results(results, out)
    typer.echo(f"wrote {path} and {path.parent / 'report.md'}")


def _caption_wordings() -> dict[str, dict[str, list[str]]]:
    """Suite -> condition -> every word the built-in model's training captions use for its classes:
    removed, with the class names, from the vocabularies of the bench's ``no-class-names`` prompts."""
    from condsim.training import captions

    colours = [word for words in captions.COLOR_WORDS.values() for word in words]
    shapes = [word for pairs in captions.SHAPE_WORDS.values() for pair in pairs for word in pair]
    textures = [word for words in captions.TEXTURE_WORDS.values() for word in words]
    counts = [word for words in captions.COUNT_WORDS.values() for word in words]
    ranks = [word for words in captions.RANK_WORDS.values() for word in words]
    suits = [word for suit in ("clubs", "diamonds", "hearts", "spades") for word in (suit, suit[:-1])]
    return {
        "clevr4": {"color": colours, "shape": shapes, "texture": textures, "count": counts},
        "cards": {"number": ranks, "suit": suits},
        "objects": {"color": colours},
        "flat": {"color": colours, "shape": shapes},
    }
