"""`condsim label`: a zero-shot label per image under one condition (`collection.tasks.label_collection`),
written as CSV (path, the condition's name, confidence), shown as counts per value, or with --json
printed as the result envelope (one entry per image with its label)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import open_collection, resolve_conditions
from condsim.cli.render import print_json, print_labelling, write_csv


@app.command()
def label(
    by: options.LabelCondition,
    store: options.StorePath = options.STORE_NOT_GIVEN,
    values: str | None = typer.Option(
        None,
        "--values",
        metavar="FILE",
        help="the values to choose from, one a line (or a JSON list); default: the condition's vocabulary",
    ),
    out: str = typer.Option("labels.csv", "--out", help="CSV of path, the condition's value, confidence"),
    comparative: bool = typer.Option(
        False,
        "--comparative",
        help="sharpen the 3 value pairs the images leave most in doubt with texts saying how they differ",
    ),
    as_json: options.Json = False,
    prompts: options.Prompts = None,
    llm: options.Llm = False,
    model: options.Model = None,
    device: options.Device = "auto",
) -> None:
    """Label every image with its nearest condition value (zero-shot: no labelled images needed)."""
    from condsim.collection.tasks import label_collection

    condition = resolve_conditions([by], prompts, llm)[by]
    candidates = None
    where = f"the vocabulary of {condition.name!r}"
    if values is not None:
        from condsim.conditions.prompts_file import load_prompt_file

        candidates = list(load_prompt_file(Path(values), name=condition.name).values)
        where = f"--values {values}"
    with open_collection(store, model, device=device)[0] as collection:
        labelling = label_collection(collection, condition, candidates, comparative=comparative, where=where)
        envelope = None
        if as_json:
            from condsim.collection.envelope import condition_summary, images_envelope

            hits = [(item.path, item.confidence, {"label": item.value}) for item in labelling.labels]
            extra: dict[str, Any] = {"refined": [list(pair) for pair in labelling.refined]}
            envelope = images_envelope(
                collection,
                hits,
                query={"label": condition.name, "values": values},
                method="zero-shot" + (", comparative" if comparative else ""),
                conditions=condition_summary([condition.name]),
                counts=labelling.counts(),
                **extra,
            )
    csv_path = write_csv(
        Path(out).expanduser(),
        ("path", condition.name, "confidence"),
        [(item.path, item.value, f"{item.confidence:.4f}") for item in labelling.labels],
    )
    if envelope is not None:
        envelope["csv"] = str(csv_path)
        print_json(envelope)
        return
    how = "zero-shot" + (", comparative" if comparative else "")
    title = (
        f"{len(labelling.labels)} images labelled by {condition.name} ({how}, {len(labelling.values)} values)"
    )
    print_labelling(labelling, title, csv_path)
