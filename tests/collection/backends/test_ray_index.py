"""`index --ray` on a local Ray instance: the same embeddings as the plain indexer, nothing lost by a
run that dies half way, and a re-run that embeds only what is missing.

One Ray instance (2 CPUs) serves the whole module, so Ray starts once (~10-20 s). The fake model is
sent to the Ray workers by value (its module, tests/conftest.py, is not importable there).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from condsim.collection import index_folder, indexer
from condsim.collection.ray_index import RayOptions
from condsim.collection.store import Store
from condsim.encoders.base import Encoder, PartialEncoding

pytestmark = pytest.mark.slow


def by_value(ray: object, encoder_class: type[Encoder]) -> None:
    """Let Ray pickle the test-only encoder class itself, not a reference to its module."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[encoder_class.__module__])  # type: ignore[attr-defined]


def stored_vectors(store_dir: Path) -> dict[str, np.ndarray]:
    with Store.open(store_dir) as store:
        items = store.items()
        vectors = store.vectors([item.row for item in items])
        return {item.relpath: vector for item, vector in zip(items, vectors, strict=True)}


def test_ray_gives_the_plain_indexers_embeddings(
    ray_instance: object, image_folder: Path, tmp_path: Path, make_encoder: type[Encoder]
) -> None:
    by_value(ray_instance, make_encoder)
    source = functools.partial(make_encoder, model_id="fake:ray", dim=16)
    plain = index_folder(image_folder, tmp_path / "plain", source(), show_progress=False)
    distributed = index_folder(
        image_folder,
        tmp_path / "ray",
        source(),
        show_progress=False,
        batch_size=3,
        ray=RayOptions(encoder=source),
    )
    assert distributed.indexed == plain.indexed == 12
    assert [f.path for f in distributed.failed] == [f.path for f in plain.failed]  # broken.jpg
    expected, got = stored_vectors(tmp_path / "plain"), stored_vectors(tmp_path / "ray")
    assert expected.keys() == got.keys()
    for relpath, vector in expected.items():
        np.testing.assert_allclose(got[relpath], vector, atol=1e-6)


def test_a_run_that_dies_loses_nothing_and_a_rerun_embeds_only_the_rest(
    ray_instance: object,
    image_folder: Path,
    tmp_path: Path,
    make_encoder: type[Encoder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_value(ray_instance, make_encoder)
    source = functools.partial(make_encoder, model_id="fake:ray", dim=16)
    store_dir = tmp_path / "store"
    streamed = indexer.ray_encoded_batches

    def killed_after_two_batches(*args: object, **kwargs: object) -> Iterator[PartialEncoding]:
        for count, batch in enumerate(streamed(*args, **kwargs)):  # type: ignore[arg-type]
            if count == 2:
                raise KeyboardInterrupt("simulated kill of the index run")
            yield batch

    monkeypatch.setattr(indexer, "ray_encoded_batches", killed_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        index_folder(
            image_folder,
            store_dir,
            source(),
            show_progress=False,
            batch_size=2,
            ray=RayOptions(encoder=source),
        )
    with Store.open(store_dir) as store:
        kept = len(store)
    assert 0 < kept <= 4  # the two batches that came back before the kill are committed

    monkeypatch.undo()
    rerun = index_folder(
        image_folder, store_dir, source(), show_progress=False, batch_size=2, ray=RayOptions(encoder=source)
    )
    assert rerun.indexed == 12 - kept and rerun.unchanged == kept and rerun.total == 12
