"""Query parameters of the API -> the arguments `Collection.similar` / `search` take, validated once.

Every mistake is a `RequestError` or a `QueryInputError` (the library's rules on conditions and
weights, `condsim.collection.query_inputs`, shared with the CLI and `Collection`) naming the parameter
(`by`, `not`, `weight`, `values`, `method`), which the app answers with 422 and the message, never a
traceback.

Conditions come from the built-in vocabularies (`GET /api/conditions`) or from a free-text list of
values given with the query: ``values=fabric:cotton,silk,wool`` defines a condition "fabric" that
``by=fabric`` or ``not=fabric`` can then use (the page's "your own condition" chip).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from condsim.collection.query_inputs import Spelling, check_conditions, custom_condition, parse_weights
from condsim.conditions import Condition, get_condition, list_conditions, normalize_name
from condsim.errors import InvalidInputError, UnknownConditionError
from condsim.methods import QUERY_METHODS

#: the query methods, as the library lists them
METHODS: tuple[str, ...] = tuple(QUERY_METHODS)
MAX_K = 1000
MAX_CONDITIONS = 8
MAX_CUSTOM_VALUES = 300
MAX_VALUE_LENGTH = 120
#: how the library's rules on conditions and weights name the query parameters
SERVICE_SPELLING = Spelling(lead="parameter '{name}'", mention="'{name}'")


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
        condition = custom_condition(name, phrases, f"values={name.strip()[:40]}:...", SERVICE_SPELLING)
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
            f"parameter 'method': {method[:40]!r} is not one of {', '.join(map(repr, METHODS))}",
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
    check_conditions(
        [c.name for c in positive],
        [c.name for c in negative],
        method,
        SERVICE_SPELLING,
        has_weights=bool(weight),
    )
    weights = parse_weights(weight, {c.name: c for c in positive}, SERVICE_SPELLING)
    return ConditionQuery(positive, negative, weights)
