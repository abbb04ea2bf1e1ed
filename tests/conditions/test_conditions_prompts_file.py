"""User prompt files (--prompts FILE): plain text and JSON formats, and every error path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condsim.conditions import load_prompt_file
from condsim.errors import EmptyConditionError, InvalidInputError, PromptFileError


def test_plain_text_with_comments_blank_lines_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "fur_pattern.txt"
    path.write_text(
        "# cat coats\n tabby \n\ncalico\n  # indented comment\nTabby\nsolid   black\n", encoding="utf-8"
    )
    condition = load_prompt_file(path)
    assert condition.name == "fur_pattern"
    assert condition.key == "fur pattern"
    assert condition.values == ("tabby", "calico", "solid black")
    assert condition.source == "file"
    assert condition.clay_prompts[0] == "a photo of tabby"
    assert condition.crl_prompts[0] == "objects with the fur pattern of tabby"


def test_name_argument_overrides_file_stem_and_json_name(tmp_path: Path) -> None:
    text_file = tmp_path / "values.txt"
    text_file.write_text("a\nb\n", encoding="utf-8")
    assert load_prompt_file(text_file, name="letters").name == "letters"
    json_file = tmp_path / "values.json"
    json_file.write_text(json.dumps({"name": "from json", "values": ["a"]}), encoding="utf-8")
    assert load_prompt_file(json_file).name == "from json"
    assert load_prompt_file(json_file, name="given").name == "given"


def test_json_list(tmp_path: Path) -> None:
    path = tmp_path / "colours.json"
    path.write_text(json.dumps(["crimson", "navy blue", "crimson"]), encoding="utf-8")
    condition = load_prompt_file(path)
    assert condition.values == ("crimson", "navy blue")
    assert condition.name == "colours"


def test_json_object_with_templates(tmp_path: Path) -> None:
    path = tmp_path / "cars.json"
    path.write_text(
        json.dumps(
            {
                "name": "car colour",
                "values": ["orange", "red"],
                "description": "Paint colours.",
                "clay_template": "a photo of {a} {value} car",
                "crl_criterion": "paint color",
                "crl_noun": "cars",
            }
        ),
        encoding="utf-8",
    )
    condition = load_prompt_file(path)
    assert condition.clay_prompts == ("a photo of an orange car", "a photo of a red car")
    assert condition.crl_prompts == (
        "cars with the paint color of orange",
        "cars with the paint color of red",
    )
    assert condition.description == "Paint colours."


def test_verbatim_prompts_with_identity_template(tmp_path: Path) -> None:
    path = tmp_path / "full.json"
    path.write_text(
        json.dumps({"values": ["a photo of a red car"], "clay_template": "{value}"}), encoding="utf-8"
    )
    assert load_prompt_file(path).clay_prompts == ("a photo of a red car",)


def test_text_file_holding_json_is_read_as_json(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text('["red", "blue"]\n', encoding="utf-8")
    assert load_prompt_file(path).values == ("red", "blue")


def test_text_line_starting_with_bracket_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_text("[draft] poster\nfinal poster\n", encoding="utf-8")
    assert load_prompt_file(path).values == ("[draft] poster", "final poster")


def test_utf8_bom_and_unicode(tmp_path: Path) -> None:
    path = tmp_path / "suits.txt"
    path.write_bytes("\ufeff♥\ncœurs\n".encode())
    assert load_prompt_file(path).values == ("♥", "cœurs")


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n", "   \n# x\n"])
def test_empty_text_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EmptyConditionError, match="no values"):
        load_prompt_file(path)


@pytest.mark.parametrize("content", ["[]", '{"values": []}', '["  ", ""]', ""])
def test_empty_json_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EmptyConditionError):
        load_prompt_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError, match="does not exist") as caught:
        load_prompt_file(tmp_path / "nope.txt")
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.hint


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError, match="not a file"):
        load_prompt_file(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("crème\n".encode("latin-1"))
    with pytest.raises(PromptFileError, match="not UTF-8"):
        load_prompt_file(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('["red", ', "not valid JSON"),
        ('{"name": "x"}', "no 'values'"),
        ('{"values": ["a"], "colour": 1}', "unknown keys"),
        ('{"values": "red"}', "JSON list"),
        ('["red", 3]', "must be a string"),
        ('{"values": ["a"], "clay_template": "a photo of {colour}"}', "placeholder"),
        ('{"values": ["a"], "crl_noun": ""}', "non-empty string"),
        ("42", "JSON list"),
    ],
)
def test_malformed_json(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=match):
        load_prompt_file(path)
