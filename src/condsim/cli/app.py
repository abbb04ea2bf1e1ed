"""The Typer application every command registers on, and `main()`, the `condsim` entry point.

`main()` is where user mistakes end: a `CondsimError` (or a Click usage error) becomes one `error:`
line plus one `hint:` line on stderr with exit code 2, never a traceback; Ctrl-C exits with 130.

Help text names values, not Python types: typer would show `--json <bool>` and `--store <str>`;
`CommandGroup` shows a flag bare, an option with its metavar (declared in `options.py`, e.g.
`--weight COND=W`) or its name in capitals, and an argument by its name alone.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from condsim import __version__
from condsim.cli.render import err_console, fail, show_warning
from condsim.errors import CondsimError

try:  # typer >= 0.20 vendors click and raises its own exception classes
    from typer import TyperException as _CommandLineError
except ImportError:  # pragma: no cover - older typer on top of click
    from click import ClickException as _CommandLineError  # type: ignore[assignment]


def _plain_metavars(command: Any, context: Any) -> None:
    """Give every parameter of `command` a metavar, so that help shows no type (see the module
    docstring); the help option is included (typer creates it on first use)."""
    help_option = command.get_help_option(context)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = _value_name(param)
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010 - this instance only
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _value_name(param)


def _value_name(param: Any) -> str:
    """A value's name from the parameter's longest spelling: `--batch-size` -> BATCH_SIZE."""
    longest = max(param.opts, key=len) if param.opts else param.name or "value"
    return str(longest).lstrip("-").replace("-", "_").upper()


class CommandGroup(TyperGroup):
    """condsim's command group: every command's help goes through `_plain_metavars`."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_metavars(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _plain_metavars(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=CommandGroup,
    name="condsim",
    help="Conditional image similarity: index a collection once, then search it under any condition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help is plain text: "[/DB]" or "condsim[ray]" must print as written
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"condsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True),
) -> None:
    """condsim command line."""


def _command_path(args: Sequence[str] | None) -> str:
    """ "condsim COMMAND" for the command being run (for hints), or "condsim"."""
    words = list(args) if args is not None else sys.argv[1:]
    command = next((word for word in words if not word.startswith("-")), None)
    return f"condsim {command}" if command else "condsim"


def main(args: Sequence[str] | None = None) -> None:
    """Entry point: user mistakes become one line plus a hint and exit code 2, never a traceback."""
    warnings.showwarning = show_warning
    try:
        result: Any = app(
            args=list(args) if args is not None else None, prog_name="condsim", standalone_mode=False
        )
    except CondsimError as error:
        fail(str(error), error.hint or f"see `{_command_path(args)} --help`")
    except _CommandLineError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `condsim`: the help text
            typer.echo(error.format_message(), err=True)
            sys.exit(2)
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "condsim"
        fail(error.format_message(), f"see `{command} --help`")
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)
