"""Values for any free-text condition from an OpenAI-compatible chat endpoint (``--llm``).

The recipe is CRL's (methods.md §2.2, LLM prompt P1, full form with a fixed count): ask for
"100 expressions to describe the {criterion}" as a one-line JSON list at temperature 1, and repeat
the same query until enough distinct expressions are collected (or a round limit is reached). The
expressions become the condition's values; the CLAY and CRL prompts are built from them as for any
other condition (§1.2, §2.2 P2).

Configuration comes from the environment:

==========================  ==========================================================================
``CONDSIM_LLM_BASE_URL``    API base, e.g. ``http://localhost:8000/v1`` (fallback ``OPENAI_BASE_URL``;
                            with neither set but an API key present: ``https://api.openai.com/v1``)
``CONDSIM_LLM_MODEL``       model name (fallback ``OPENAI_MODEL``; ``gpt-4o``, CRL's LLM, on OpenAI)
``CONDSIM_LLM_API_KEY``     bearer token, optional for local servers (fallback ``OPENAI_API_KEY``)
``CONDSIM_LLM_TIMEOUT``     seconds per request (default 60)
``CONDSIM_CACHE_DIR``       condsim's cache root; prompts live in ``$CONDSIM_CACHE_DIR/prompts``
                            (default ``~/.cache/condsim/prompts``)
==========================  ==========================================================================

Successful generations are cached on disk, one JSON file per (condition, model, recipe version),
written atomically. A failed generation (timeout, HTTP error, unparsable answer, too few distinct
expressions) raises `PromptGenerationError` and leaves the cache untouched.

Credentials never leave the process: a password in the base URL, the API key, and a server answer
that echoes either are redacted (`condsim._text.redact`) in every error message, and the cache
records the base URL with its password masked.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from condsim._files import atomic_write_text, cache_root
from condsim._text import API_KEY_VARIABLES, redact, redact_url
from condsim.conditions.builtin import builtin_vocabulary, canonical_name
from condsim.conditions.condition import Condition, normalize_name
from condsim.errors import PromptGenerationError

logger = logging.getLogger(__name__)

RECIPE_VERSION = 1
"""Bump when the LLM prompt or the parsing changes, so cached lists from the old recipe are not reused."""

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MIN_PROMPTS = 60
DEFAULT_TARGET_PROMPTS = 100
DEFAULT_MAX_ROUNDS = 6
EXPRESSIONS_PER_QUERY = 100
MAX_EXPRESSION_CHARS = 100
"""Longer items are dropped: a value phrase, not a paragraph (CLIP's text context is 77 tokens)."""

_ENV_HINT = (
    "Set CONDSIM_LLM_BASE_URL (e.g. http://localhost:8000/v1), CONDSIM_LLM_MODEL and, if the server "
    "needs one, CONDSIM_LLM_API_KEY; or give the values yourself with --prompts FILE."
)


def crl_llm_prompt(criterion: str, examples: Sequence[str] = (), count: int = EXPRESSIONS_PER_QUERY) -> str:
    """CRL's LLM prompt P1 (methods.md §2.2), full form, with "as many as possible" replaced by a count.

    ``examples`` are the three synonyms CRL changes per criterion ("red", "crimson", "scarlet" for
    colour); without them the sentence keeps its first half only.
    """
    if examples:
        quoted = [f'"{example}"' for example in examples]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])}, or {quoted[-1]}"
        variety = f"You may describe the same {criterion} in different ways, such as {listed}. "
    else:
        variety = f"You may describe the same {criterion} in different ways. "
    return (
        f"Please generate {count} expressions to describe the {criterion}, "
        'formatted as: ["...", "...", "..."]. '
        "Ensure all items are unique and written in a single line, without any nested lists or "
        f"additional formatting. {variety}"
        "Only generate the list, and do not include any additional information."
    )


def _clean_expression(item: object) -> str | None:
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        return None
    text = " ".join(str(item).split()).strip("\"'`“”‘’ ").rstrip(".,;:").strip()
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        return None
    return text


def _flatten(items: list[Any]) -> list[str]:
    expressions: list[str] = []
    for item in items:
        for member in item if isinstance(item, list) else [item]:
            cleaned = _clean_expression(member)
            if cleaned is not None:
                expressions.append(cleaned)
    return expressions


def parse_expression_list(answer: str) -> list[str]:
    """Extract the list of expressions from a chat answer, tolerating what chat models add.

    Accepts a bare JSON list, a list inside a Markdown code fence, text before or after the list,
    and Python-style single-quoted lists. Nested lists are flattened one level; numbers become
    strings; empty and over-long items are dropped. Raises `PromptGenerationError` if no list with
    at least one usable item is found.
    """
    fenced = re.findall(r"```[^\n`]*\n?(.*?)```", answer, flags=re.DOTALL)
    candidates = [*fenced, answer]
    decoder = json.JSONDecoder()
    for text in candidates:
        for match in re.finditer(r"\[", text):
            start = match.start()
            parsed: object
            try:
                parsed, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                end = text.rfind("]")
                if end <= start:
                    continue
                try:
                    parsed = ast.literal_eval(text[start : end + 1])
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue
            if isinstance(parsed, list | tuple):
                expressions = _flatten(list(parsed))
                if expressions:
                    return expressions
    snippet = " ".join(answer.split())[:120]
    raise PromptGenerationError(
        f"The LLM answer is not a JSON list of expressions (it starts with: {snippet!r}).",
        hint="Use a chat model that follows instructions, or give the values yourself with --prompts FILE.",
    )


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to call the chat endpoint. `from_env` reads the variables in the module docstring."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    temperature: float = 1.0

    def __repr__(self) -> str:
        return (
            f"LLMConfig(base_url={self.safe_base_url!r}, model={self.model!r}, "
            f"timeout_s={self.timeout_s!r}, temperature={self.temperature!r})"
        )

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise PromptGenerationError(
                f"LLM base URL {self.safe_base_url!r} is not an http(s) URL.", hint=_ENV_HINT
            )
        if not self.model.strip():
            raise PromptGenerationError("The LLM model name is empty.", hint=_ENV_HINT)
        if not self.timeout_s > 0:
            raise PromptGenerationError(f"The LLM timeout must be positive, got {self.timeout_s}.")

    @property
    def endpoint(self) -> str:
        """The chat-completions URL: ``{base_url}/chat/completions``."""
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def safe_base_url(self) -> str:
        """The base URL as it may be shown or stored: a ``user:password@`` password is ``***``."""
        return redact_url(self.base_url)

    @property
    def secrets(self) -> list[str]:
        """What must never be shown: the API key and the base URL's password (where set)."""
        try:
            password = urllib.parse.urlsplit(self.base_url).password
        except ValueError:
            password = None
        return [secret for secret in (self.api_key, password) if secret]

    def redact(self, text: str) -> str:
        """`text` (an error, a server answer) with this configuration's credentials masked."""
        return redact(text, self.secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMConfig:
        """Read the configuration from environment variables; `PromptGenerationError` if incomplete."""
        env = os.environ if environ is None else environ

        def first(*names: str) -> str | None:
            for name in names:
                value = env.get(name, "").strip()
                if value:
                    return value
            return None

        api_key = first(*API_KEY_VARIABLES)
        base_url = first("CONDSIM_LLM_BASE_URL", "OPENAI_BASE_URL") or (OPENAI_BASE_URL if api_key else None)
        if base_url is None:
            raise PromptGenerationError(
                "--llm needs an LLM endpoint, and none is configured.", hint=_ENV_HINT
            )
        model = first("CONDSIM_LLM_MODEL", "OPENAI_MODEL")
        if model is None:
            if base_url.rstrip("/") != OPENAI_BASE_URL:
                raise PromptGenerationError(
                    f"--llm needs a model name for {redact_url(base_url)}, and CONDSIM_LLM_MODEL is not set.",
                    hint=_ENV_HINT,
                )
            model = OPENAI_DEFAULT_MODEL
        timeout_text = first("CONDSIM_LLM_TIMEOUT")
        try:
            timeout_s = float(timeout_text) if timeout_text else DEFAULT_TIMEOUT_S
        except ValueError as error:
            raise PromptGenerationError(
                f"CONDSIM_LLM_TIMEOUT={timeout_text!r} is not a number of seconds.", hint="E.g. 60."
            ) from error
        return cls(base_url=base_url, model=model, api_key=api_key, timeout_s=timeout_s)


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``prompts/`` under condsim's cache root (`condsim._files.cache_root`)."""
    return cache_root(environ) / "prompts"


class LLMPromptGenerator:
    """Generates (and caches) the values of a condition with CRL's LLM recipe.

    Parameters
    ----------
    config:
        Endpoint, model and key; default `LLMConfig.from_env()`.
    cache_dir:
        Where generated lists are kept; default `default_cache_dir()`.
    min_prompts:
        Fewer distinct expressions than this after ``max_rounds`` queries is an error (60 leaves
        a margin over CLAY's k = 50).
    target_prompts:
        Stop querying once this many distinct expressions are collected (methods.md §7: n >= 100).
    max_rounds:
        Upper bound on the number of chat requests per condition.
    """

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        min_prompts: int = DEFAULT_MIN_PROMPTS,
        target_prompts: int = DEFAULT_TARGET_PROMPTS,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
    ) -> None:
        if min_prompts < 1 or target_prompts < min_prompts or max_rounds < 1:
            raise PromptGenerationError(
                f"Need 1 <= min_prompts <= target_prompts and max_rounds >= 1; got {min_prompts=}, "
                f"{target_prompts=}, {max_rounds=}."
            )
        self.config = config if config is not None else LLMConfig.from_env()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.min_prompts = min_prompts
        self.target_prompts = target_prompts
        self.max_rounds = max_rounds

    # ----------------------------------------------------------------------------------------- cache
    def cache_path(self, condition: str) -> Path:
        """The cache file for (condition, model, recipe version)."""
        key = normalize_name(condition)
        digest = hashlib.sha256(json.dumps([key, self.config.model, RECIPE_VERSION]).encode()).hexdigest()
        slug = re.sub(r"[^a-z0-9]+", "-", key).strip("-")[:40] or "condition"
        return self.cache_dir / f"{slug}-{digest[:16]}.json"

    def _read_cache(self, condition: str) -> tuple[str, ...] | None:
        path = self.cache_path(condition)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            logger.warning("Ignoring unreadable prompt cache %s (%s); regenerating.", path, error)
            return None
        values = document.get("values") if isinstance(document, dict) else None
        if (
            not isinstance(values, list)
            or not all(isinstance(value, str) and value for value in values)
            or document.get("condition") != normalize_name(condition)
            or document.get("model") != self.config.model
            or document.get("recipe_version") != RECIPE_VERSION
            or len(values) < self.min_prompts
        ):
            logger.warning("Ignoring stale or mismatched prompt cache %s; regenerating.", path)
            return None
        return tuple(values)

    def _write_cache(self, condition: str, values: Sequence[str], rounds: int) -> None:
        path = self.cache_path(condition)
        document = {
            "condition": normalize_name(condition),
            "model": self.config.model,
            "recipe_version": RECIPE_VERSION,
            "base_url": self.config.safe_base_url,
            "rounds": rounds,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "values": list(values),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    # ------------------------------------------------------------------------------------------ HTTP
    def _ask(self, client: httpx.Client, prompt: str) -> str:
        """One chat-completions request; returns the assistant's text."""
        endpoint = redact_url(self.config.endpoint)  # as shown in messages; the request uses the real one
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        body = {
            "model": self.config.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.config.temperature,
        }
        try:
            response = client.post(self.config.endpoint, json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise PromptGenerationError(
                f"The LLM endpoint {endpoint} did not answer within {self.config.timeout_s:g} s.",
                hint="Check that the server is up, or raise CONDSIM_LLM_TIMEOUT.",
            ) from error
        except httpx.HTTPError as error:
            raise PromptGenerationError(
                f"Could not reach the LLM endpoint {endpoint}: {self.config.redact(str(error))}.",
                hint=_ENV_HINT,
            ) from error
        if response.status_code >= 400:
            detail = self.config.redact(" ".join(response.text.split()))[:200]
            hint = {
                401: "Check CONDSIM_LLM_API_KEY.",
                403: "Check CONDSIM_LLM_API_KEY and the model's access rights.",
                404: "Check CONDSIM_LLM_BASE_URL (without /chat/completions) and CONDSIM_LLM_MODEL.",
                429: "The server is rate-limiting; wait and retry.",
            }.get(response.status_code, "Retry later, or give the values yourself with --prompts FILE.")
            raise PromptGenerationError(
                f"The LLM endpoint {endpoint} answered HTTP {response.status_code}: {detail or '(no body)'}",
                hint=hint,
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise PromptGenerationError(
                f"The LLM endpoint {endpoint} did not return an OpenAI-style chat completion "
                f"(expected choices[0].message.content).",
                hint="Point CONDSIM_LLM_BASE_URL at an OpenAI-compatible /v1 API.",
            ) from error
        if not isinstance(content, str):
            raise PromptGenerationError(f"The LLM endpoint {endpoint} returned no text content.")
        return content

    # ------------------------------------------------------------------------------------ generation
    def generate_values(
        self, condition: str, *, examples: Sequence[str] = (), refresh: bool = False
    ) -> tuple[str, ...]:
        """The distinct expressions for ``condition``: from the cache, else from the LLM (then cached).

        ``refresh=True`` ignores an existing cache entry (and replaces it on success).
        """
        criterion = " ".join(condition.split())
        if not criterion:
            raise PromptGenerationError("Cannot generate values for an empty condition name.")
        if not refresh:
            cached = self._read_cache(criterion)
            if cached is not None:
                logger.debug("Prompt cache hit for %r (%s).", criterion, self.config.model)
                return cached

        prompt = crl_llm_prompt(criterion, examples)
        collected: list[str] = []
        seen: set[str] = set()
        rounds = 0
        barren_rounds = 0
        with httpx.Client(timeout=self.config.timeout_s) as client:
            while rounds < self.max_rounds and len(collected) < self.target_prompts:
                rounds += 1
                before = len(collected)
                for expression in parse_expression_list(self._ask(client, prompt)):
                    key = expression.casefold()
                    if key not in seen:
                        seen.add(key)
                        collected.append(expression)
                logger.debug("LLM round %d for %r: %d distinct so far.", rounds, criterion, len(collected))
                barren_rounds = barren_rounds + 1 if len(collected) == before else 0
                if barren_rounds >= 2:
                    break
        if len(collected) < self.min_prompts:
            raise PromptGenerationError(
                f"The LLM gave only {len(collected)} distinct expressions for {criterion!r} after {rounds} "
                f"request(s); at least {self.min_prompts} are needed.",
                hint="Try another model, or give the values yourself with --prompts FILE.",
            )
        self._write_cache(criterion, collected, rounds)
        return tuple(collected)

    def generate(self, name: str, *, refresh: bool = False) -> Condition:
        """A `Condition` (source "llm") for any free-text condition name.

        For a built-in name or alias the LLM prompt uses the vocabulary's three example synonyms, and
        the condition keeps the built-in's prompt templates and aliases; only the values are new.
        """
        builtin = canonical_name(name)
        if builtin is not None:
            vocabulary = builtin_vocabulary(builtin)
            values = self.generate_values(builtin, examples=vocabulary.llm_examples, refresh=refresh)
            base = vocabulary.condition
            return Condition(
                name=base.name,
                values=values,
                description=f"{base.description} Values generated by {self.config.model}.",
                aliases=base.aliases,
                clay_template=base.clay_template,
                crl_criterion=base.crl_criterion,
                crl_noun=base.crl_noun,
                singular_values=base.singular_values & frozenset(values),
                source="llm",
            )
        criterion = " ".join(name.split())
        values = self.generate_values(criterion, refresh=refresh)
        return Condition(
            name=criterion,
            values=values,
            description=f"Values of {criterion!r} generated by {self.config.model} (CRL recipe).",
            source="llm",
        )
