"""`condsim train-model`: train the built-in image tower (the script of the shipped model).

The training code is not part of the library; it is imported only when this command runs."""

from __future__ import annotations

from typing import Annotated

import typer

from condsim.cli import options
from condsim.cli.app import app


@app.command("train-model")
def train_model(
    out_dir: Annotated[
        str, typer.Argument(help="output folder: model.safetensors, config.json, MODEL_CARD.md")
    ],
    steps: int = typer.Option(3000, "--steps", help="optimiser steps"),
    seed: int = typer.Option(0, "--seed", help="seed of batch sampling and initialisation"),
    batch_size: options.BatchSize = 128,
    n_scenes: int = typer.Option(32_000, "--scenes", help="scenes in the pre-rendered training pool"),
    n_cards: int = typer.Option(6_000, "--cards", help="playing cards in the training pool"),
    threads: int = typer.Option(2, "--threads", help="CPU threads (torch) and rendering workers"),
    no_resume: bool = typer.Option(False, "--no-resume", help="start over instead of resuming"),
    # the CPU unless asked: the shipped model was trained there, and another device gives other weights
    device: options.Device = "cpu",
) -> None:
    """Train the built-in image tower against frozen MiniLM captions (the script of the shipped model)."""
    from condsim.training.loop import PoolSettings, train_builtin_model

    result = train_builtin_model(
        out_dir,
        steps=steps,
        seed=seed,
        resume=not no_resume,
        batch_size=batch_size,
        pool=PoolSettings(n_scenes=n_scenes, n_cards=n_cards),
        threads=threads,
        device=device,
    )
    typer.echo(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; model in {result.out_dir}")
    for task, accuracy in result.zero_shot.items():
        if task.count("/"):
            typer.echo(f"  zero-shot {task}: {accuracy * 100:.1f} %")
