"""The prompts of `condsim bench`, and the two variants that show how much the prompts carry.

Every labelled condition is prompted three ways (`PROMPT_VARIANTS`):

* ``built-in``: the condition's built-in vocabulary (`condsim.conditions.get_condition`), CLAY's
  wording for CLAY and the text baselines, CRL's "{noun} with the {criterion} of {value}" for CRL.
  These vocabularies were written for condsim and name every class of the rendered benchmarks.
* ``crl-lists``: CRL's published LLM-generated word lists (the Clevr-4 and Cards lists of CRL's
  code, shipped in ``condsim/assets/crl``; text = CRL's prefix + word for CRL, the condition's CLAY
  wording of each word for the others). Conditions CRL published no list for are left out.
* ``no-class-names``: the built-in vocabulary minus every value that names one of the suite's class
  names (of any of its conditions) or the words the built-in model's training captions use for them
  (`condsim.conditions.rewording.without_words`).

Each variant also carries the class-name prompts of the zero-shot reference (the condition's CLAY
wording of each class name), which are the same in every variant by construction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from condsim.conditions import Condition
from condsim.conditions.rewording import without_words
from condsim.encoders.base import Encoder
from condsim.errors import EmptyConditionError, InvalidInputError
from condsim.eval.scorers import LabelledCondition

PROMPT_VARIANTS: tuple[str, ...] = ("built-in", "crl-lists", "no-class-names")


def packaged_crl_texts() -> Path:
    """CRL's published Clevr-4 / Cards text lists, as shipped with condsim."""
    return Path(str(resources.files("condsim") / "assets" / "crl" / "crl_default_texts_clevr4_cards.json"))


def load_crl_texts(path: str | Path) -> dict[str, Any]:
    """Read a CRL text-list JSON: {"vlm_prompt_prefix": {dataset: {criterion: prefix}},
    "texts": {dataset: {criterion: [word, ...]}}} (the layout of CRL's published lists)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"{path}: not a readable JSON file ({error})") from error
    if not isinstance(document, dict) or "texts" not in document or "vlm_prompt_prefix" not in document:
        raise InvalidInputError(
            f"{path}: expected keys 'texts' and 'vlm_prompt_prefix'",
            hint="use CRL's published list (crl_default_texts_clevr4_cards.json)",
        )
    return document


def crl_list(document: Mapping[str, Any], dataset: str, criterion: str) -> tuple[str, list[str]]:
    """(prefix, words) of one (dataset, criterion) entry of a CRL text-list document."""
    try:
        prefix = document["vlm_prompt_prefix"][dataset][criterion]
        words = document["texts"][dataset][criterion]
    except (KeyError, TypeError) as error:
        raise InvalidInputError(f"CRL texts have no list for {dataset}/{criterion}") from error
    if (
        not isinstance(prefix, str)
        or not isinstance(words, list)
        or not all(isinstance(w, str) for w in words)
    ):
        raise InvalidInputError(f"CRL texts {dataset}/{criterion}: expected a prefix and a list of words")
    return prefix, words


def embed_condition(
    name: str,
    encoder: Encoder,
    clay_prompts: Sequence[str],
    crl_prompts: Sequence[str],
    class_prompts: Sequence[str],
) -> LabelledCondition:
    """One condition's embedded CLAY, CRL and class-name prompts."""
    return LabelledCondition(
        name,
        encoder.encode_texts(list(clay_prompts)),
        encoder.encode_texts(list(crl_prompts)),
        classes=encoder.encode_texts(list(class_prompts)),
    )


def class_prompts(vocabulary: Condition, class_names: Iterable[str]) -> list[str]:
    """The zero-shot reference's prompt of each class: the condition's CLAY wording of its name."""
    return [vocabulary.clay_prompt(name) for name in class_names]


def builtin_texts(
    name: str,
    vocabulary: Condition,
    class_names: Sequence[str],
    encoder: Encoder,
    crl_override: tuple[str, Sequence[str], str] | None = None,
) -> tuple[LabelledCondition, str]:
    """The ``built-in`` variant, and a sentence saying where the CRL prompts came from; with
    `crl_override` = (prefix, words, list name), a CRL list replaces CRL's prompts."""
    crl_prompts = list(vocabulary.crl_prompts)
    source = f"built-in vocabulary {vocabulary.key!r} ({len(vocabulary)} values)"
    if crl_override is not None:
        prefix, words, list_name = crl_override
        crl_prompts = [prefix + word for word in words]
        source = f"CRL list {list_name} ({len(words)} texts)"
    texts = embed_condition(
        name, encoder, vocabulary.clay_prompts, crl_prompts, class_prompts(vocabulary, class_names)
    )
    return texts, source


def crl_list_texts(
    name: str,
    vocabulary: Condition,
    class_names: Sequence[str],
    encoder: Encoder,
    prefix: str,
    words: Sequence[str],
) -> LabelledCondition:
    """The ``crl-lists`` variant: CRL's words in every method (CLAY wording for all but CRL)."""
    return embed_condition(
        name,
        encoder,
        [vocabulary.clay_prompt(word) for word in words],
        [prefix + word for word in words],
        class_prompts(vocabulary, class_names),
    )


def stripped_texts(
    name: str, vocabulary: Condition, class_names: Sequence[str], encoder: Encoder, banned: Iterable[str]
) -> tuple[LabelledCondition | None, int]:
    """The ``no-class-names`` variant: the vocabulary without the values naming one of `class_names`
    (the condition's classes) or `banned`, and its number of values (None, 0 when none is left)."""
    try:
        stripped = without_words(vocabulary, [*class_names, *banned])
    except EmptyConditionError:
        return None, 0
    texts = embed_condition(
        name, encoder, stripped.clay_prompts, stripped.crl_prompts, class_prompts(vocabulary, class_names)
    )
    return texts, len(stripped)
