"""Turn what the user typed (a name, maybe ``--prompts FILE`` or ``--llm``) into one `Condition`."""

from __future__ import annotations

from pathlib import Path

from condsim.conditions.builtin import get_condition
from condsim.conditions.condition import Condition
from condsim.conditions.llm import LLMPromptGenerator
from condsim.conditions.prompts_file import load_prompt_file
from condsim.errors import EmptyConditionError, InvalidInputError

MIN_CONDITION_VALUES = 3
"""Fewer values cannot separate images: the CLAY subspace of n prompts has n - 1 directions, and in
one direction every image projects to +1 or -1 after normalisation, so every score is 1.000."""


def resolve_condition(
    name: str,
    *,
    prompts_file: str | Path | None = None,
    use_llm: bool = False,
    llm: LLMPromptGenerator | None = None,
) -> Condition:
    """The condition called ``name``, from the first source that applies:

    1. ``prompts_file``: the user's own values (`load_prompt_file`), named ``name``;
    2. ``use_llm``: values generated with CRL's recipe through ``llm`` (default: an
       `LLMPromptGenerator` configured from the environment), cached on disk;
    3. otherwise the built-in vocabulary for ``name`` or one of its aliases.

    An unknown name without 1 or 2 raises `UnknownConditionError`, listing the built-in conditions;
    a prompts file with fewer than `MIN_CONDITION_VALUES` distinct values raises
    `EmptyConditionError` (built-in and generated vocabularies hold 60 or more).
    """
    if not name or not name.strip():
        raise InvalidInputError("The condition name is empty.", hint="Run `condsim conditions` to list them.")
    if prompts_file is not None and use_llm:
        raise InvalidInputError(
            f"Condition {name!r}: --prompts and --llm were both given.",
            hint="Use --prompts FILE for your own values or --llm to generate them, not both.",
        )
    if prompts_file is not None:
        return check_separable(load_prompt_file(prompts_file, name=name), str(prompts_file))
    if use_llm:
        generator = llm if llm is not None else LLMPromptGenerator()
        return generator.generate(name)
    return get_condition(name)


def check_separable(condition: Condition, origin: str) -> Condition:
    """`condition` if it has at least `MIN_CONDITION_VALUES` distinct values, else an
    `EmptyConditionError` naming `origin` (where the user's values came from: a prompts file, a
    query parameter). The one rule for every user-given list of values."""
    if len(condition) < MIN_CONDITION_VALUES:
        raise EmptyConditionError(
            f"the condition {condition.name!r} has only {len(condition)} distinct value(s) in "
            f"{origin}: fewer than {MIN_CONDITION_VALUES} cannot separate images (every "
            "image would score the same)",
            hint="list more values: CLAY uses up to 50 directions, so 50 or more work best",
        )
    return condition
