"""Every option shared by several commands, declared once (as pip's `cli/cmdoptions.py` does).

A command uses an option by annotating a parameter with the alias, giving only its default:

    def similar(store: options.StorePath = options.STORE_NOT_GIVEN, k: options.TopK = 20)

Help text is plain: it says what an option does, names its value with a metavar (`--weight COND=W`;
no Python types, see `cli/app.py`), and leaves the papers' equations to docs/methods.md.
`--store` may be left out: `inputs.locate_store` then finds the store from `CONDSIM_STORE` or a
`.condsim` marker in the working tree.

Checks that need nothing but the option's own value (k >= 1, a known method name, a PNG file name)
run as option callbacks, at parse time, before a store is opened or a model loaded; they fail as a
`CondsimError` naming the option, which `main()` prints as one line plus a hint. Everything else
(an unknown condition, k beyond the store, too many clusters) is the library's to check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from condsim.errors import InvalidInputError


def at_least_one(option: str, what: str, example: int) -> Callable[[int], int]:
    """An option callback refusing a number below 1: "-k 0: the number of results must be at least 1"."""

    def check(value: int) -> int:
        if value < 1:
            raise InvalidInputError(
                f"{option} {value}: {what} must be at least 1", hint=f"e.g. {option} {example}"
            )
        return value

    return check


def one_of(option: str, choices: Callable[[], Sequence[str]]) -> Callable[[str], str]:
    """An option callback refusing a value outside `choices()`, listing them. The choices are read
    when the command runs, so a registry (e.g. `condsim.methods`, numpy-heavy) is imported only then."""

    def check(value: str) -> str:
        allowed = choices()
        if value not in allowed:
            raise InvalidInputError(
                f"{option} {value!r} is not one of {', '.join(allowed)}", hint=f"e.g. {option} {allowed[0]}"
            )
        return value

    return check


def combine_modes() -> Sequence[str]:
    """The values of --combine (`condsim.methods.COMBINE_MODES`, read when a command runs)."""
    from condsim.methods import COMBINE_MODES

    return COMBINE_MODES


def query_methods() -> Sequence[str]:
    """The methods a query can use (`condsim.methods.QUERY_METHODS`: clay, crl, plain, rerank)."""
    from condsim.methods import QUERY_METHODS

    return QUERY_METHODS


def feature_methods() -> Sequence[str]:
    """The methods that give features under a condition (`condsim.methods.CONDITIONAL_METHODS`)."""
    from condsim.methods import CONDITIONAL_METHODS

    return CONDITIONAL_METHODS


def _png_or_none(value: str | None) -> str | None:
    if value is not None and Path(value).suffix.lower() != ".png":
        raise InvalidInputError(
            f"--sheet {value}: contact sheets are written as PNG", hint="e.g. --sheet results.png"
        )
    return value


# ------------------------------------------------------------------------------------- store and model

#: the default of `--store`: left out, the store is located (`inputs.locate_store`) by the callback
STORE_NOT_GIVEN = ""
_STORE_DEFAULT_HELP = "; default: $CONDSIM_STORE, else the store a .condsim file names (here or in a parent)"


def _store_or_located(value: str) -> str:
    """--store as given, else the store found from the environment or a .condsim marker."""
    from condsim.cli.inputs import locate_store
    from condsim.collection.backends import is_milvus

    if value and is_milvus(value):  # an address, not a path
        return value
    return str(locate_store(value or None))


StorePath = Annotated[
    str,
    typer.Option(
        "--store",
        metavar="DIR",
        show_default=False,
        callback=_store_or_located,
        help="store directory written by `condsim index`" + _STORE_DEFAULT_HELP,
    ),
]
NewStorePath = Annotated[
    str,
    typer.Option(
        "--store",
        metavar="DIR",
        show_default=False,
        callback=_store_or_located,
        help="store directory (created if missing)" + _STORE_DEFAULT_HELP,
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="NAME|DIR",
        envvar="CONDSIM_MODEL",
        show_envvar=False,
        help="encoder name or path; default: $CONDSIM_MODEL, else the store's model (without a store: "
        "the built-in model)",
    ),
]


def _device_name(value: str) -> str:
    """--device spelled right (no torch import here: whether the machine has it is checked when a
    model is loaded, which a query answered from the store and its caches never does)."""
    from condsim.encoders.devices import check_device_name

    return check_device_name(value)


Device = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="auto|cpu|cuda|mps",
        help="where a model runs if one is needed: auto = CUDA, then MPS, else the CPU; also cuda:N",
        callback=_device_name,
    ),
]

# ---------------------------------------------------------------------------------------- conditions

Conditions = Annotated[
    list[str] | None,
    typer.Option(
        "--by", metavar="COND", help="condition to compare under (repeatable); none: plain similarity"
    ),
]


def _one_condition(help_text: str) -> Any:
    """The one declaration of a single `--by COND`; each alias below gives it the help text of what
    its commands do with the condition."""
    return typer.Option("--by", metavar="COND", help=help_text)


Condition = Annotated[str, _one_condition("the condition to cluster or classify under")]
LabelCondition = Annotated[
    str, _one_condition("the condition whose values label the images (e.g. color: red, blue, ...)")
]
Negatives = Annotated[
    list[str] | None,
    typer.Option("--not", metavar="COND", help="condition to ignore (with --method clay; repeatable)"),
]
Weights = Annotated[
    list[str] | None,
    typer.Option(
        "--weight", metavar="COND=W", help="relative weight of a --by condition, W from 0.001 to 1000"
    ),
]
Combine = Annotated[
    str | None,
    typer.Option(
        "--combine",
        metavar="HOW",
        help="several --by conditions: stack (one subspace of all their prompts, the paper; the default) "
        "or mean (the mean of per-condition similarities; the default with --weight). docs/methods.md §1.2",
        callback=lambda value: value if value is None else one_of("--combine", combine_modes)(value),
    ),
]
Prompts = Annotated[
    list[str] | None,
    typer.Option(
        "--prompts",
        metavar="FILE|COND=FILE",
        help="your own values of a condition, one per line (at least 3)",
    ),
]
Llm = Annotated[
    bool,
    typer.Option(
        "--llm", help="generate the conditions' values with an OpenAI-compatible LLM (cached on disk)"
    ),
]

# ------------------------------------------------------------------------------------ method and output

QueryMethod = Annotated[
    str,
    typer.Option(
        "--method",
        metavar="NAME",
        help="clay, crl, plain or rerank (how each works: docs/methods.md)",
        callback=one_of("--method", query_methods),
    ),
]
FeatureMethod = Annotated[
    str,
    typer.Option(
        "--method",
        metavar="NAME",
        help="clay or crl: whose features of the condition to use (how each works: docs/methods.md)",
        callback=one_of("--method", feature_methods),
    ),
]
TopK = Annotated[
    int,
    typer.Option(
        "-k",
        "--top",
        metavar="N",
        help="number of results",
        callback=at_least_one("-k", "the number of results", 20),
    ),
]
Json = Annotated[bool, typer.Option("--json", help="print the results as JSON")]
Sheet = Annotated[
    str | None,
    typer.Option(
        "--sheet",
        metavar="FILE.png",
        help="write a contact sheet of the results to this PNG",
        callback=_png_or_none,
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        metavar="N",
        help="images per batch",
        callback=at_least_one("--batch-size", "the batch size", 32),
    ),
]

# ------------------------------------------------------------------------- query filters and exports


def _score_or_none(value: float | None) -> float | None:
    """A --min-score is a cosine: a bound outside [-1, 1] would keep everything or nothing."""
    if value is not None and not math.isfinite(value):
        raise InvalidInputError(f"--min-score {value}: not a number", hint="e.g. --min-score 0.5")
    if value is not None and not -1.0 <= value <= 1.0:
        raise InvalidInputError(
            f"--min-score {value}: outside [-1, 1]", hint="scores are cosines; e.g. --min-score 0.5"
        )
    return value


KeepDuplicates = Annotated[
    bool,
    typer.Option(
        "--keep-duplicates", help="keep copies and near copies of the query and of each other in the results"
    ),
]
MinScore = Annotated[
    float | None,
    typer.Option(
        "--min-score", metavar="SCORE", help="drop results scoring below this", callback=_score_or_none
    ),
]
PathGlob = Annotated[
    str | None,
    typer.Option(
        "--path",
        metavar="GLOB",
        help='search only images whose path in the indexed folder matches, e.g. "2024/*" or "*.jpg"',
    ),
]
PathsOnly = Annotated[bool, typer.Option("--paths-only", help="print only the images' paths, one a line")]
CopyTo = Annotated[
    str | None,
    typer.Option(
        "--copy-to", metavar="DIR", help="copy the images found into this folder (created if missing)"
    ),
]
LinkTo = Annotated[
    str | None,
    typer.Option(
        "--link-to", metavar="DIR", help="link the images found into this folder (created if missing)"
    ),
]
