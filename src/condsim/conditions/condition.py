"""A condition and the two prompt forms the methods need.

A condition ("color", "count", "art style", ...) is a list of *value phrases* ("red", "crimson",
"navy blue", ...). The methods never see the values directly; they see text prompts built from them:

* CLAY (methods.md §1.2, step 1) encodes "a photo of {value}"-style prompts. Each condition carries
  its own natural wording of that template (colour: "a photo of {a} {value} object", action:
  "a photo of a person {value}"), so the prompt reads as an English caption.
* CRL (methods.md §2.2, VLM prompt P2) encodes "{noun} with the {criterion} of {value}", where the
  noun is "objects" unless a domain noun is known ("a poker card", "a fashion", ...).

Template placeholders (the only ones understood; any other ``{...}`` is rejected):

``{value}``  the value phrase itself.
``{a}``      the indefinite article "a" or "an" that fits the value's first word ("an orange object").
``{s}``      "" when the value is listed in ``singular_values``, else "s" ("one object", "two objects").
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from condsim.errors import EmptyConditionError, InvalidInputError

ConditionSource = Literal["builtin", "file", "llm"]

DEFAULT_CLAY_TEMPLATE = "a photo of {value}"
"""The paper's CLAY template (methods.md §1.2), used when a condition gives no wording of its own."""

DEFAULT_CRL_NOUN = "objects"
"""CRL's default subject of P2, "Objects with the {C} of {W}" (methods.md §2.2)."""

_TEMPLATE_FIELDS = frozenset({"value", "a", "s"})

# Words that start with a vowel letter but a consonant sound ("a one-spot", "a unicorn", "a European").
_CONSONANT_SOUND_PREFIXES = (
    "one",
    "once",
    "uni",
    "use",
    "usu",
    "uti",
    "ura",
    "ure",
    "euro",
    "eu",
    "ewe",
    "u-",
)
# Words that start with a silent "h" ("an hour", "an honest").
_VOWEL_SOUND_H_WORDS = ("hour", "honest", "honor", "honour", "heir")
# Single letters / digits read with a leading vowel sound ("an A", "an 8", "an 11", "an 18").
_VOWEL_SOUND_LETTERS = frozenset("aefhilmnorsx")


def normalize_name(name: str) -> str:
    """The lookup form of a condition name: case-folded, ``_``/``-`` as spaces, single spaces.

    "Time_of-Day", " time  of day " and "time of day" all become "time of day".
    """
    return " ".join(re.sub(r"[_\-]+", " ", name).casefold().split())


def indefinite_article(phrase: str) -> str:
    """Return "a" or "an" for the spoken first word of ``phrase`` (English heuristics, no dictionary)."""
    words = phrase.strip().split()
    if not words:
        return "a"
    word = words[0].casefold()
    if word[0].isdigit():
        number = re.match(r"\d+", word)
        digits = number.group() if number else word
        # 8, 80, 800, ... "eight..."; 11 / 18, 11,000 / 18,000 ... "eleven..." / "eighteen..."
        return (
            "an" if digits.startswith("8") or (len(digits) % 3 == 2 and digits[:2] in {"11", "18"}) else "a"
        )
    letters = re.sub(r"[^a-z]", "", word)
    if not letters:
        return "a"
    if len(letters) == 1 or (word.isupper() and len(word) <= 3):
        return "an" if letters[0] in _VOWEL_SOUND_LETTERS else "a"
    if word.startswith(_VOWEL_SOUND_H_WORDS):
        return "an"
    if word.startswith(_CONSONANT_SOUND_PREFIXES):
        return "a"
    return "an" if letters[0] in "aeiou" else "a"


def check_template(template: str, *, what: str) -> str:
    """Validate a CLAY or CRL template: it must contain ``{value}`` and no unknown placeholders."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise InvalidInputError(
            f"{what} {template!r} is not a valid template: {error}",
            hint="Use {value} for the value, {a} for 'a'/'an', {s} for a plural 's'; write '{{' for '{'.",
        ) from error
    unknown = fields - _TEMPLATE_FIELDS
    if unknown or "value" not in fields:
        problem = f"unknown placeholder(s) {sorted(unknown)}" if unknown else "no {value} placeholder"
        raise InvalidInputError(
            f"{what} {template!r} has {problem}.",
            hint="A template must contain {value}; it may also use {a} ('a'/'an') and {s} (plural 's').",
        )
    return template


def clean_values(values: Iterable[str], *, where: str) -> tuple[str, ...]:
    """Strip and collapse whitespace, drop empty entries and case-insensitive duplicates (first kept).

    Raises `EmptyConditionError` when nothing is left, naming ``where`` the values came from.
    """
    seen: set[str] = set()
    cleaned: list[str] = []
    for raw in values:
        if not isinstance(raw, str):
            raise InvalidInputError(
                f"{where}: every value must be a string, got {type(raw).__name__} {raw!r}.",
                hint='Write one value phrase per entry, e.g. ["red", "crimson", "navy blue"].',
            )
        value = " ".join(raw.split())
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            cleaned.append(value)
    if not cleaned:
        raise EmptyConditionError(
            f"{where} has no values.",
            hint="Give at least one value phrase; CLAY's rank k = 50 needs at least 50 (60+ recommended).",
        )
    return tuple(cleaned)


@dataclass(frozen=True)
class Condition:
    """A named condition: its value phrases and how to turn them into CLAY and CRL prompts.

    ``values`` are short phrases ("crimson", "a pair of", "riding a horse"); `clay_prompts` and
    `crl_prompts` wrap them into the text the encoder sees. Build variants with `with_domain`
    (another CRL noun) or `dataclasses.replace`.
    """

    name: str
    values: tuple[str, ...]
    description: str = ""
    aliases: tuple[str, ...] = ()
    clay_template: str = DEFAULT_CLAY_TEMPLATE
    crl_criterion: str = ""
    crl_noun: str = DEFAULT_CRL_NOUN
    singular_values: frozenset[str] = field(default_factory=frozenset)
    source: ConditionSource = "builtin"

    def __post_init__(self) -> None:
        if not normalize_name(self.name):
            raise InvalidInputError("A condition needs a non-empty name.", hint="Name it, e.g. 'color'.")
        if not isinstance(self.values, tuple):
            object.__setattr__(self, "values", tuple(self.values))
        if not self.values:
            raise EmptyConditionError(
                f"Condition {self.name!r} has no values.",
                hint="Give at least one value phrase; CLAY's k = 50 needs at least 50 (60+ recommended).",
            )
        check_template(self.clay_template, what=f"CLAY template of condition {self.name!r}")
        if not self.crl_criterion:
            object.__setattr__(self, "crl_criterion", self.name)
        object.__setattr__(self, "singular_values", frozenset(self.singular_values))

    @property
    def key(self) -> str:
        """The normalised name used for lookups and cache keys."""
        return normalize_name(self.name)

    @property
    def clay_prompts(self) -> tuple[str, ...]:
        """One CLAY prompt per value, e.g. "a photo of a crimson object" (methods.md §1.2, step 1)."""
        return tuple(self.clay_prompt(value) for value in self.values)

    @property
    def crl_prompts(self) -> tuple[str, ...]:
        """One CRL prompt per value, "{noun} with the {criterion} of {value}" (methods.md §2.2, P2).

        As in CRL's code: prefix + value, no trailing period.
        """
        prefix = f"{self.crl_noun} with the {self.crl_criterion} of "
        return tuple(prefix + value for value in self.values)

    def clay_prompt(self, value: str) -> str:
        """Render the CLAY template for one value phrase."""
        plural = "" if value in self.singular_values else "s"
        return self.clay_template.format(value=value, a=indefinite_article(value), s=plural)

    def with_domain(self, noun: str) -> Condition:
        """This condition with another CRL subject noun, e.g. "a fashion" or "a poker card"."""
        noun = " ".join(noun.split())
        if not noun:
            raise InvalidInputError("The CRL domain noun is empty.", hint="Use e.g. 'objects' or 'a photo'.")
        return replace(self, crl_noun=noun)

    def __len__(self) -> int:
        return len(self.values)
