"""Conditions: a condition name -> its value phrases -> CLAY and CRL text prompts.

Three sources, one `Condition` type:

* built-in vocabularies (JSON data files, `list_conditions`, `get_condition`);
* user files (`load_prompt_file`, the ``--prompts FILE`` option);
* an OpenAI-compatible LLM with CRL's prompt recipe and an on-disk cache (`LLMPromptGenerator`,
  the ``--llm`` option).

`resolve_condition` picks the right one for what the user typed.
"""

from __future__ import annotations

from condsim.conditions.builtin import MIN_BUILTIN_VALUES, builtin_aliases, get_condition, list_conditions
from condsim.conditions.condition import Condition, ConditionSource, normalize_name
from condsim.conditions.llm import LLMConfig, LLMPromptGenerator, crl_llm_prompt, parse_expression_list
from condsim.conditions.prompts_file import load_prompt_file
from condsim.conditions.resolve import resolve_condition

__all__ = [
    "MIN_BUILTIN_VALUES",
    "Condition",
    "ConditionSource",
    "LLMConfig",
    "LLMPromptGenerator",
    "builtin_aliases",
    "crl_llm_prompt",
    "get_condition",
    "list_conditions",
    "load_prompt_file",
    "normalize_name",
    "parse_expression_list",
    "resolve_condition",
]
