"""The condition inputs of a query, checked once for every front end: which conditions to compare
under (`by`), which to ignore (`not`), their relative weights (typed as ``COND=W``) and a user's own
list of values.

The command line (--by, --not, --weight, --prompts), the HTTP service (by=, not=, weight=, values=)
and `Collection.similar` (by=, not_=, weights=) call these functions, so one rule holds everywhere. A
refusal is a `QueryInputError` naming the input at fault (`parameter`: "by", "not", "weight",
"values" or "method"), worded as the front end that asked spells its inputs (a `Spelling`): the
command line says "--weight 'color=x': ...", the service "parameter 'weight': ...".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from condsim.conditions import Condition, normalize_name
from condsim.conditions.builtin import canonical_name
from condsim.conditions.condition import clean_values
from condsim.conditions.resolve import check_separable
from condsim.errors import EmptyConditionError, InvalidInputError
from condsim.methods import MAX_WEIGHT, MIN_WEIGHT, weight_in_range


class QueryInputError(InvalidInputError):
    """A condition input refused, with the input at fault (`parameter`) for a front end to point at."""

    def __init__(self, message: str, *, parameter: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.parameter = parameter


@dataclass(frozen=True)
class Spelling:
    """How a front end writes its condition inputs in a message.

    `names` maps an input ("by", "not", "weight", "values", "method") to the front end's name for it
    (default: the input itself); `lead` starts a message about the input at fault, `mention` refers to
    another input inside a message, `setting` writes an input set to a value.
    """

    names: Mapping[str, str] = field(default_factory=dict)
    lead: str = "{name}"
    mention: str = "{name}"
    setting: str = "{name}={value}"

    def name(self, parameter: str) -> str:
        return self.names.get(parameter, parameter)

    def at(self, parameter: str) -> str:
        """The start of a message about `parameter`."""
        return self.lead.format(name=self.name(parameter))

    def of(self, parameter: str) -> str:
        """`parameter` mentioned inside a message."""
        return self.mention.format(name=self.name(parameter))

    def set(self, parameter: str, value: str) -> str:
        """`parameter` set to `value`, as the user would write it."""
        return self.setting.format(name=self.name(parameter), value=value)


#: the Python API's words (`Collection.similar(by=..., not_=..., weights=...)`)
PYTHON_SPELLING = Spelling(
    names={"not": "not_", "weight": "weights"}, mention="{name}=[...]", setting="{name}={value!r}"
)


def _refuse(spelling: Spelling, parameter: str, message: str, hint: str | None) -> QueryInputError:
    return QueryInputError(f"{spelling.at(parameter)}: {message}", parameter=parameter, hint=hint)


def _weights_without_condition(spelling: Spelling) -> QueryInputError:
    """Weights given with no condition to weigh: the same refusal wherever it is noticed."""
    return _refuse(
        spelling,
        "weight",
        f"weights need at least one {spelling.of('by')} condition",
        f"e.g. {spelling.set('by', 'color')} {spelling.set('by', 'shape')} "
        f"{spelling.set('weight', 'color=2')}",
    )


def condition_key(name: str) -> str:
    """The form in which two typed names denote the same condition: a built-in's canonical name
    (so "colour" and "color" are one), else the normalised name."""
    return canonical_name(name) or normalize_name(name)


def check_conditions(
    by: Sequence[str],
    not_: Sequence[str],
    method: str,
    spelling: Spelling = PYTHON_SPELLING,
    *,
    has_weights: bool = False,
) -> None:
    """Refuse a combination of conditions that cannot mean anything for `method`: a condition given
    twice, a negative condition (or weights) without a positive one, a negative condition with a method
    other than CLAY (only CLAY removes a subspace, methods.md §1.3), a condition both wanted and
    ignored, or conditions with plain similarity. `by` and `not_` are condition names (as typed or
    resolved)."""
    positive, negative = [condition_key(name) for name in by], [condition_key(name) for name in not_]
    if has_weights and not positive:
        raise _weights_without_condition(spelling)
    for parameter, keys in (("by", positive), ("not", negative)):
        if len(set(keys)) != len(keys):
            raise _refuse(spelling, parameter, "a condition is given twice", "list each condition once")
    if method == "plain" and (positive or negative):
        raise _refuse(
            spelling,
            "method",
            "plain similarity ignores conditions",
            f"drop {spelling.of('by')}/{spelling.of('not')}, or use {spelling.set('method', 'clay')}",
        )
    if negative and not positive:
        raise _refuse(
            spelling,
            "not",
            f"it removes a condition from the {spelling.of('by')} ones, and there is none",
            # CLAY takes the negative prompts' directions out of the subspace the positive prompts span;
            # the plain embedding is not such a subspace, and cutting those directions out of all of it
            # is no method the papers define or that we measured, so it is refused, not guessed
            f"CLAY removes it from the subspace of a {spelling.of('by')} condition; plain similarity has "
            f"none: e.g. {spelling.set('by', 'shape')} {spelling.set('not', 'color')} (same shape, "
            "whatever the colour)",
        )
    if negative and method != "clay":
        raise _refuse(
            spelling,
            "not",
            f"works with {spelling.set('method', 'clay')} only (a subspace is removed), not {method}",
            f"use {spelling.set('method', 'clay')}",
        )
    if both := sorted({name for name in by if condition_key(name) in set(negative)}):
        raise _refuse(
            spelling,
            "not",
            f"{', '.join(both)} is given in both {spelling.of('by')} and {spelling.of('not')}",
            "keep it in one of the two",
        )


def check_weight(name: str, weight: float, spelling: Spelling = PYTHON_SPELLING) -> float:
    """`weight` (of condition `name`) as a float if it is a number in [`MIN_WEIGHT`, `MAX_WEIGHT`];
    weights are relative, so to leave a condition out one drops it rather than weighting it 0."""
    try:
        value = float(weight)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(weight, bool) or not weight_in_range(value):
        raise _refuse(
            spelling,
            "weight",
            f"{name!r} has weight {weight!r}: a weight must be a number between {MIN_WEIGHT:g} and "
            f"{MAX_WEIGHT:g} (weights are relative)",
            f"e.g. {spelling.set('weight', 'color=2')}; to leave a condition out, drop it from "
            f"{spelling.of('by')}",
        )
    return value


def parse_weights(
    entries: Sequence[str], conditions: Mapping[str, Condition], spelling: Spelling = PYTHON_SPELLING
) -> dict[str, float] | None:
    """Typed ``COND=W`` entries -> {condition name: W} (None when there are none). `conditions` maps
    each typed `by` name to its condition; COND may be that typed name or any alias of it. W follows
    `check_weight`, and each condition is weighted once: a second weight for it is refused, never
    silently kept."""
    if not entries:
        return None
    if not conditions:
        raise _weights_without_condition(spelling)
    parsed: dict[str, float] = {}
    for entry in entries:
        name, separator, number = entry.rpartition("=")
        if not separator or not name.strip():
            raise _refuse(
                spelling,
                "weight",
                f"{entry[:80]!r} is not COND=W with W a number",
                f"e.g. {spelling.set('weight', 'color=2')}",
            )
        wanted = {normalize_name(name), condition_key(name)}
        matches = [
            condition.name
            for typed, condition in conditions.items()
            if wanted & {normalize_name(typed), condition.key}
        ]
        if not matches:
            raise _refuse(
                spelling,
                "weight",
                f"{name[:80]!r} is not one of the {spelling.of('by')} conditions",
                f"weight one of {', '.join(conditions)}",
            )
        try:
            weight = check_weight(matches[0], float(number), spelling)
        except ValueError as error:
            if isinstance(error, QueryInputError):
                raise
            raise _refuse(
                spelling,
                "weight",
                f"{entry[:80]!r} is not COND=W with W a number",
                f"e.g. {spelling.set('weight', 'color=2')}",
            ) from error
        if matches[0] in parsed:
            raise _refuse(
                spelling,
                "weight",
                f"{entry[:80]!r}: {matches[0]!r} already has a weight ({parsed[matches[0]]:g})",
                "give one weight per condition",
            )
        parsed[matches[0]] = weight
    return parsed


def custom_condition(
    name: str, values: Sequence[str], origin: str, spelling: Spelling = PYTHON_SPELLING
) -> Condition:
    """A user's own condition `name` with the value phrases `values` (from `origin`, e.g. the query
    parameter), held to the same rules as a prompts file: a name, and enough distinct values (case
    and spacing aside, as in a file) to separate images (`condsim.conditions.resolve.check_separable`)."""
    try:
        distinct = clean_values(values, where=origin)
        condition = Condition(name=" ".join(name.split()), values=distinct, source="file")
        return check_separable(condition, origin)
    except (EmptyConditionError, InvalidInputError) as error:
        raise _refuse(spelling, "values", str(error), error.hint) from error
