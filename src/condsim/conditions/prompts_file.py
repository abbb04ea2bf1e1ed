"""User-written condition vocabularies (``--prompts FILE``).

Two formats are accepted:

**Plain text** (any extension but ``.json``), UTF-8, one value phrase per line::

    # colours of our product photos     <- a line starting with '#' is a comment
    crimson
    navy blue

    forest green                         <- blank lines are ignored

**JSON** (``.json``, or a text file whose content is a JSON list or object):

* a list of strings: ``["crimson", "navy blue", "forest green"]``
* an object with ``"values"`` and optional settings::

      {"name": "colour", "values": ["crimson", "navy blue"],
       "description": "...", "clay_template": "a photo of {a} {value} car",
       "crl_criterion": "color", "crl_noun": "cars"}

Each line or entry is a *value*; prompts are built from it with the condition's templates, by
default "a photo of {value}" for CLAY (methods.md §1.2) and "objects with the {name} of {value}" for
CRL (§2.2). To use complete prompts as written, set ``"clay_template": "{value}"`` in the JSON form.

Whitespace is collapsed and case-insensitive duplicates are dropped (first kept). A file with no
values raises `EmptyConditionError`. CLAY's default rank k = 50 needs at least 50 values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from condsim.conditions.condition import (
    DEFAULT_CLAY_TEMPLATE,
    DEFAULT_CRL_NOUN,
    Condition,
    check_template,
    clean_values,
    normalize_name,
)
from condsim.errors import CondsimError, PromptFileError

_JSON_KEYS = frozenset({"name", "values", "description", "clay_template", "crl_criterion", "crl_noun"})
_FORMAT_HINT = (
    "Write one value per line ('#' starts a comment line), or JSON: a list of strings or "
    '{"name": "...", "values": ["...", ...]}.'
)


def _read_text(path: Path) -> str:
    if not path.exists():
        raise PromptFileError(
            f"Prompt file {str(path)!r} does not exist.", hint="Check the path given to --prompts."
        )
    if not path.is_file():
        raise PromptFileError(f"Prompt file {str(path)!r} is not a file.", hint="Give a text or JSON file.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise PromptFileError(
            f"Prompt file {str(path)!r} is not UTF-8 text ({error.reason} at byte {error.start}).",
            hint="Save the file as UTF-8.",
        ) from error
    except OSError as error:
        raise PromptFileError(f"Prompt file {str(path)!r} cannot be read: {error.strerror}.") from error


def _parse_text(text: str) -> list[str]:
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def _text_setting(document: dict[str, Any], key: str, where: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PromptFileError(f"{where}: {key!r} must be a non-empty string.", hint=_FORMAT_HINT)
    return " ".join(value.split())


def load_prompt_file(path: str | Path, name: str | None = None) -> Condition:
    """Load a user vocabulary (formats in the module docstring) as a `Condition` with source "file".

    ``name`` overrides the JSON ``"name"``; without either, the file name without extension is used.
    Raises `PromptFileError` for a missing, unreadable or malformed file and `EmptyConditionError`
    when it holds no values.
    """
    path = Path(path).expanduser()
    where = f"Prompt file {str(path)!r}"
    text = _read_text(path)
    stripped = text.lstrip()
    document: Any
    if path.suffix.casefold() == ".json" or stripped.startswith(("[", "{")):
        try:
            document = json.loads(text) if stripped else []
        except json.JSONDecodeError as error:
            if path.suffix.casefold() == ".json":
                raise PromptFileError(
                    f"{where} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).",
                    hint=_FORMAT_HINT,
                ) from error
            document = _parse_text(text)  # a plain-text value that happens to start with '[' or '{'
    else:
        document = _parse_text(text)

    settings: dict[str, Any] = {}
    if isinstance(document, dict):
        unknown = sorted(set(document) - _JSON_KEYS)
        if unknown or "values" not in document:
            problem = f"unknown keys {unknown}" if unknown else "no 'values' list"
            raise PromptFileError(f"{where}: JSON object has {problem}.", hint=_FORMAT_HINT)
        settings = document
        values = document["values"]
    else:
        values = document
    if not isinstance(values, list):
        raise PromptFileError(f"{where}: the values must be a JSON list of strings.", hint=_FORMAT_HINT)
    if not all(isinstance(value, str) for value in values):
        raise PromptFileError(f"{where}: every value must be a string.", hint=_FORMAT_HINT)

    condition_name = name or _text_setting(settings, "name", where) or path.stem
    if not normalize_name(condition_name):
        raise PromptFileError(f"{where}: the condition name is empty.", hint="Pass a name explicitly.")
    clay_template = _text_setting(settings, "clay_template", where) or DEFAULT_CLAY_TEMPLATE
    try:
        check_template(clay_template, what=f"{where}: clay_template")
    except CondsimError as error:
        raise PromptFileError(str(error), hint=error.hint) from error
    return Condition(
        name=condition_name.strip(),
        values=clean_values(values, where=where),
        description=_text_setting(settings, "description", where) or f"Values from {path.name}.",
        clay_template=clay_template,
        crl_criterion=_text_setting(settings, "crl_criterion", where) or normalize_name(condition_name),
        crl_noun=_text_setting(settings, "crl_noun", where) or DEFAULT_CRL_NOUN,
        source="file",
    )
