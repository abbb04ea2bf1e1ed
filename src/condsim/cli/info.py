"""`condsim conditions`: the built-in conditions, or one condition's values and prompts."""

from __future__ import annotations

import typer

from condsim.cli import options
from condsim.cli.app import app
from condsim.cli.inputs import resolve_conditions
from condsim.cli.render import print_condition, print_condition_list
from condsim.errors import InvalidInputError


@app.command()
def conditions(
    name: str | None = typer.Argument(None, help="show this condition's values and prompts"),
    prompts: options.Prompts = None,
    llm: options.Llm = False,
) -> None:
    """List the built-in conditions (with aliases and value counts), or show one condition's prompts."""
    from condsim.conditions import builtin_aliases, get_condition, list_conditions, normalize_name

    if name is None:
        if prompts or llm:
            raise InvalidInputError(
                "--prompts / --llm need a condition NAME", hint="e.g. condsim conditions fabric --llm"
            )
        aliases: dict[str, list[str]] = {}
        for alias, canonical in builtin_aliases().items():
            if alias != normalize_name(canonical):
                aliases.setdefault(canonical, []).append(alias)
        print_condition_list([get_condition(canonical) for canonical in list_conditions()], aliases)
        return
    print_condition(resolve_conditions([name], prompts, llm)[name])
