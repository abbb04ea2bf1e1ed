"""Built-in vocabularies: validity of every data file, lookups, aliases, prompt forms, unknown names."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from condsim.conditions import (
    MIN_BUILTIN_VALUES,
    Condition,
    builtin_aliases,
    get_condition,
    list_conditions,
    normalize_name,
)
from condsim.conditions.builtin import VocabularyError, builtin_vocabulary, parse_vocabulary
from condsim.conditions.condition import indefinite_article
from condsim.errors import CondsimError, EmptyConditionError, InvalidInputError, UnknownConditionError

REQUIRED = [
    "color", "shape", "texture", "material", "count", "size", "category", "species", "action", "pose", "age",
    "emotion", "mood", "location", "scene", "background", "season", "weather", "time of day", "lighting",
    "viewpoint", "clothing", "art style", "style", "card rank", "number", "suit",
]  # fmt: skip

# Class names of the synthetic benchmarks (methods.md §5.1 Clevr-4, §2.4 cards) that must be values.
BENCHMARK_CLASSES = {
    "color": ["gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow", "pink", "orange"],
    "shape": ["cube", "sphere", "monkey", "cone", "torus", "star", "teapot", "diamond", "gear", "cylinder"],
    "texture": [
        "rubber",
        "metal",
        "checkered",
        "emojis",
        "wave",
        "brick",
        "star",
        "circles",
        "zigzag",
        "chessboard",
    ],
    "count": [str(n) for n in range(1, 11)]
    + ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    "card rank": [
        "ace",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "jack",
        "queen",
        "king",
    ],
    "suit": ["clubs", "diamonds", "hearts", "spades"],
}


def _vocabulary_files() -> list[str]:
    folder = resources.files("condsim.conditions").joinpath("vocabularies")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))


def test_at_least_twenty_two_builtins_and_every_required_name_resolves() -> None:
    assert len(list_conditions()) >= 22
    assert list_conditions() == sorted(list_conditions())
    for name in REQUIRED:
        assert get_condition(name).source == "builtin"


@pytest.mark.parametrize("filename", _vocabulary_files())
def test_vocabulary_file_is_valid(filename: str) -> None:
    text = (
        resources.files("condsim.conditions").joinpath("vocabularies", filename).read_text(encoding="utf-8")
    )
    document = json.loads(text)
    condition = parse_vocabulary(document, filename).condition  # strict: raises on any problem
    assert filename == condition.name.replace(" ", "_") + ".json"
    values = document["values"]
    assert len(values) >= MIN_BUILTIN_VALUES
    assert len({value.casefold() for value in values}) == len(values), "duplicate values"
    assert all(value == " ".join(value.split()) and value for value in values)
    assert len(condition.clay_prompts) == len(condition.crl_prompts) == len(values)
    assert len(set(condition.clay_prompts)) == len(values)
    assert all("{" not in prompt and "}" not in prompt for prompt in condition.clay_prompts)
    assert condition.description


@pytest.mark.parametrize("name", sorted(BENCHMARK_CLASSES))
def test_vocabularies_cover_benchmark_class_names(name: str) -> None:
    values = {value.casefold() for value in get_condition(name).values}
    missing = [label for label in BENCHMARK_CLASSES[name] if label.casefold() not in values]
    assert not missing


def test_names_are_case_space_and_alias_insensitive() -> None:
    assert get_condition("Colour") is get_condition("color")
    assert get_condition(" COLORS ") is get_condition("color")
    assert get_condition("Time_of-Day").name == "time of day"
    assert get_condition("species").name == "category"
    assert get_condition("scene").name == "location"
    assert get_condition("style").name == "art style"
    assert get_condition("mood").name == "emotion"
    assert get_condition("number").name == "count"  # "how many"; a card's number is its "card rank"
    assert get_condition("card number").name == "card rank"
    aliases = builtin_aliases()
    assert aliases["colour"] == "color"
    assert set(aliases.values()) == set(list_conditions())
    assert normalize_name("  Art__Style ") == "art style"


def test_aliases_are_unique_across_conditions() -> None:
    seen: dict[str, str] = {}
    for name in list_conditions():
        for key in (name, *get_condition(name).aliases):
            assert seen.setdefault(key, name) == name, f"{key!r} used by {seen[key]!r} and {name!r}"


def test_clay_and_crl_prompt_forms() -> None:
    color = get_condition("color")
    assert "a photo of a crimson object" in color.clay_prompts
    assert "a photo of an orange object" in color.clay_prompts
    assert "objects with the color of crimson" in color.crl_prompts
    assert get_condition("action").clay_prompt("riding a horse") == "a photo of a person riding a horse"
    count = get_condition("count")
    assert "a photo of one object" in count.clay_prompts
    assert "a photo of a single object" in count.clay_prompts
    assert "a photo of two objects" in count.clay_prompts
    assert "a photo of a dozen objects" in count.clay_prompts
    assert "objects with the count of a pair of" in count.crl_prompts
    assert get_condition("card rank").crl_prompts[0] == "a poker card with the number of ace"
    assert "a poker card with the card suits of hearts" in get_condition("suit").crl_prompts
    fashion = color.with_domain("a fashion")
    assert fashion.crl_prompts[0] == "a fashion with the color of gray"
    assert fashion.clay_prompts == color.clay_prompts
    with pytest.raises(InvalidInputError):
        color.with_domain("  ")


def test_llm_examples_are_three_distinct_phrases() -> None:
    for name in list_conditions():
        examples = builtin_vocabulary(name).llm_examples
        assert len(set(examples)) == 3


def test_unknown_condition_lists_builtins_and_hints_at_prompts_and_llm() -> None:
    with pytest.raises(UnknownConditionError) as caught:
        get_condition("fur pattern")
    message = str(caught.value)
    assert "'fur pattern'" in message
    for name in list_conditions():
        assert name in message
    assert "--prompts FILE" in message and "--llm" in message
    assert caught.value.hint and "CONDSIM_LLM_BASE_URL" in caught.value.hint
    assert isinstance(caught.value, CondsimError)


def test_unknown_condition_suggests_close_name() -> None:
    with pytest.raises(UnknownConditionError, match="Did you mean 'color'"):
        get_condition("colr")


@pytest.mark.parametrize(
    ("phrase", "article"),
    [
        ("orange", "an"), ("red", "a"), ("one-spot", "a"), ("unicorn", "a"), ("umbrella", "an"),
        ("hour", "an"), ("8", "an"), ("7", "a"), ("11", "an"), ("18", "an"), ("80", "an"), ("1", "a"),
        ("A", "an"), ("J", "a"), ("European", "a"), ("honest man", "an"), ("", "a"),
    ],
)  # fmt: skip
def test_indefinite_article(phrase: str, article: str) -> None:
    assert indefinite_article(phrase) == article


def _document(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "name": "demo",
        "aliases": [],
        "description": "A demo.",
        "clay_template": "a photo of {value}",
        "crl_criterion": "demo",
        "crl_noun": "objects",
        "llm_examples": ["a", "b", "c"],
        "values": [f"value {index}" for index in range(MIN_BUILTIN_VALUES)],
    }
    document.update(overrides)
    return document


def test_parse_vocabulary_accepts_minimal_document() -> None:
    condition = parse_vocabulary(_document(), "demo.json").condition
    assert isinstance(condition, Condition)
    assert len(condition) == MIN_BUILTIN_VALUES


@pytest.mark.parametrize(
    "overrides",
    [
        {"values": [f"value {index}" for index in range(MIN_BUILTIN_VALUES - 1)]},
        {"values": ["Red", "red", *[f"value {index}" for index in range(MIN_BUILTIN_VALUES)]]},
        {"clay_template": "a photo of {colour}"},
        {"clay_template": "a photo"},
        {"llm_examples": ["a", "b"]},
        {"singular_values": ["not a value"]},
        {"extra": 1},
        {"values": "red"},
    ],
)
def test_parse_vocabulary_rejects_bad_documents(overrides: dict[str, object]) -> None:
    with pytest.raises(VocabularyError):
        parse_vocabulary(_document(**overrides), "demo.json")


def test_condition_validates_itself() -> None:
    with pytest.raises(EmptyConditionError):
        Condition(name="empty", values=())
    with pytest.raises(InvalidInputError):
        Condition(name="  ", values=("red",))
    with pytest.raises(InvalidInputError):
        Condition(name="bad", values=("red",), clay_template="a photo of {colour}")
    condition = Condition(name="Fur Pattern", values=("tabby", "calico"))
    assert condition.key == "fur pattern"
    assert condition.clay_prompts == ("a photo of tabby", "a photo of calico")
    assert condition.crl_prompts == (
        "objects with the Fur Pattern of tabby",
        "objects with the Fur Pattern of calico",
    )
