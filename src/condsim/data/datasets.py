"""The generated benchmark datasets: rendered, labelled stand-ins for the papers' benchmarks.

Three rendered stand-ins for the papers' benchmarks (all deterministic functions of (n, seed, size)):

* ``clevr4``: Clevr-4-like scenes (methods.md §5.1), default 10,531 images (Clevr-4-10k's size),
  conditions color / shape / texture / count, 10 classes each (`condsim.data.scenes`).
* ``cards``: playing cards (methods.md §2.4), default 8,029 images, conditions number (13) / suit (4)
  (`condsim.data.cards`).
* ``objects``: CLAY-Object-like drawings (methods.md §1.4), default 7,325 images, conditions
  category (4) / subcategory (16, nested in category) / color (8) (`condsim.data.objects`).

Their seeds are disjoint from the built-in model's training seeds (`check_not_training_seed`).
Any block of images can be rendered alone (`GeneratedDataset.render`); embedding them with a model,
block by block and cached on disk, is `condsim.eval.embed.embed_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from condsim.data import cards, objects, scenes
from condsim.data.seeds import check_not_training_seed
from condsim.data.taxonomy import CARD_RANKS, CARD_SUITS, COLORS, COUNTS, SHAPES, TEXTURES
from condsim.errors import InvalidInputError, UnknownConditionError

#: dataset name -> default number of images (the papers' dataset sizes)
DEFAULT_SIZES: dict[str, int] = {"clevr4": 10_531, "cards": 8_029, "objects": 7_325}
#: dataset name -> default evaluation seed (disjoint from `condsim.data.seeds.TRAINING_SEEDS`)
DEFAULT_SEEDS: dict[str, int] = {"clevr4": 20_240_001, "cards": 20_240_002, "objects": 20_240_003}
DATASETS: tuple[str, ...] = tuple(DEFAULT_SIZES)
#: bump when a renderer's output changes, so stale cached embeddings are not reused
_RENDER_VERSION = 1


Renderer = Callable[[int, int, int, int], tuple[list[Image.Image], list[dict[str, Any]]]]


def _render_scenes(
    seed: int, start: int, count: int, size: int
) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    images, labels = scenes.generate_scenes(count, seed, size, start=start)
    return images, [dict(label) for label in labels]


def _render_cards(
    seed: int, start: int, count: int, size: int
) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    images, labels = cards.generate_cards(count, seed, size, start=start)
    return images, [{"number": label["rank"], "suit": label["suit"]} for label in labels]


def _render_objects(
    seed: int, start: int, count: int, size: int
) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    rendered = [objects.render_object(seed, index, size) for index in range(start, start + count)]
    labels = [
        {
            "category": list(objects.CATEGORIES)[label.category],
            "subcategory": objects.SUBCATEGORIES[label.subcategory],
            "color": list(objects.OBJECT_COLORS)[label.color],
            "size": label.size,
        }
        for _, label in rendered
    ]
    return [image for image, _ in rendered], labels


@dataclass(frozen=True)
class _Schema:
    render: Renderer
    classes: dict[str, tuple[str, ...]]
    #: attribute name -> function of one label dict giving its numeric value
    attributes: dict[str, Callable[[dict[str, Any]], float]]
    nested_in: dict[str, str]


_SCHEMAS: dict[str, _Schema] = {
    "clevr4": _Schema(
        render=_render_scenes,
        classes={
            "color": COLORS,
            "shape": SHAPES,
            "texture": TEXTURES,
            "count": tuple(str(count) for count in COUNTS),
        },
        attributes={"count": lambda label: float(label["count"])},
        nested_in={},
    ),
    "cards": _Schema(
        render=_render_cards,
        classes={"number": CARD_RANKS, "suit": CARD_SUITS},
        attributes={"number": lambda label: float(CARD_RANKS.index(label["number"]) + 1)},
        nested_in={},
    ),
    "objects": _Schema(
        render=_render_objects,
        classes={
            "category": tuple(objects.CATEGORIES),
            "subcategory": objects.SUBCATEGORIES,
            "color": tuple(objects.OBJECT_COLORS),
        },
        attributes={"size": lambda label: float(label["size"])},
        nested_in={"subcategory": "category"},
    ),
}


@dataclass(frozen=True)
class GeneratedDataset:
    """A rendered benchmark: `name` in DATASETS, `n` images from stream `seed`, `size`-pixel square."""

    name: str
    n: int
    seed: int
    size: int = 128

    def __post_init__(self) -> None:
        if self.name not in _SCHEMAS:
            raise UnknownConditionError(
                f"unknown dataset {self.name!r}", hint=f"choose one of {', '.join(DATASETS)}"
            )
        if self.n < 2:
            raise InvalidInputError(f"a benchmark needs at least 2 images, got n={self.n}")
        if self.size < 16:
            raise InvalidInputError(f"image size must be at least 16 pixels, got {self.size}")
        check_not_training_seed(self.seed)

    @property
    def cache_key(self) -> str:
        return f"{self.name}-v{_RENDER_VERSION}-n{self.n}-seed{self.seed}-px{self.size}"

    @property
    def classes(self) -> dict[str, tuple[str, ...]]:
        return dict(_SCHEMAS[self.name].classes)

    @property
    def nested_in(self) -> dict[str, str]:
        """Condition -> the condition it is nested in (subcategory -> category)."""
        return dict(_SCHEMAS[self.name].nested_in)

    def render(self, start: int, stop: int) -> tuple[list[Image.Image], list[dict[str, Any]]]:
        """Images `start .. stop - 1` and their label dicts (each image depends only on (seed, index))."""
        stop = min(stop, self.n)
        return _SCHEMAS[self.name].render(self.seed, start, max(stop - start, 0), self.size)

    def label_arrays(
        self, label_dicts: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(class codes per condition indexing `classes`, numeric attribute values) of rendered labels."""
        schema = _SCHEMAS[self.name]
        codes = {
            condition: np.array([names.index(str(label[condition])) for label in label_dicts], dtype=np.int64)
            for condition, names in schema.classes.items()
        }
        attributes = {
            name: np.array([value(label) for label in label_dicts], dtype=np.float64)
            for name, value in schema.attributes.items()
        }
        return codes, attributes


def generated_dataset(
    name: str, *, n: int | None = None, seed: int | None = None, size: int = 128
) -> GeneratedDataset:
    """The dataset `name` with its default size and evaluation seed unless given."""
    if name not in _SCHEMAS:
        raise UnknownConditionError(f"unknown dataset {name!r}", hint=f"choose one of {', '.join(DATASETS)}")
    return GeneratedDataset(
        name=name,
        n=DEFAULT_SIZES[name] if n is None else n,
        seed=DEFAULT_SEEDS[name] if seed is None else seed,
        size=size,
    )
