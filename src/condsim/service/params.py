"""Query parameters of the API -> the arguments `Collection.similar` / `search` take, validated once.

Every mistake is a `RequestError` naming the parameter (`by`, `not`, `weight`, `values`, `method`),
which the app answers with 422 and the message, never a traceback.

Conditions come from the built-in vocabularies (`GET /api/conditions`) or from a free-text list of
values given with the query: ``values=fabric:cotton,silk,wool`` defines a condition "fabric" that
``by=fabric`` or ``not=fabric`` can then use (the page's "your own condition" chip).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from condsim.conditions import Condition, get_condition, list_conditions, normalize_name
from condsim.conditions.builtin import canonical_name
from condsim.errors import EmptyConditionError, InvalidInputError, UnknownConditionError
from condsim.methods import QUERY_METHODS

#: the query methods, as the library lists them
METHODS: tuple[str, ...] = tuple(QUERY_METHODS)
MAX_K = 1000
MAX_CONDITIONS = 8
MAX_CUSTOM_VALUES = 300
MAX_VALUE_LENGTH = 120


class RequestError(InvalidInputError):
    """A request the service refuses: an HTTP status, the parameter at fault (if one), a message."""

    def __init__(
        self, message: str, *, status_code: int = 422, parameter: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.parameter = parameter


@dataclass(frozen=True)
class ConditionQuery:
    """Resolved conditions of one query: what to compare under, what to ignore, relative weights."""

    by: list[Condition] = field(default_factory=list)
    not_: list[Condition] = field(default_factory=list)
    #: condition name -> relative weight (None: equal weights)
    weights: dict[str, float] | None = None

    @property
    def by_names(self) -> list[str]:
        return [condition.name for condition in self.by]

    @property
    def not_names(self) -> list[str]:
        return [condition.name for condition in self.not_]


def parse_custom_values(values: Sequence[str]) -> dict[str, Condition]:
    """``NAME:V1,V2,...`` entries -> {normalised name: Condition} (the user's own conditions)."""
    custom: dict[str, Condition] = {}
    for entry in values:
        name, separator, listed = entry.partition(":")
        phrases = [phrase.strip() for phrase in listed.split(",") if phrase.strip()]
        if not separator or not name.strip() or not phrases:
            raise RequestError(
                f"parameter 'values': {entry[:80]!r} is not NAME:V1,V2,... with at least one value",
                parameter="values",
                hint="e.g. values=fabric:cotton,silk,wool&by=fabric",
            )
        if len(phrases) > MAX_CUSTOM_VALUES or any(len(phrase) > MAX_VALUE_LENGTH for phrase in phrases):
            raise RequestError(
                f"parameter 'values': condition {name.strip()!r} has more than {MAX_CUSTOM_VALUES} values "
                f"or a value longer than {MAX_VALUE_LENGTH} characters",
                parameter="values",
                hint="give fewer, shorter value phrases",
            )
        try:
            condition = Condition(name=" ".join(name.split()), values=tuple(phrases), source="file")
        except (EmptyConditionError, InvalidInputError) as error:
            raise RequestError(f"parameter 'values': {error}", parameter="values", hint=error.hint) from error
        custom[condition.key] = condition
    return custom


def _resolve(name: str, custom: dict[str, Condition], parameter: str) -> Condition:
    if not name.strip():
        raise RequestError(
            f"parameter '{parameter}': a condition name is empty",
            parameter=parameter,
            hint="GET /api/conditions lists the built-in ones",
        )
    found = custom.get(normalize_name(name))
    if found is not None:
        return found
    try:
        return get_condition(name)
    except UnknownConditionError as error:
        raise RequestError(
            f"parameter '{parameter}': unknown condition {name[:80]!r} "
            f"(built in: {', '.join(list_conditions())})",
            parameter=parameter,
            hint=f"define its values with values={name[:40]}:V1,V2,... or pick one from GET /api/conditions",
        ) from error


def _parse_weights(entries: Sequence[str], by: list[Condition]) -> dict[str, float] | None:
    """``COND=W`` entries -> {condition name: W}; COND is any name or alias of a `by` condition."""
    if not entries:
        return None
    if not by:
        raise RequestError(
            "parameter 'weight': weights need at least one 'by' condition",
            parameter="weight",
            hint="e.g. by=color&by=shape&weight=color=2",
        )
    weights: dict[str, float] = {}
    for entry in entries:
        name, separator, number = entry.rpartition("=")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not separator or not name.strip() or not math.isfinite(value) or value < 0:
            raise RequestError(
                f"parameter 'weight': {entry[:80]!r} is not COND=W with W a non-negative number",
                parameter="weight",
                hint="e.g. weight=color=2",
            )
        wanted = {normalize_name(name), canonical_name(name)}
        matches = [condition.name for condition in by if condition.key in wanted]
        if not matches:
            raise RequestError(
                f"parameter 'weight': {name[:80]!r} is not one of the 'by' conditions",
                parameter="weight",
                hint=f"weight one of {', '.join(condition.name for condition in by)}",
            )
        weights[matches[0]] = value
    if sum(weights.get(condition.name, 1.0) for condition in by) <= 0:
        raise RequestError(
            "parameter 'weight': the weights are all zero", parameter="weight", hint="e.g. weight=color=2"
        )
    return weights


def parse_conditions(
    by: Sequence[str],
    not_: Sequence[str],
    weight: Sequence[str],
    values: Sequence[str],
    method: str,
) -> ConditionQuery:
    """Validate and resolve the condition parameters of a query for `method`."""
    if method not in METHODS:
        raise RequestError(
            f"parameter 'method': {method[:40]!r} is not one of {', '.join(METHODS)}",
            parameter="method",
            hint="e.g. method=clay",
        )
    if len(by) + len(not_) > MAX_CONDITIONS:
        raise RequestError(
            f"parameter 'by': at most {MAX_CONDITIONS} conditions ('by' and 'not' together)",
            parameter="by",
            hint="compare under fewer conditions",
        )
    custom = parse_custom_values(values)
    positive = [_resolve(name, custom, "by") for name in by]
    negative = [_resolve(name, custom, "not") for name in not_]
    if len({c.key for c in positive}) != len(positive) or len({c.key for c in negative}) != len(negative):
        raise RequestError(
            "parameter 'by': a condition is given twice", parameter="by", hint="list each condition once"
        )
    if method == "plain" and (positive or negative):
        raise RequestError(
            "parameter 'method': plain similarity ignores conditions",
            parameter="method",
            hint="drop by/not, or use method=clay, crl or rerank",
        )
    if negative and not positive:
        raise RequestError(
            "parameter 'not': 'not' removes a condition from the 'by' ones, and there is none",
            parameter="not",
            hint="e.g. by=shape&not=color (same shape, whatever the colour)",
        )
    if negative and method != "clay":
        raise RequestError(
            f"parameter 'not': 'not' works with method=clay only, not {method}",
            parameter="not",
            hint="use method=clay",
        )
    if both := sorted({c.name for c in positive} & {c.name for c in negative}):
        raise RequestError(
            f"parameter 'not': {', '.join(both)} is given in both 'by' and 'not'",
            parameter="not",
            hint="keep it in one of the two",
        )
    return ConditionQuery(positive, negative, _parse_weights(weight, positive))
