"""`condsim finetune`: PC-CLIP finetuning of a model's text tower into a folder `--model` loads.

The training code is not part of the library; it is imported only when this command runs."""

from __future__ import annotations

from typing import Annotated

import typer

from condsim.cli import options
from condsim.cli.app import app


def _steps_or_default(value: int | None) -> int | None:
    return None if value is None else options.at_least_one("--steps", "the number of steps", 300)(value)


@app.command("finetune")
def finetune(
    out: str = typer.Option(..., "--out", help="output folder: weights, config, MODEL_CARD.md"),
    model: options.Model = None,
    data: str | None = typer.Option(
        None,
        "--data",
        help="labelled images KIND:PATH (clevr4:DIR, folders:DIR, csv:FILE); "
        "default: rendered scenes and cards from the training seeds",
    ),
    steps: int | None = typer.Option(
        None, "--steps", help="optimiser steps (default 300; --quick 200)", callback=_steps_or_default
    ),
    quick: bool = typer.Option(False, "--quick", help="fewer images, pairs and steps (minutes on a CPU)"),
    device: options.Device = "auto",
    llm: bool = typer.Option(
        False, "--llm", help="write the difference sentences with the configured LLM instead of templates"
    ),
    hold_out: Annotated[
        list[str] | None,
        typer.Option("--hold-out", help="condition of --data kept out of the finetuning (repeatable)"),
    ] = None,
    no_resume: bool = typer.Option(False, "--no-resume", help="start over instead of resuming"),
    no_eval: bool = typer.Option(False, "--no-eval", help="skip the before/after measurements"),
) -> None:
    """Finetune a model's text tower to describe image differences (PC-CLIP); --model OUT then loads it."""
    from dataclasses import replace

    from condsim.eval.pairwise import pairwise_scores
    from condsim.training.pcclip.finetune import DEFAULT, QUICK, finetune

    settings = replace(QUICK if quick else DEFAULT, hold_out=tuple(hold_out or ()))
    report = finetune(
        model, out, data=data, steps=steps, settings=settings, device=device, llm=llm,
        resume=not no_resume, evaluate=None if no_eval else pairwise_scores,
    )  # fmt: skip
    typer.echo(
        f"finetuned {report.steps} steps on {report.n_pairs:,} pairs in {report.train_seconds / 60:.1f} min "
        f"(final loss {report.final_loss:.4f}); model {report.model_id} in {report.out_dir}"
    )
    if report.before is not None and report.after is not None:
        for kind in ("difference", "zero_shot"):
            for suite, scores in report.after[kind].items():
                for name, value in scores.items():
                    old = report.before[kind][suite][name]
                    new_text = value["text"] if isinstance(value, dict) else value
                    old_text = old["text"] if isinstance(old, dict) else old
                    typer.echo(f"  {kind} {suite}/{name}: {old_text:.1f} -> {new_text:.1f} %")
    typer.echo(f"use it with --model {report.out_dir}; details in {report.out_dir / 'MODEL_CARD.md'}")
