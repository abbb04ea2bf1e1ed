"""Labelled images -> image pairs with a sentence saying how the first differs from the second.

PC-CLIP (methods.md §4.1) writes its difference sentences with an LLM from two captions; labelled
images make that step exact and free: a pair that differs in a condition gets that condition's
template filled with the two class names ("The first objects are red, while the second are blue.").
An ordinal condition (a numeric attribute: count, card number, size) also gets the comparative form
("The first image has more objects than the second."), which is what difference classification and
attribute ranking query (§4.3). `condsim.training.pcclip.llm_pairs` is the LLM path.

Pairs are drawn once per run from a seeded stream, so a resumed run trains on the same pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from condsim.data.taxonomy import NUMBER_WORDS, SHAPE_NAMES, TEXTURE_NAMES
from condsim.errors import InvalidInputError


class PairDataError(InvalidInputError):
    """The finetuning data cannot give a single usable difference pair (or a condition cannot)."""


@dataclass
class FinetuneImages:
    """Precomputed image embeddings (frozen image tower) with their labels: what pairs are drawn from.

    ``labels[c][i]`` indexes ``classes[c]``; ``ordinal[c][i]`` is a numeric value for conditions whose
    classes are ordered (a larger value = "more"), used for comparative sentences.
    """

    name: str
    embeddings: np.ndarray
    labels: dict[str, np.ndarray]
    classes: dict[str, tuple[str, ...]]
    ordinal: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])


@dataclass(frozen=True)
class DifferencePairs:
    """Pair p is (`first[p]`, `second[p]`) with sentence `texts[text_ids[p]]` about `conditions[p]`."""

    first: np.ndarray
    second: np.ndarray
    text_ids: np.ndarray
    texts: tuple[str, ...]
    conditions: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.first.shape[0])

    def text_of(self, pair: int) -> str:
        return self.texts[int(self.text_ids[pair])]


@dataclass(frozen=True)
class Template:
    """How to say that two images differ in one condition.

    ``categorical`` sentences take ``{first}`` / ``{second}`` (the class names through ``word``);
    ``more`` / ``less`` are the comparative sentences of an ordinal condition (None if unordered).
    """

    categorical: tuple[str, ...]
    more: str | None = None
    less: str | None = None
    word: Callable[[str], str] = str


def _count_word(value: str) -> str:
    return NUMBER_WORDS[int(value) - 1] if value.isdigit() and 1 <= int(value) <= len(NUMBER_WORDS) else value


#: templates per condition name (the bench's comparative sentences are among them: they are the
#: product's wording, and the held-out attribute shows what the finetuning does without it)
TEMPLATES: dict[str, Template] = {
    "color": Template(
        (
            "The first objects are {first}, while the second are {second}.",
            "The first image shows {first} objects and the second shows {second} ones.",
        ),
    ),
    "shape": Template(
        (
            "The first image shows {first}, while the second shows {second}.",
            "The first image has {first} and the second has {second}.",
        ),
        word=lambda value: SHAPE_NAMES[value][1] if value in SHAPE_NAMES else value,
    ),
    "texture": Template(
        (
            "The first objects are {first}, while the second are {second}.",
            "The first image shows {first} objects and the second shows {second} ones.",
        ),
        word=lambda value: TEXTURE_NAMES.get(value, value),
    ),
    "count": Template(
        (
            "The first image has {first} objects, while the second has {second}.",
            "There are {first} objects in the first image and {second} in the second.",
        ),
        more="The first image has more objects than the second.",
        less="The first image has fewer objects than the second.",
        word=_count_word,
    ),
    "number": Template(
        ("The first card is a {first}, while the second is a {second}.",),
        more="The first card has a higher number than the second.",
        less="The first card has a lower number than the second.",
    ),
    "suit": Template(("The first card is of {first}, while the second is of {second}.",)),
    "size": Template(
        ("The first object is {first}, while the second is {second}.",),
        more="The first object is larger than the second.",
        less="The first object is smaller than the second.",
    ),
}


def template_for(condition: str) -> Template:
    """The condition's template, or a generic one naming the condition ("The color of the first ...")."""
    known = TEMPLATES.get(condition)
    if known is not None:
        return known
    return Template(
        (f"The {condition} of the first image is {{first}}, while that of the second is {{second}}.",),
        more=f"The first image has a higher {condition} than the second.",
        less=f"The first image has a lower {condition} than the second.",
    )


def check_conditions(images: FinetuneImages, conditions: Sequence[str]) -> None:
    """Refuse a condition the data labels with a single class: no pair can differ in it."""
    for condition in conditions:
        present = np.unique(images.labels[condition])
        if present.size < 2:
            only = images.classes[condition][int(present[0])] if present.size else "none"
            raise PairDataError(
                f"{images.name}: condition {condition!r} has one class ({only!r}); a difference needs two",
                hint="add images of another class, or leave that condition out of the data",
            )


def usable_conditions(images: FinetuneImages, hold_out: Sequence[str]) -> list[str]:
    """The labelled conditions pairs may be described along: all but `hold_out`, each with 2+ classes."""
    if len(images) < 2:
        raise PairDataError(f"{images.name}: {len(images)} image(s); a pair needs two", hint="add images")
    unknown = sorted(set(hold_out) - set(images.labels))
    if unknown:
        raise InvalidInputError(
            f"held-out condition {unknown[0]!r} is not labelled in {images.name}",
            hint="labelled: " + ", ".join(images.labels),
        )
    conditions = [condition for condition in images.labels if condition not in hold_out]
    if not conditions:
        raise PairDataError(f"{images.name}: every labelled condition is held out", hint="hold out fewer")
    check_conditions(images, conditions)
    return conditions


def template_pairs(
    images: FinetuneImages,
    n_pairs: int,
    *,
    seed: int = 0,
    hold_out: Sequence[str] = (),
    comparative_share: float = 0.5,
) -> DifferencePairs:
    """`n_pairs` random pairs, each described along one condition in which its two images differ.

    The condition is drawn uniformly among those that differ (never one in `hold_out`); for an
    ordinal one, the comparative sentence is used with probability `comparative_share`.
    """
    conditions = usable_conditions(images, hold_out)
    rng = np.random.default_rng(seed)
    codes = np.stack([images.labels[condition] for condition in conditions], axis=1)
    text_index: dict[str, int] = {}
    first: list[int] = []
    second: list[int] = []
    text_ids: list[int] = []
    used: list[str] = []
    attempts = 0
    while len(first) < n_pairs and attempts < 20 * n_pairs:
        attempts += 1
        a, b = (int(v) for v in rng.integers(len(images), size=2))
        differing = np.flatnonzero(codes[a] != codes[b])
        if differing.size == 0:
            continue
        condition = conditions[int(differing[rng.integers(differing.size)])]
        text = _sentence(images, condition, a, b, rng, comparative_share)
        first.append(a)
        second.append(b)
        text_ids.append(text_index.setdefault(text, len(text_index)))
        used.append(condition)
    if not first:
        raise PairDataError(
            f"{images.name}: no two images differ in any condition, so there is no valid pair",
            hint="the data needs images with different labels",
        )
    return DifferencePairs(
        first=np.asarray(first, dtype=np.int64),
        second=np.asarray(second, dtype=np.int64),
        text_ids=np.asarray(text_ids, dtype=np.int64),
        texts=tuple(text_index),
        conditions=tuple(used),
    )


def _sentence(
    images: FinetuneImages, condition: str, a: int, b: int, rng: np.random.Generator, comparative_share: float
) -> str:
    template = template_for(condition)
    values = images.ordinal.get(condition)
    if (
        values is not None
        and template.more is not None
        and template.less is not None
        and values[a] != values[b]
        and rng.random() < comparative_share
    ):
        return template.more if values[a] > values[b] else template.less
    names = images.classes[condition]
    wording = template.categorical[int(rng.integers(len(template.categorical)))]
    return wording.format(
        first=template.word(names[int(images.labels[condition][a])]),
        second=template.word(names[int(images.labels[condition][b])]),
    )


def ordinal_values(classes: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """Per condition whose class names are all numbers: each class's numeric value (else nothing).

    Loaded data has no attribute values, but a class named "3" is more than one named "2".
    """
    ordered: dict[str, np.ndarray] = {}
    for condition, names in classes.items():
        try:
            ordered[condition] = np.asarray([float(name) for name in names], dtype=np.float64)
        except ValueError:
            continue
    return ordered
