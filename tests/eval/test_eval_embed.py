"""Embedding a dataset with an encoder: the on-disk cache, keyed by dataset and model fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from condsim.data.datasets import generated_dataset
from condsim.data.loaders import load_csv
from condsim.eval.embed import embed_dataset, embedding_cache_path, encoder_fingerprint


def test_embedding_is_cached_per_dataset_and_model(tmp_path: Path, make_encoder: Any) -> None:
    encoder = make_encoder(dim=6)
    dataset = generated_dataset("objects", n=20, size=32)
    first = embed_dataset(dataset, encoder, cache_root=tmp_path, show_progress=False)
    assert encoder.images_embedded == 20 + 1  # + the fingerprint probe
    assert embedding_cache_path(dataset.cache_key, encoder_fingerprint(encoder), tmp_path).is_file()
    seen = encoder.images_embedded
    second = embed_dataset(dataset, encoder, cache_root=tmp_path, show_progress=False)
    assert encoder.images_embedded == seen + 1  # only the probe
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    for condition in first.labels:
        np.testing.assert_array_equal(first.labels[condition], second.labels[condition])
    assert second.nested_in == {"subcategory": "category"} and set(second.attributes) == {"size"}
    np.testing.assert_allclose(np.linalg.norm(second.embeddings, axis=1), 1.0, rtol=1e-5)
    # another seed or size is another cache entry
    seen = encoder.images_embedded
    embed_dataset(
        generated_dataset("objects", n=20, size=33), encoder, cache_root=tmp_path, show_progress=False
    )
    assert encoder.images_embedded == seen + 1 + 20


def test_changed_weights_under_the_same_model_id_miss_the_cache(tmp_path: Path, make_encoder: Any) -> None:
    dataset = generated_dataset("cards", n=10, size=32)
    first = embed_dataset(dataset, make_encoder(dim=6), cache_root=tmp_path, show_progress=False)
    retrained = make_encoder(dim=6)
    retrained._embed_images = lambda images: np.asarray(  # type: ignore[method-assign]
        [np.asarray(image.resize((2, 1)), dtype=np.float64).ravel()[::-1] + 2.0 for image in images]
    )
    second = embed_dataset(dataset, retrained, cache_root=tmp_path, show_progress=False)
    assert not np.allclose(first.embeddings, second.embeddings)


def test_loaded_images_are_embedded_and_cached_under_their_file_key(
    tmp_path: Path, make_encoder: Any
) -> None:
    for name, color in (("a", (200, 0, 0)), ("b", (0, 0, 200)), ("c", (0, 200, 0))):
        Image.new("RGB", (8, 8), color).save(tmp_path / f"{name}.png")
    (tmp_path / "labels.csv").write_text("path,hue\na.png,red\nb.png,blue\nc.png,green\n")
    data = load_csv(tmp_path / "labels.csv")
    encoder = make_encoder(dim=6)
    encoded = embed_dataset(data, encoder, cache_root=tmp_path / "cache", show_progress=False)
    assert encoded.embeddings.shape == (3, 6) and encoded.name == data.name
    np.testing.assert_array_equal(encoded.labels["hue"], data.labels["hue"])
    assert encoded.classes == data.classes
    assert data.cache_key is not None
    assert embedding_cache_path(data.cache_key, encoder_fingerprint(encoder), tmp_path / "cache").is_file()
    seen = encoder.images_embedded
    embed_dataset(data, encoder, cache_root=tmp_path / "cache", show_progress=False)
    assert encoder.images_embedded == seen + 1  # only the fingerprint probe
