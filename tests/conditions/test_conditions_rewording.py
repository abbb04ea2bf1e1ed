"""Rewordings: a value as a phrase, difference sentences, and a vocabulary without given words."""

from __future__ import annotations

import pytest

from condsim.conditions import Condition, get_condition
from condsim.conditions.rewording import difference_sentence, value_phrase, without_words
from condsim.errors import EmptyConditionError


def test_value_phrase_drops_the_photo_opener_and_keeps_the_wording() -> None:
    color, count = get_condition("color"), get_condition("count")
    assert value_phrase(color, "orange") == "an orange object"
    assert value_phrase(count, "3") == "3 objects"
    custom = Condition("mood", ("calm",), clay_template="{value} scenery")
    assert value_phrase(custom, "calm") == "calm scenery"


def test_difference_sentence_names_both_values() -> None:
    sentence = difference_sentence(get_condition("color"), "red", "blue")
    assert sentence == "The first image shows a red object, while the second shows a blue object."


def test_without_words_removes_whole_words_and_phrases_only() -> None:
    condition = Condition("color", ("gray", "dark gray", "grayish", "star-patterned", "cherry red", "teal"))
    kept = without_words(condition, ["Gray", "star", "cherry red"])
    assert kept.values == ("grayish", "teal")
    assert kept.name == condition.name and kept.clay_template == condition.clay_template
    assert without_words(condition, []) is condition
    with pytest.raises(EmptyConditionError, match="color"):
        without_words(condition, ["gray", "grayish", "star", "red", "teal"])
