"""Embedding a labelled dataset with an encoder, cached on disk: what every protocol in `condsim.eval` reads.

Generated datasets (`condsim.data.datasets`) are rendered and embedded block by block, so memory
stays bounded; loaded ones (`condsim.data.loaders`) are embedded in one pass. The embeddings and
labels are cached per (dataset, model) under ``<cache root>/embeddings`` and a second run renders
and embeds nothing. The model part of the key is a fingerprint of the encoder's output, so a
retrained checkpoint under the same name is not served another model's embeddings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from condsim._files import atomic_write, cache_root
from condsim._progress import track
from condsim.data import objects
from condsim.data.datasets import GeneratedDataset
from condsim.data.loaders import LabelledImages
from condsim.encoders.base import Encoder

#: images rendered and embedded per block
_BLOCK = 256


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


def _model_slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[-48:]
    return f"{readable}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def embedding_cache_path(key: str, model_id: str, root: Path | None = None) -> Path:
    """The cache file of dataset `key` embedded by the model identified by `model_id`."""
    return (root or cache_root()) / "embeddings" / f"{key}--{_model_slug(model_id)}.npz"


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
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)


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
    blocks = range(0, source.n, _BLOCK)
    embedded: list[np.ndarray] = []
    label_dicts: list[dict[str, Any]] = []
    for start in track(blocks, total=len(blocks), description=f"Rendering + embedding {source.name}",
                       enabled=show_progress):  # fmt: skip
        images, labels = source.render(start, start + _BLOCK)
        embedded.append(encoder.encode_images(images, batch_size=batch_size))
        label_dicts.extend(labels)
    codes, attributes = source.label_arrays(label_dicts)
    return EmbeddedDataset(
        name=source.name,
        embeddings=np.concatenate(embedded).astype(np.float32),
        labels=codes,
        classes=source.classes,
        model_id=encoder.model_id,
        attributes=attributes,
        nested_in=source.nested_in,
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
