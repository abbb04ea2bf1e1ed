"""The condsim command line: parse, call one library function, print. No method logic lives here.

Commands: `index`, `check`, `similar`, `search`, `duplicates`, `cluster`, `classify`, `label`, `rank`,
`conditions`, `demo`, `bench`, `train-model`, `finetune`. Every user mistake (missing store, bad image
path, unknown or empty condition, k <= 0, unreadable labels file, bad option value) is a `CondsimError`
(or a Click usage error) that `main()` prints as one line plus a hint, with exit code 2 and no traceback.

Layout: `app.py` holds the Typer app and `main()`; `options.py` declares every shared option once;
`inputs.py` turns arguments into library objects (encoder, collection, conditions, weights, labels);
`render.py` prints and writes everything; one module per group of commands registers its commands
on `app` with `@app.command()`. A new group is a new module, added to `COMMAND_MODULES` below. Modules
import numpy, torch and the library inside the commands, so `condsim --help` stays fast.
"""

from __future__ import annotations

import importlib

from condsim.cli.app import app, main

# the command modules, in the order `condsim --help` lists their commands; importing one registers it
COMMAND_MODULES = (
    "index",
    "check",
    "query",
    "duplicates",
    "tasks",
    "label",
    "info",
    "eval",
    "train",
    "finetune",
    "serve",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"condsim.cli.{_module}")

__all__ = ["app", "main"]
