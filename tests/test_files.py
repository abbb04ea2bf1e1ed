"""The shared file helpers: atomic writes, file hashes, the cache root, the image suffix list."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condsim._files import (
    IMAGE_SUFFIXES,
    atomic_write,
    atomic_write_text,
    cache_root,
    file_sha256,
    is_image_path,
)


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.npy"
    target.write_bytes(b"old")
    with atomic_write(target) as handle:
        np.save(handle, np.arange(3), allow_pickle=False)
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.npy"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "prompts.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk gone"), atomic_write(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["prompts.json"]


def test_atomic_write_text_creates_the_file(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "card.md", "ünïcode\n")
    assert (tmp_path / "card.md").read_text(encoding="utf-8") == "ünïcode\n"


def test_file_sha256_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    payload = np.random.default_rng(0).bytes((1 << 20) + 123)  # more than one read chunk
    (tmp_path / "blob").write_bytes(payload)
    assert file_sha256(tmp_path / "blob") == hashlib.sha256(payload).hexdigest()


def test_cache_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_root({"CONDSIM_CACHE_DIR": str(tmp_path)}) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root({"CONDSIM_CACHE_DIR": "  "}) == tmp_path / "home" / ".cache" / "condsim"
    assert cache_root({}) == tmp_path / "home" / ".cache" / "condsim"
    monkeypatch.setenv("CONDSIM_CACHE_DIR", str(tmp_path / "from-env"))
    assert cache_root() == tmp_path / "from-env"


def test_every_image_suffix_is_one_pillow_opens() -> None:
    from condsim.encoders.images import register_heif_opener

    assert register_heif_opener()  # HEIC/HEIF: the pillow-heif plugin condsim registers on first decode
    Image.init()
    readable = {suffix for suffix, name in Image.registered_extensions().items() if name in Image.OPEN}
    assert not IMAGE_SUFFIXES - readable, sorted(IMAGE_SUFFIXES - readable)
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in IMAGE_SUFFIXES)
    assert is_image_path("holiday/IMG_0001.JPG") and is_image_path("x.avif") and is_image_path("IMG_2.HEIC")
    assert not is_image_path("notes.txt") and not is_image_path("archive.png.zip")


def test_avif_round_trips_through_pillow() -> None:
    """AVIF is listed because the installed Pillow decodes it; this fails loudly if it stops."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="AVIF")
    buffer.seek(0)
    with Image.open(buffer) as image:
        assert image.size == (8, 8)
