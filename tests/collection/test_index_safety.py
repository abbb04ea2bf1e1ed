"""Re-indexing never deletes on weak evidence (issue 11, items 4 and 6).

A folder that is missing, emptied, unmounted or unreadable leaves the store as it was and is an
error; an unreadable subfolder keeps its images (listed as unreadable, not as "not images");
`prune=True` empties a store on purpose; a file name that is not valid UTF-8 is a listed failure,
never a crash. Permission errors are simulated (the suite may run as root, which reads anything).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from condsim.collection import Store, index_folder
from condsim.collection.index_plan import NOT_UTF8_REASON, plan_index
from condsim.errors import StoreError


def _index(root: Path, store: Path, encoder: object, **options: object) -> object:
    return index_folder(root, store, encoder, show_progress=False, **options)  # type: ignore[arg-type]


def _count(store: Path) -> int:
    with Store.open(store) as opened:
        return len(opened)


@pytest.fixture
def indexed(image_folder: Path, tmp_path: Path, fake_encoder: object) -> tuple[Path, Path, int]:
    """(folder, store, images in the store) after a first index run."""
    store = tmp_path / "store"
    _index(image_folder, store, fake_encoder)
    return image_folder, store, _count(store)


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """`deny(folder)`: listing that folder raises PermissionError, as chmod 000 does for a non-root user."""
    denied: set[str] = set()
    real_scandir = os.scandir

    def scandir(path: object = ".") -> Iterator[os.DirEntry[str]]:
        if os.fspath(path) in denied:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[arg-type]
        return real_scandir(path)  # type: ignore[arg-type,no-any-return]

    monkeypatch.setattr(os, "scandir", scandir)
    return lambda folder: denied.add(str(folder))


def test_an_emptied_folder_deletes_nothing(indexed: tuple[Path, Path, int], fake_encoder: object) -> None:
    root, store, count = indexed
    for image in root.rglob("*.png"):
        image.unlink()
    with pytest.raises(StoreError, match=f"holds none of the store's {count} images") as raised:
        _index(root, store, fake_encoder)
    assert "--prune" in (raised.value.hint or "")
    assert _count(store) == count


def test_prune_empties_the_store_on_purpose(indexed: tuple[Path, Path, int], fake_encoder: object) -> None:
    root, store, _ = indexed
    for image in root.rglob("*.png"):
        image.unlink()
    report = _index(root, store, fake_encoder, prune=True)
    assert _count(store) == 0 and report.removed > 0  # type: ignore[attr-defined]


def test_a_missing_folder_deletes_nothing(
    indexed: tuple[Path, Path, int], fake_encoder: object, tmp_path: Path
) -> None:
    root, store, count = indexed
    root.rename(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="not a folder; nothing was changed"):
        _index(root, store, fake_encoder)
    assert _count(store) == count


def test_an_unreadable_folder_deletes_nothing(
    indexed: tuple[Path, Path, int], fake_encoder: object, deny: Callable[[Path], None]
) -> None:
    root, store, count = indexed
    deny(root.resolve())
    with pytest.raises(StoreError, match=r"cannot read the folder .* left unchanged"):
        _index(root, store, fake_encoder, prune=True)
    assert _count(store) == count


def test_an_unreadable_subfolder_keeps_its_images(
    indexed: tuple[Path, Path, int], fake_encoder: object, deny: Callable[[Path], None]
) -> None:
    root, store, count = indexed
    under_a = len(list((root / "a").glob("*.png")))
    deny((root / "a").resolve())
    report = _index(root, store, fake_encoder)
    assert _count(store) == count and report.removed == 0  # type: ignore[attr-defined]
    assert report.unreadable_folders == ["a"]  # type: ignore[attr-defined]
    assert len(report.kept) == under_a and all(path.startswith("a/") for path in report.kept)  # type: ignore[attr-defined]
    assert not any("a" in Path(line).parts for line in report.skipped)  # type: ignore[attr-defined]


def test_a_file_deleted_from_a_readable_folder_is_still_forgotten(
    indexed: tuple[Path, Path, int], fake_encoder: object
) -> None:
    root, store, count = indexed
    next(root.rglob("*.png")).unlink()
    report = _index(root, store, fake_encoder)
    assert report.removed == 1 and _count(store) == count - 1  # type: ignore[attr-defined]


def test_the_plan_alone_refuses_an_empty_folder(indexed: tuple[Path, Path, int], tmp_path: Path) -> None:
    _, store, _ = indexed
    empty = tmp_path / "mountpoint"
    empty.mkdir()
    with Store.open(store) as opened:
        items = opened.items()
    with pytest.raises(StoreError, match="not mounted"):
        plan_index(empty, items)
    assert plan_index(empty, items, prune=True).removed  # deliberate: every item goes
    assert plan_index(empty, []).removed == []  # a new store: nothing to protect, nothing to refuse


def test_a_name_that_is_not_utf8_is_a_listed_failure(
    image_folder: Path, tmp_path: Path, fake_encoder: object, make_image: Callable[..., Path]
) -> None:
    bad = os.fsdecode(os.fsencode(image_folder / "a") + b"/caf\xe9.png")
    make_image(Path(bad), (10, 200, 10))
    store = tmp_path / "store"
    for _ in range(2):  # every run, not only the first
        report = _index(image_folder, store, fake_encoder)
        (failure,) = [f for f in report.failed if f.reason == NOT_UTF8_REASON]  # type: ignore[attr-defined]
        assert failure.path.endswith("caf\\xe9.png")
    assert _count(store) == 12
