"""Rewordings of a condition: a value as a noun phrase, a difference sentence between two values, and
the condition without the values that name given words.

* `value_phrase` / `difference_sentence`: PC-CLIP's comparative prompting (docs/methods.md §4.2)
  needs a text d_ij saying how class i differs from class j. It is built from the condition's own
  CLAY wording, without its "a photo of" opener: "The first image shows a red object, while the
  second shows a blue object."
* `without_words`: the prompt ablation of `condsim bench` (docs/results): the vocabulary minus
  every value that contains one of `words` as a whole word or phrase (case-insensitive), e.g. the
  benchmark's class names and the words the built-in model was trained on, so that a reader can see
  how much of a text-side method's score comes from prompts that name the evaluated classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from condsim.conditions.condition import Condition
from condsim.errors import EmptyConditionError

_OPENERS = ("a photo of ", "a picture of ", "an image of ")
DIFFERENCE_TEMPLATE = "The first image shows {first}, while the second shows {second}."
"""The sentence d_ij of a pair of classes (i, j); {first} and {second} are `value_phrase`s."""


def value_phrase(condition: Condition, value: str) -> str:
    """`value` in the condition's CLAY wording without its opener: "a red object", "3 objects"."""
    prompt = condition.clay_prompt(value)
    for opener in _OPENERS:
        if prompt.casefold().startswith(opener):
            return prompt[len(opener) :]
    return prompt


def difference_sentence(condition: Condition, first: str, second: str) -> str:
    """The text saying that the first image has value `first` and the second `second` (d_ij)."""
    return DIFFERENCE_TEMPLATE.format(
        first=value_phrase(condition, first), second=value_phrase(condition, second)
    )


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    phrases = sorted({" ".join(word.split()).casefold() for word in words if word.strip()}, key=len)
    if not phrases:
        return None
    alternatives = "|".join(re.escape(phrase) for phrase in reversed(phrases))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def without_words(condition: Condition, words: Iterable[str]) -> Condition:
    """The condition without every value that contains one of `words` as a whole word or phrase.

    "gray" removes "gray" and "dark gray" but not "grayish"; "star" removes "star-patterned".
    Raises `EmptyConditionError` when no value is left.
    """
    pattern = _pattern(words)
    if pattern is None:
        return condition
    kept = tuple(value for value in condition.values if not pattern.search(value))
    if not kept:
        raise EmptyConditionError(
            f"every value of condition {condition.name!r} names one of the removed words",
            hint="remove fewer words, or give the condition more values",
        )
    return replace(condition, values=kept)
