"""A local store above the FAISS threshold answers through its saved index: the same images as the exact
scan, and after the store changes the stale index is rebuilt, never used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from condsim.collection import Collection, Store, index_folder
from condsim.collection.backends.faiss_index import AnnConfig, FaissIndex
from condsim.encoders.base import Encoder

ALWAYS = AnnConfig(threshold=1)  # every store is "large": queries go through FAISS


@pytest.fixture
def indexed(image_folder: Path, tmp_path: Path, fake_encoder: Encoder) -> Path:
    store = tmp_path / "store"
    index_folder(image_folder, store, fake_encoder, show_progress=False)
    return store


def names(results: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(result.path).name for result in results]


QUERIES = [{"method": "plain"}, {"by": ["color"]}, {"by": ["color", "shape"], "combine": "mean"}]


@pytest.mark.parametrize("query", QUERIES)
def test_the_index_answers_like_the_scan(indexed: Path, fake_encoder: Encoder, query: dict) -> None:  # type: ignore[type-arg]
    probe = str(next(Path(indexed).parent.glob("photos/a/*.png")))
    with (
        Collection(Store.open(indexed), fake_encoder) as exact,
        Collection(Store.open(indexed), fake_encoder, ann=ALWAYS) as approximate,
    ):
        assert approximate._uses_index() and not exact._uses_index()
        expected = exact.similar(probe, k=5, keep_duplicates=True, **query)
        found = approximate.similar(probe, k=5, keep_duplicates=True, **query)
        assert names(found) == names(expected)
        np.testing.assert_allclose([r.score for r in found], [r.score for r in expected], atol=1e-5)
        assert [r.contributions.keys() for r in found] == [r.contributions.keys() for r in expected]


def test_a_stale_index_is_rebuilt_not_used(
    indexed: Path,
    image_folder: Path,
    fake_encoder: Encoder,
    make_image,  # type: ignore[no-untyped-def]
) -> None:
    probe = str(image_folder / "a" / "img01.png")
    with Collection(Store.open(indexed), fake_encoder, ann=ALWAYS) as collection:
        collection.similar(probe, k=3, method="plain")
        saved = collection.backend.index_path("raw")  # type: ignore[attr-defined]
        assert saved.is_file()
        old_key = collection.backend.approximate_index("raw").key  # type: ignore[attr-defined]

    make_image(image_folder / "twin.png", (30, 200, 40), seed=1)  # the colour and texture of img01
    index_folder(image_folder, indexed, fake_encoder, show_progress=False)
    with Collection(Store.open(indexed), fake_encoder, ann=ALWAYS) as collection:
        assert FaissIndex.load(saved, old_key) is not None  # still on disk, built for the old version
        hits = collection.similar(probe, k=3, method="plain", keep_duplicates=True)
        assert "twin.png" in names(hits)  # only an index rebuilt for the new version can know it
        assert FaissIndex.load(saved, old_key) is None  # the file now holds the new version's index
