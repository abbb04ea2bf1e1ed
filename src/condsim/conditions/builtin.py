"""Built-in condition vocabularies, shipped as JSON data files in ``conditions/vocabularies/``.

Each file describes one condition::

    {
      "name": "color",                          # canonical name (lookups are case/space-insensitive)
      "aliases": ["colour", ...],               # other names that resolve to it
      "description": "...",                     # one line, shown by `condsim conditions`
      "clay_template": "a photo of {a} {value} object",   # CLAY prompt wording (methods.md §1.2)
      "crl_criterion": "color",                 # {C} in CRL's "{noun} with the {C} of {W}" (§2.2)
      "crl_noun": "objects",                    # CRL's domain noun
      "llm_examples": ["red", "crimson", "scarlet"],       # the three synonyms in CRL's LLM prompt P1
      "singular_values": ["one", ...],          # optional: values that take the singular ({s} -> "")
      "values": ["gray", "grey", ...]           # >= 60 distinct value phrases, so CLAY's k = 50 fits
    }

The vocabularies were written for condsim (not copied from CRL's LLM lists) and cover the class names
of the synthetic benchmarks (Clevr-4 colour / shape / texture / count, card rank and suit).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from condsim.conditions.condition import Condition, check_template, normalize_name
from condsim.errors import CondsimError, UnknownConditionError

MIN_BUILTIN_VALUES = 60
"""Every built-in vocabulary has at least this many distinct values (CLAY's k = 50 plus a margin)."""

_REQUIRED_KEYS = (
    "name",
    "aliases",
    "description",
    "clay_template",
    "crl_criterion",
    "crl_noun",
    "llm_examples",
    "values",
)
_OPTIONAL_KEYS = ("singular_values",)


class VocabularyError(CondsimError):
    """A built-in vocabulary file is malformed (a packaging bug, not a user mistake)."""


@dataclass(frozen=True)
class BuiltinVocabulary:
    """A parsed vocabulary file: the condition plus the three LLM example synonyms (see `llm`)."""

    condition: Condition
    llm_examples: tuple[str, ...]


def _string_list(document: dict[str, Any], key: str, filename: str) -> list[str]:
    items = document[key]
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise VocabularyError(f"Vocabulary {filename}: {key!r} must be a list of non-empty strings.")
    return [" ".join(item.split()) for item in items]


def parse_vocabulary(document: object, filename: str) -> BuiltinVocabulary:
    """Validate one vocabulary document (see the module docstring) and build its condition.

    Strict on purpose: unknown keys, duplicate values (case-insensitive), fewer than
    `MIN_BUILTIN_VALUES` values or a bad template raise `VocabularyError`.
    """
    if not isinstance(document, dict):
        raise VocabularyError(f"Vocabulary {filename}: expected a JSON object.")
    missing = [key for key in _REQUIRED_KEYS if key not in document]
    unknown = sorted(set(document) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if missing or unknown:
        raise VocabularyError(f"Vocabulary {filename}: missing keys {missing}, unknown keys {unknown}.")
    for key in ("name", "description", "clay_template", "crl_criterion", "crl_noun"):
        if not isinstance(document[key], str) or not document[key].strip():
            raise VocabularyError(f"Vocabulary {filename}: {key!r} must be a non-empty string.")
    values = _string_list(document, "values", filename)
    folded = [value.casefold() for value in values]
    duplicates = sorted({value for value in folded if folded.count(value) > 1})
    if duplicates:
        raise VocabularyError(f"Vocabulary {filename}: duplicate values {duplicates}.")
    if len(values) < MIN_BUILTIN_VALUES:
        raise VocabularyError(
            f"Vocabulary {filename}: {len(values)} values, at least {MIN_BUILTIN_VALUES} are required."
        )
    singular = _string_list(document, "singular_values", filename) if "singular_values" in document else []
    stray = sorted(set(singular) - set(values))
    if stray:
        raise VocabularyError(f"Vocabulary {filename}: singular_values not among the values: {stray}.")
    examples = _string_list(document, "llm_examples", filename)
    if len(examples) != 3:
        raise VocabularyError(f"Vocabulary {filename}: 'llm_examples' must hold exactly 3 synonyms.")
    try:
        check_template(document["clay_template"], what=f"Vocabulary {filename}: clay_template")
    except CondsimError as error:
        raise VocabularyError(str(error)) from error
    condition = Condition(
        name=normalize_name(document["name"]),
        values=tuple(values),
        description=" ".join(document["description"].split()),
        aliases=tuple(normalize_name(alias) for alias in _string_list(document, "aliases", filename)),
        clay_template=document["clay_template"],
        crl_criterion=" ".join(document["crl_criterion"].split()),
        crl_noun=" ".join(document["crl_noun"].split()),
        singular_values=frozenset(singular),
        source="builtin",
    )
    return BuiltinVocabulary(condition=condition, llm_examples=tuple(examples))


@cache
def _registry() -> tuple[dict[str, BuiltinVocabulary], dict[str, str]]:
    """Load every vocabulary once: canonical name -> vocabulary, and name-or-alias -> canonical name."""
    vocabularies: dict[str, BuiltinVocabulary] = {}
    lookup: dict[str, str] = {}
    folder = resources.files("condsim.conditions").joinpath("vocabularies")
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            document = json.loads(entry.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise VocabularyError(f"Vocabulary {entry.name} is not valid JSON: {error}") from error
        vocabulary = parse_vocabulary(document, entry.name)
        name = vocabulary.condition.name
        for key in (name, *vocabulary.condition.aliases):
            if key in lookup and lookup[key] != name:
                raise VocabularyError(
                    f"Vocabulary {entry.name}: name or alias {key!r} is also used by {lookup[key]!r}."
                )
            lookup[key] = name
        vocabularies[name] = vocabulary
    if not vocabularies:
        raise VocabularyError("No built-in vocabularies found; the condsim installation is incomplete.")
    return vocabularies, lookup


def list_conditions() -> list[str]:
    """The canonical names of all built-in conditions, sorted."""
    return sorted(_registry()[0])


def builtin_aliases() -> dict[str, str]:
    """Every accepted built-in name or alias (normalised) mapped to its canonical condition name."""
    return dict(_registry()[1])


def canonical_name(name: str) -> str | None:
    """The built-in canonical name for ``name`` or one of its aliases, or None if it is not built in."""
    return _registry()[1].get(normalize_name(name))


def builtin_vocabulary(name: str) -> BuiltinVocabulary:
    """The parsed vocabulary for a built-in name or alias; `UnknownConditionError` otherwise."""
    canonical = canonical_name(name)
    if canonical is None:
        raise unknown_condition_error(name)
    return _registry()[0][canonical]


def get_condition(name: str) -> Condition:
    """A built-in condition by name or alias ("colour", "Time_of_Day", "species", ...)."""
    return builtin_vocabulary(name).condition


def unknown_condition_error(name: str) -> UnknownConditionError:
    """The error for a name that is not built in: lists the built-ins and the two ways out."""
    close = difflib.get_close_matches(normalize_name(name), list(builtin_aliases()), n=1, cutoff=0.75)
    suggestion = f" Did you mean {canonical_name(close[0])!r}?" if close else ""
    return UnknownConditionError(
        f"Unknown condition {name!r}.{suggestion} Built-in conditions: {', '.join(list_conditions())}. "
        f"For any other condition, give its values with --prompts FILE or generate them with --llm.",
        hint=(
            "`condsim conditions` lists the built-ins with their aliases; --llm reads CONDSIM_LLM_BASE_URL, "
            "CONDSIM_LLM_MODEL and CONDSIM_LLM_API_KEY (or OPENAI_BASE_URL / OPENAI_API_KEY)."
        ),
    )
