"""Difference sentences written by an LLM from two captions, filtered as PC-CLIP filters them.

PC-CLIP (methods.md §4.1) asks LLaMA2-13B-chat for the differences between two images' captions
and keeps a generation only if it passes the rules of its ``data/filter_comparatives.py``
(`filter_difference`). Labelled images have no captions, so each image is described by its labels
("an image whose color is red, shape is cube and count is 3"). The endpoint, model and key are the
ones ``--llm`` uses for conditions (`condsim.conditions.LLMConfig`, from the environment); answers
are cached on disk per (model, prompt) under ``<cache root>/pcclip_differences``, so a rerun (or a
resumed run) asks nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from condsim._files import atomic_write_text, cache_root
from condsim.training.pcclip.pairs import DifferencePairs, FinetuneImages, PairDataError, usable_conditions

#: PC-CLIP drops generations shorter than this (filter_comparatives.py)
MIN_CHARS = 60
DIFFERENCE_PROMPT = (
    "Here are the captions of two images.\nImage 1: {first}\nImage 2: {second}\n"
    "In one or two sentences, say how the first image differs from the second. "
    'Start with "The first image".'
)
_TRUNCATE_AT = ("Q:", "I hope", "#2:", "Note")
_STRIP = ("#1:", "A: ", "#")
_MARKUP = re.compile(r"```|</?[a-zA-Z]+>|\{|\}|\bdef |\bimport |\breturn ")
_GARBAGE = re.compile(r"(.)\1{4,}")


def filter_difference(text: str) -> str | None:
    """The cleaned generation, or None if PC-CLIP's rules drop it.

    Dropped: code or markup, runs of one repeated character, "Description:" blocks, non-ASCII text,
    and anything shorter than `MIN_CHARS` once cleaned. Cut at "Q:", "I hope", "#2:", "Note";
    "#1:", "A: " and "#" removed; newlines, tabs and double spaces collapsed.
    """
    if _MARKUP.search(text) or _GARBAGE.search(text) or "Description:" in text or not text.isascii():
        return None
    for marker in _TRUNCATE_AT:
        text = text.split(marker, 1)[0]
    for marker in _STRIP:
        text = text.replace(marker, "")
    text = " ".join(text.replace("\n", " ").replace("\t", " ").split())
    return text if len(text) >= MIN_CHARS else None


def caption(images: FinetuneImages, index: int, conditions: Sequence[str]) -> str:
    """A label caption of image `index`: "an image whose color is red, shape is cube and count is 3"."""
    parts = [f"{condition} is {images.classes[condition][int(images.labels[condition][index])]}"
             for condition in conditions]  # fmt: skip
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"an image whose {listed}"


class CachedAsk:
    """`ask(prompt) -> answer` with the answers kept on disk per (model, prompt)."""

    def __init__(self, ask: Callable[[str], str], model: str, cache_dir: Path | None = None) -> None:
        self.ask = ask
        self.model = model
        self.cache_dir = cache_dir if cache_dir is not None else cache_root() / "pcclip_differences"

    def __call__(self, prompt: str) -> str:
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()[:24]
        path = self.cache_dir / f"{key}.json"
        try:
            return str(json.loads(path.read_text(encoding="utf-8"))["answer"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not cached yet (or unreadable): ask again
        answer = self.ask(prompt)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"model": self.model, "prompt": prompt, "answer": answer}) + "\n")
        return answer


def endpoint_ask() -> CachedAsk:
    """The configured LLM endpoint (the ``--llm`` environment variables) behind the on-disk cache."""
    import httpx

    from condsim.conditions import LLMPromptGenerator

    generator = LLMPromptGenerator()
    client = httpx.Client(timeout=generator.config.timeout_s)
    return CachedAsk(lambda prompt: generator._ask(client, prompt), generator.config.model)


def llm_pairs(
    images: FinetuneImages,
    n_pairs: int,
    *,
    seed: int = 0,
    hold_out: Sequence[str] = (),
    ask: Callable[[str], str] | None = None,
) -> DifferencePairs:
    """`n_pairs` random pairs of images that differ in some condition, each with the LLM's filtered
    description of the difference; pairs whose generation is filtered out are dropped."""
    conditions = usable_conditions(images, hold_out)
    ask = ask if ask is not None else endpoint_ask()
    rng = np.random.default_rng(seed)
    codes = np.stack([images.labels[condition] for condition in conditions], axis=1)
    first, second, texts = [], [], []
    for _ in range(n_pairs):
        a, b = (int(v) for v in rng.integers(len(images), size=2))
        if not np.any(codes[a] != codes[b]):
            continue
        prompt = DIFFERENCE_PROMPT.format(
            first=caption(images, a, conditions), second=caption(images, b, conditions)
        )
        cleaned = filter_difference(ask(prompt))
        if cleaned is not None:
            first.append(a)
            second.append(b)
            texts.append(cleaned)
    if not texts:
        raise PairDataError(
            f"{images.name}: the LLM wrote no difference that passes PC-CLIP's filters, so there is no "
            "valid pair",
            hint=f"check the model's answers (they must be ASCII prose of at least {MIN_CHARS} characters)",
        )
    unique = {text: index for index, text in enumerate(dict.fromkeys(texts))}
    return DifferencePairs(
        first=np.asarray(first, dtype=np.int64),
        second=np.asarray(second, dtype=np.int64),
        text_ids=np.asarray([unique[text] for text in texts], dtype=np.int64),
        texts=tuple(unique),
        conditions=tuple("llm" for _ in texts),
    )
