"""Indexing a folder: incremental, moves, deletions, failures, crash + resume."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from condsim.collection.indexer import index_folder
from condsim.collection.store import Store
from condsim.errors import StoreError, StoreModelMismatchError


def _index(root: Path, store: Path, encoder: Any, **options: Any) -> Any:
    return index_folder(
        root, store, encoder, batch_size=options.pop("batch_size", 4), show_progress=False, **options
    )


def _store_state(store_dir: Path) -> dict[str, np.ndarray]:
    with Store.open(store_dir) as store:
        return {item.relpath: store.vectors([item.row])[0] for item in store.items()}


def test_first_index_lists_failures_and_skips(image_folder: Path, tmp_path: Path, encoder: Any) -> None:
    report = _index(image_folder, tmp_path / "store", encoder)
    assert report.indexed == 12 and report.total == 12 and report.ok
    assert encoder.images_embedded == 12
    assert [Path(f.path).name for f in report.failed] == ["broken.jpg"]
    assert "not a readable image" in report.failed[0].reason
    assert [Path(p).name for p in report.skipped] == ["notes.txt"]
    with Store.open(tmp_path / "store") as store:
        assert store.model_id == encoder.model_id and len(store) == 12
        assert [Path(p).name for p, _ in store.failures()] == ["broken.jpg"]
        relpaths = {item.relpath for item in store.items()}
        assert "a/img01.png" in relpaths and "b/deep/img00.png" in relpaths
        item = store.find_path(image_folder / "a" / "img01.png")
        assert item is not None and Path(item.abspath).is_absolute()


def test_reindex_embeds_only_new_or_changed(
    image_folder: Path, tmp_path: Path, make_encoder: Any, make_image: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    before = _store_state(tmp_path / "store")
    second = make_encoder()
    report = _index(image_folder, tmp_path / "store", second)
    assert second.images_embedded == 0 and report.unchanged == 12 and report.indexed == 0

    make_image(image_folder / "new.png", (10, 250, 10), seed=99)
    make_image(image_folder / "a" / "img01.png", (250, 250, 250), seed=5)  # changed content
    third = make_encoder()
    report = _index(image_folder, tmp_path / "store", third)
    assert third.images_embedded == 2 and report.indexed == 2 and report.unchanged == 11
    after = _store_state(tmp_path / "store")
    assert set(after) == set(before) | {"new.png"}
    assert not np.allclose(after["a/img01.png"], before["a/img01.png"])
    np.testing.assert_array_equal(after["b/deep/img00.png"], before["b/deep/img00.png"])


def test_touched_but_identical_file_is_not_reembedded(
    image_folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    path = image_folder / "a" / "img03.png"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000_000))
    again = make_encoder()
    report = _index(image_folder, tmp_path / "store", again)
    assert again.images_embedded == 0 and report.unchanged == 12


def test_deleted_files_are_forgotten(image_folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    for index in (0, 2, 4, 6):
        (image_folder / "b" / "deep" / f"img{index:02d}.png").unlink()
    report = _index(image_folder, tmp_path / "store", make_encoder(), compact_ratio=0.9)
    assert report.removed == 4 and report.total == 8 and not report.compacted
    with Store.open(tmp_path / "store") as store:
        assert len(store) == 8 and store.holes() == 4
    (image_folder / "b" / "deep" / "img08.png").unlink()
    report = _index(image_folder, tmp_path / "store", make_encoder(), compact_ratio=0.2)
    assert report.compacted
    with Store.open(tmp_path / "store") as store:
        assert store.holes() == 0 and len(store) == 7
        assert sorted(store.live_rows().tolist()) == list(range(7))


def test_moved_file_is_repointed_without_reembedding(
    image_folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    before = _store_state(tmp_path / "store")
    (image_folder / "moved").mkdir()
    os.replace(image_folder / "a" / "img05.png", image_folder / "moved" / "renamed.png")
    again = make_encoder()
    report = _index(image_folder, tmp_path / "store", again)
    assert again.images_embedded == 0 and report.moved == 1 and report.removed == 0
    after = _store_state(tmp_path / "store")
    assert "a/img05.png" not in after
    np.testing.assert_array_equal(after["moved/renamed.png"], before["a/img05.png"])


def test_another_folder_into_a_store_of_a_live_folder_is_refused_unless_replaced(
    image_folder: Path, tmp_path: Path, make_encoder: Any, make_image: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    before = _store_state(tmp_path / "store")
    other = tmp_path / "other"
    make_image(other / "one.png", (10, 200, 10))
    with pytest.raises(StoreError, match="would forget them") as refused:
        _index(other, tmp_path / "store", make_encoder())
    assert refused.value.hint is not None and "--replace" in refused.value.hint
    assert _store_state(tmp_path / "store").keys() == before.keys()  # nothing lost
    report = _index(other, tmp_path / "store", make_encoder(), replace=True)
    assert report.total == 1 and report.removed == len(before)


def test_a_moved_folder_is_followed_without_reembedding(
    image_folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    moved = tmp_path / "photos-moved"
    os.replace(image_folder, moved)
    again = make_encoder()
    report = _index(moved, tmp_path / "store", again)
    assert again.images_embedded == 0 and report.removed == 0 and report.total == 12


def test_copied_file_reuses_embedding(image_folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    (image_folder / "copy.png").write_bytes((image_folder / "a" / "img01.png").read_bytes())
    again = make_encoder()
    report = _index(image_folder, tmp_path / "store", again)
    assert again.images_embedded == 0 and report.copied == 1 and report.total == 13
    state = _store_state(tmp_path / "store")
    np.testing.assert_array_equal(state["copy.png"], state["a/img01.png"])


def test_file_that_became_unreadable_is_dropped(
    image_folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    (image_folder / "a" / "img01.png").write_bytes(b"now garbage")
    report = _index(image_folder, tmp_path / "store", make_encoder())
    assert [Path(f.path).name for f in report.failed] == ["broken.jpg", "img01.png"]
    assert "a/img01.png" not in _store_state(tmp_path / "store")


def test_empty_folder_reports_nothing_indexed(tmp_path: Path, encoder: Any) -> None:
    (tmp_path / "empty").mkdir()
    report = _index(tmp_path / "empty", tmp_path / "store", encoder)
    assert report.nothing_indexed and not report.ok and report.total == 0


def test_only_bad_files_reports_nothing_indexed(tmp_path: Path, encoder: Any) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    report = _index(tmp_path / "bad", tmp_path / "store", encoder)
    assert report.nothing_indexed and len(report.failed) == 1


def test_missing_root_and_model_mismatch(image_folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    with pytest.raises(StoreError, match="not a folder"):
        _index(tmp_path / "nope", tmp_path / "store", make_encoder())
    _index(image_folder, tmp_path / "store", make_encoder())
    with pytest.raises(StoreModelMismatchError):
        _index(image_folder, tmp_path / "store", make_encoder(model_id="other-model"))


def test_store_inside_root_is_not_indexed(image_folder: Path, make_encoder: Any) -> None:
    report = _index(image_folder, image_folder / "index", make_encoder())
    second = _index(image_folder, image_folder / "index", make_encoder())
    assert report.total == second.total == 12 and second.unchanged == 12
    assert not any("index" in p for p in second.skipped)


def test_interrupted_run_resumes_without_loss_or_duplicates(
    image_folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    crashing = make_encoder(fail_after_batches=2)
    with pytest.raises(KeyboardInterrupt):
        _index(image_folder, tmp_path / "store", crashing, batch_size=4)
    with Store.open(tmp_path / "store") as store:
        committed = len(store)  # two batches of 4 files, one of them broken.jpg
        assert committed == 7 and store.n_rows == 7
    resumed = make_encoder()
    report = _index(image_folder, tmp_path / "store", resumed, batch_size=4)
    assert resumed.images_embedded == 12 - committed and report.indexed == 5 and report.unchanged == 7
    fresh = make_encoder()
    _index(image_folder, tmp_path / "fresh", fresh)
    resumed_state, fresh_state = _store_state(tmp_path / "store"), _store_state(tmp_path / "fresh")
    assert resumed_state.keys() == fresh_state.keys()
    for relpath, vector in fresh_state.items():
        np.testing.assert_allclose(resumed_state[relpath], vector, rtol=1e-6)
    with Store.open(tmp_path / "store") as store:
        assert store.n_rows == len(store) == 12


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from condsim.collection.indexer import index_folder
    from condsim.encoders.base import Encoder

    class DyingEncoder(Encoder):
        model_id = "fake-test-model"
        dim = 16
        batches = 0
        def _embed_images(self, images):
            if self.batches == 2:
                os._exit(9)  # a hard kill: no cleanup, no finally, no rollback
            self.batches += 1
            return np.ones((len(images), 16), np.float32)
        def _embed_texts(self, texts):
            return np.ones((len(texts), 16), np.float32)

    index_folder(sys.argv[1], sys.argv[2], DyingEncoder(), batch_size=3, show_progress=False)
    """
)


def test_hard_killed_process_resumes(image_folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(image_folder), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 9, completed.stderr
    with Store.open(tmp_path / "store") as store:
        assert len(store) == 5 and store.n_rows == 5  # two batches of 3 files, one of them broken.jpg
    resumed = make_encoder()
    report = _index(image_folder, tmp_path / "store", resumed, batch_size=3)
    assert resumed.images_embedded == 7 and report.total == 12
    with Store.open(tmp_path / "store") as store:
        relpaths = [item.relpath for item in store.items()]
        assert len(relpaths) == len(set(relpaths)) == 12 and store.n_rows == 12
