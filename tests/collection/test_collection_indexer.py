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

from condsim._files import file_sha256
from condsim.collection.indexer import IndexPlan, index_folder, plan_index
from condsim.collection.store import NewItem, Store
from condsim.errors import StoreError, StoreModelMismatchError


def _index(root: Path, store: Path, encoder: Any, **options: Any) -> Any:
    return index_folder(
        root, store, encoder, batch_size=options.pop("batch_size", 4), show_progress=False, **options
    )


def _store_state(store_dir: Path) -> dict[str, np.ndarray]:
    with Store.open(store_dir) as store:
        return {item.relpath: store.vectors([item.row])[0] for item in store.items()}


def test_first_index_lists_failures_and_skips(image_folder: Path, tmp_path: Path, fake_encoder: Any) -> None:
    report = _index(image_folder, tmp_path / "store", fake_encoder)
    assert report.indexed == 12 and report.total == 12 and report.ok
    assert fake_encoder.images_embedded == 12
    assert [Path(f.path).name for f in report.failed] == ["broken.jpg"]
    assert "not a readable image" in report.failed[0].reason
    assert [Path(p).name for p in report.skipped] == ["notes.txt"]
    with Store.open(tmp_path / "store") as store:
        assert store.model_id == fake_encoder.model_id and len(store) == 12
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


def test_empty_folder_reports_nothing_indexed(tmp_path: Path, fake_encoder: Any) -> None:
    (tmp_path / "empty").mkdir()
    report = _index(tmp_path / "empty", tmp_path / "store", fake_encoder)
    assert report.nothing_indexed and not report.ok and report.total == 0


def test_only_bad_files_reports_nothing_indexed(tmp_path: Path, fake_encoder: Any) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    report = _index(tmp_path / "bad", tmp_path / "store", fake_encoder)
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
        model_id = "fake:test"
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


# ---------------------------------------------------------------------------------- the plan step
# The plan needs no model and never decodes an image, so these folders hold arbitrary bytes.


def _write(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def _stored(tmp_path: Path, root: Path, relpaths: list[str]) -> Store:
    """A store holding `relpaths` of `root` as they are on disk now, with one random vector each."""
    store = Store.create(tmp_path / "plan-store", "plan-model", 4)
    files = [root / relpath for relpath in relpaths]
    items = [
        NewItem(relpath, str(path), file_sha256(path), path.stat().st_size, path.stat().st_mtime_ns)
        for relpath, path in zip(relpaths, files, strict=True)
    ]
    store.add(np.random.default_rng(0).standard_normal((len(items), 4)).astype(np.float32), items)
    return store


def _counting_hash(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the files the plan hashes (it must not read a file whose size and mtime still match)."""
    hashed: list[str] = []

    def counting(path: str | os.PathLike[str]) -> str:
        hashed.append(Path(path).name)
        return file_sha256(path)

    monkeypatch.setattr("condsim.collection.index_plan.file_sha256", counting)
    return hashed


def test_plan_of_an_empty_store_embeds_every_image_in_scan_order(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _write(root / "z.png", b"z")
    _write(root / "sub" / "a.JPG", b"a")
    _write(root / "b.webp", b"b")
    _write(root / "readme.txt", b"text")
    _write(root / ".hidden.png", b"h")
    plan = plan_index(root, [])
    assert isinstance(plan, IndexPlan) and plan.root == root
    assert [item.relpath for item in plan.embed] == ["b.webp", "z.png", "sub/a.JPG"]
    assert plan.new == plan.embed and plan.changed == [] and plan.replaces == {}
    assert plan.embed[0] == NewItem(
        "b.webp", str(root / "b.webp"), file_sha256(root / "b.webp"), 1, (root / "b.webp").stat().st_mtime_ns
    )
    assert [Path(path).name for path in plan.skipped] == ["readme.txt"]
    assert plan.unchanged == plan.refresh == plan.moved == plan.copied == plan.removed == plan.failed == []


def test_plan_sorts_every_kind_of_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    names = ["same.png", "touched.png", "changed.png", "moving.png", "gone.png", "original.png"]
    for name in names:
        _write(root / name, name.removesuffix(".png").encode())
    store = _stored(tmp_path, root, names)
    ids = {item.relpath: item.id for item in store.items()}
    rows = {item.relpath: item.row for item in store.items()}
    touched = root / "touched.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 5_000_000_000))
    _write(root / "changed.png", b"other content")
    (root / "sub").mkdir()
    os.replace(root / "moving.png", root / "sub" / "moved.png")
    (root / "gone.png").unlink()
    _write(root / "copy.png", b"original")
    _write(root / "fresh.png", b"fresh")
    hashed = _counting_hash(monkeypatch)

    plan = plan_index(root, store.items())
    store.close()

    assert sorted(hashed) == ["changed.png", "copy.png", "fresh.png", "moved.png", "touched.png"]
    assert sorted(plan.unchanged) == ["original.png", "same.png", "touched.png"]
    assert plan.refresh == [
        (ids["touched.png"], str(touched), touched.stat().st_size, touched.stat().st_mtime_ns)
    ]
    assert [item.relpath for item in plan.changed] == ["changed.png"]
    assert plan.replaces == {"changed.png": ids["changed.png"]}
    assert [item.relpath for item in plan.new] == ["fresh.png"]
    assert [(item_id, item.relpath) for item_id, item in plan.moved] == [(ids["moving.png"], "sub/moved.png")]
    assert [(row, item.relpath) for row, item in plan.copied] == [(rows["original.png"], "copy.png")]
    assert plan.removed == [ids["gone.png"]]
    assert plan.failed == [] and plan.unreadable == []


def test_plan_refreshes_the_place_of_files_whose_folder_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    _write(root / "a.png", b"a")
    store = _stored(tmp_path, root, ["a.png"])
    item_id = store.items()[0].id
    moved = tmp_path / "photos-moved"
    os.replace(root, moved)
    hashed = _counting_hash(monkeypatch)
    plan = plan_index(moved, store.items())
    store.close()
    stat = (moved / "a.png").stat()
    assert hashed == [] and plan.unchanged == ["a.png"] and plan.embed == []
    assert plan.refresh == [(item_id, str(moved / "a.png"), stat.st_size, stat.st_mtime_ns)]


def test_plan_lists_unreadable_files_and_the_stored_items_they_invalidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "photos"
    _write(root / "kept.png", b"kept")
    store = _stored(tmp_path, root, ["kept.png"])
    kept_id = store.items()[0].id
    _write(root / "kept.png", b"new bytes that cannot be read")
    _write(root / "locked.png", b"locked")

    def unreadable(path: str | os.PathLike[str]) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("condsim.collection.index_plan.file_sha256", unreadable)
    plan = plan_index(root, store.items())
    store.close()
    assert [(Path(f.path).name, f.reason) for f in plan.failed] == [
        ("kept.png", "cannot read: Permission denied"),
        ("locked.png", "cannot read: Permission denied"),
    ]
    assert plan.unreadable == [kept_id] and plan.embed == [] and plan.removed == []


def test_plan_writes_nothing_and_skips_the_store_inside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _write(root / "a.png", b"a")
    store = Store.create(root / "index", "plan-model", 4)
    _write(root / "index" / "cache" / "z.png", b"cached file inside the store")
    version, listing = store.version, sorted(root.rglob("*"))
    plan = plan_index(root, store.items(), exclude=store.path)
    assert [item.relpath for item in plan.embed] == ["a.png"] and plan.skipped == []
    assert store.version == version and sorted(root.rglob("*")) == listing
    store.close()


def test_a_changed_file_that_cannot_be_decoded_drops_its_old_embedding(
    image_folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    _index(image_folder, tmp_path / "store", make_encoder())
    (image_folder / "a" / "img03.png").write_bytes(b"\x89PNG but truncated")
    with Store.open(tmp_path / "store") as store:
        plan = plan_index(image_folder.resolve(), store.items(), exclude=store.path)
    assert [item.relpath for item in plan.changed] == ["a/img03.png"] and plan.failed == []
    report = _index(image_folder, tmp_path / "store", make_encoder())
    assert report.removed == 1 and report.indexed == 0 and report.total == 11
    assert "a/img03.png" in {Path(f.path).relative_to(image_folder).as_posix() for f in report.failed}
