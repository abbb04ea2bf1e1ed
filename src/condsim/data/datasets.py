"""The generated benchmark datasets and their on-disk embedding cache.

Three rendered stand-ins for the papers' benchmarks (all deterministic functions of (n, seed, size)):

* ``clevr4``: Clevr-4-like scenes (methods.md §5.1), default 10,531 images (Clevr-4-10k's size),
  conditions color / shape / texture / count, 10 classes each (`condsim.data.scenes`).
* ``cards``: playing cards (methods.md §2.4), default 8,029 images, conditions number (13) / suit (4).
* ``objects``: CLAY-Object-like drawings (methods.md §1.4), default 7,325 images, conditions
  category (4) / subcategory (16, nested in category) / color (8) (`condsim.data.objects`).

Their seeds are disjoint from the built-in model's training seeds (`check_not_training_seed`).
Images are rendered and embedded block by block, so memory stays bounded; the embeddings and labels
are cached per (dataset, n, seed, size, model) under `cache_dir()` and a second run renders nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from condsim._progress import track
from condsim.data import objects, scenes
from condsim.data.loaders import LabelledImages
from condsim.encoders.base import Encoder
from condsim.errors import InvalidInputError, UnknownConditionError

#: dataset name -> default number of images (the papers' dataset sizes)
DEFAULT_SIZES: dict[str, int] = {"clevr4": 10_531, "cards": 8_029, "objects": 7_325}
#: dataset name -> default evaluation seed (disjoint from scenes.TRAINING_SEEDS)
DEFAULT_SEEDS: dict[str, int] = {"clevr4": 20_240_001, "cards": 20_240_002, "objects": 20_240_003}
DATASETS: tuple[str, ...] = tuple(DEFAULT_SIZES)
#: images rendered and embedded per block
_BLOCK = 256
#: bump when a renderer's output changes, so stale cached embeddings are not reused
_RENDER_VERSION = 1


def cache_dir() -> Path:
    """Where condsim caches derived data: ``$CONDSIM_CACHE_DIR`` or ``~/.cache/condsim``."""
    configured = os.environ.get("CONDSIM_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "condsim"


@dataclass
class EmbeddedDataset:
    """Unit-norm image embeddings with their labels (what every protocol in `condsim.eval` consumes).

    ``labels[c]`` are integer class indices into ``classes[c]``; ``attributes`` holds ordinal or
    continuous values for ranking (count, size, card number); ``nested_in`` maps a condition to its
    parent (subcategory -> category: its mAP is computed within each category, methods.md §1.3).
    """

    name: str
    embeddings: np.ndarray
    labels: dict[str, np.ndarray]
    classes: dict[str, tuple[str, ...]]
    model_id: str
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    nested_in: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(self.labels)


Renderer = Callable[[int, int, int, int], tuple[list[Image.Image], list[dict[str, Any]]]]


def _render_scenes(
    seed: int, start: int, count: int, size: int
) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    images, labels = scenes.generate_scenes(count, seed, size, start=start)
    return images, [dict(label) for label in labels]


def _render_cards(
    seed: int, start: int, count: int, size: int
) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    images, labels = scenes.generate_cards(count, seed, size, start=start)
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
            "color": scenes.COLORS,
            "shape": scenes.SHAPES,
            "texture": scenes.TEXTURES,
            "count": tuple(str(count) for count in scenes.COUNTS),
        },
        attributes={"count": lambda label: float(label["count"])},
        nested_in={},
    ),
    "cards": _Schema(
        render=_render_cards,
        classes={"number": scenes.CARD_RANKS, "suit": scenes.CARD_SUITS},
        attributes={"number": lambda label: float(scenes.CARD_RANKS.index(label["number"]) + 1)},
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
        scenes.check_not_training_seed(self.seed)

    @property
    def cache_key(self) -> str:
        return f"{self.name}-v{_RENDER_VERSION}-n{self.n}-seed{self.seed}-px{self.size}"

    @property
    def classes(self) -> dict[str, tuple[str, ...]]:
        return dict(_SCHEMAS[self.name].classes)

    def render(self, start: int, stop: int) -> tuple[list[Image.Image], list[dict[str, Any]]]:
        """Images `start .. stop - 1` and their label dicts (each image depends only on (seed, index))."""
        stop = min(stop, self.n)
        return _SCHEMAS[self.name].render(self.seed, start, max(stop - start, 0), self.size)


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


def _model_slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[-48:]
    return f"{readable}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def embedding_cache_path(key: str, model_id: str, root: Path | None = None) -> Path:
    """The cache file of dataset `key` embedded by the model identified by `model_id`."""
    return (root or cache_dir()) / "embeddings" / f"{key}--{_model_slug(model_id)}.npz"


def encoder_fingerprint(encoder: Encoder) -> str:
    """`model_id` plus a digest of the encoder's output on a fixed probe image.

    Part of the cache key because a model_id need not change when weights do (a retrained
    checkpoint under the same name must not be served another model's cached embeddings).
    """
    probe, _ = objects.render_object(seed=0, index=0, size=64)
    response = np.round(encoder.encode_images([probe]).astype(np.float64), 3)
    digest = hashlib.sha1(encoder.model_id.encode() + response.tobytes()).hexdigest()[:12]
    return f"{encoder.model_id}@{digest}"


def _save(path: Path, dataset: EmbeddedDataset) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"name": dataset.name, "model_id": dataset.model_id, "classes": dataset.classes,
            "nested_in": dataset.nested_in}  # fmt: skip
    arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta)), "embeddings": dataset.embeddings}
    arrays.update({f"label__{c}": v for c, v in dataset.labels.items()})
    arrays.update({f"attribute__{a}": v for a, v in dataset.attributes.items()})
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)


def _load(path: Path) -> EmbeddedDataset | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            return EmbeddedDataset(
                name=meta["name"],
                embeddings=stored["embeddings"].astype(np.float32),
                labels={k.split("__", 1)[1]: stored[k] for k in stored.files if k.startswith("label__")},
                classes={c: tuple(v) for c, v in meta["classes"].items()},
                model_id=meta["model_id"],
                attributes={
                    k.split("__", 1)[1]: stored[k] for k in stored.files if k.startswith("attribute__")
                },
                nested_in=dict(meta["nested_in"]),
            )
    except (OSError, KeyError, ValueError, json.JSONDecodeError):
        return None  # a missing or damaged cache entry is recomputed


def embed_dataset(
    source: GeneratedDataset | LabelledImages,
    encoder: Encoder,
    *,
    cache: bool = True,
    cache_root: Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> EmbeddedDataset:
    """Embed every image of `source` with `encoder`, reusing the on-disk cache when it has them.

    Generated datasets are rendered block by block (bounded memory). `LabelledImages` from the
    loaders are cached under a key that changes when any file or label changes.
    """
    key = source.cache_key
    path = embedding_cache_path(key, encoder_fingerprint(encoder), cache_root) if (cache and key) else None
    if path is not None and path.is_file():
        cached = _load(path)
        if cached is not None and cached.model_id == encoder.model_id:
            return cached
    dataset = (
        _embed_generated(source, encoder, batch_size, show_progress)
        if isinstance(source, GeneratedDataset)
        else _embed_labelled(source, encoder, batch_size, show_progress)
    )
    if path is not None:
        _save(path, dataset)
    return dataset


def _embed_generated(
    source: GeneratedDataset, encoder: Encoder, batch_size: int, show_progress: bool
) -> EmbeddedDataset:
    schema = _SCHEMAS[source.name]
    blocks = range(0, source.n, _BLOCK)
    embedded: list[np.ndarray] = []
    label_dicts: list[dict[str, Any]] = []
    for start in track(blocks, total=len(blocks), description=f"Rendering + embedding {source.name}",
                       enabled=show_progress):  # fmt: skip
        images, labels = source.render(start, start + _BLOCK)
        embedded.append(encoder.encode_images(images, batch_size=batch_size))
        label_dicts.extend(labels)
    codes = {
        condition: np.array([names.index(str(label[condition])) for label in label_dicts], dtype=np.int64)
        for condition, names in schema.classes.items()
    }
    attributes = {
        name: np.array([value(label) for label in label_dicts], dtype=np.float64)
        for name, value in schema.attributes.items()
    }
    return EmbeddedDataset(
        name=source.name,
        embeddings=np.concatenate(embedded).astype(np.float32),
        labels=codes,
        classes=dict(schema.classes),
        model_id=encoder.model_id,
        attributes=attributes,
        nested_in=dict(schema.nested_in),
    )


def _embed_labelled(
    source: LabelledImages, encoder: Encoder, batch_size: int, show_progress: bool
) -> EmbeddedDataset:
    embeddings = encoder.encode_images(source.images, batch_size=batch_size, show_progress=show_progress)
    return EmbeddedDataset(
        name=source.name,
        embeddings=embeddings.astype(np.float32),
        labels=dict(source.labels),
        classes=dict(source.classes),
        model_id=encoder.model_id,
        attributes=dict(source.attributes),
        nested_in=dict(source.nested_in),
    )
