"""`index --ray` on a local Ray instance: the same embeddings as the plain indexer, nothing lost by a
run that dies half way, and a re-run that embeds only what is missing.

One Ray instance (2 CPUs) serves the whole module, so Ray starts once (~10-20 s). The fake model is
sent to the Ray workers by value (its module, tests/conftest.py, is not importable there).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from condsim.collection import index_folder
from condsim.collection.ray_index import RayOptions
from condsim.collection.store import Store
from condsim.encoders.base import Encoder

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
    ray_instance: object, image_folder: Path, tmp_path: Path, make_encoder: type[Encoder]
) -> None:
    by_value(ray_instance, make_encoder)
    store_dir = tmp_path / "store"
    dying = functools.partial(make_encoder, model_id="fake:ray", dim=16, fail_after_batches=1)
    with pytest.raises(BaseException):  # noqa: B017 - the actor's simulated kill reaches us as Ray's error
        index_folder(
            image_folder, store_dir, dying(), show_progress=False, batch_size=2, ray=RayOptions(encoder=dying)
        )
    with Store.open(store_dir) as store:
        kept = len(store)
    assert kept < 12  # the run stopped early; what it wrote is committed

    healthy = functools.partial(make_encoder, model_id="fake:ray", dim=16)
    rerun = index_folder(
        image_folder, store_dir, healthy(), show_progress=False, batch_size=2, ray=RayOptions(encoder=healthy)
    )
    assert rerun.indexed == 12 - kept and rerun.unchanged == kept and rerun.total == 12
