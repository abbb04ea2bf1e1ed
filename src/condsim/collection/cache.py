"""Two-level cache (memory, then `STORE/cache/*.npy`) for arrays derived from a store.

What is cached and under which key (built by `collection.py`):

* prompt embeddings: key = (model_id, prompts); they depend on nothing in the collection, so they are
  *persistent* entries that survive re-indexing;
* the collection's image mean µ_db and each condition's transformed database z (CLAY, Eq. 5) or R
  (CRL): key = (store_id, collection version, space fingerprint). They are *versioned* entries: a
  write to the store bumps its version, the key changes, and the old files are deleted on the next
  write, so a stale database is never served.

Files are written atomically (`condsim._files.atomic_write`) and named
``NAMESPACE-TAG-KEY-CRC.npy``, where CRC is the crc32 of the whole file (header, so shape and dtype,
included) recorded at write time. Every read from disk verifies it; a file that does not match
(zero bytes, truncated, another shape, flipped values) or does not load is deleted and recomputed,
never trusted: the cache can cost time, never a wrong score or a failed query.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from condsim._files import atomic_write
from condsim.errors import StoreCorruptError

_LOG = logging.getLogger(__name__)
_READ_CHUNK = 1 << 20


def cache_key(*parts: object) -> str:
    """A short stable hex key for JSON-able parts (strings, numbers, lists, dicts)."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass
class CacheStats:
    """Counters: where each lookup was answered, and how many arrays had to be computed."""

    memory_hits: int = 0
    disk_hits: int = 0
    computed: int = 0


class ArrayCache:
    """Arrays by (namespace, key): an LRU dict in memory in front of `.npy` files in `directory`.

    `directory=None` keeps the cache in memory only (e.g. a read-only store). A `directory` that is a
    symbolic link is refused (it could point anywhere, and stale entries are deleted there).
    """

    def __init__(self, directory: Path | None, *, max_memory_entries: int = 32) -> None:
        if directory is not None and directory.is_symlink():
            raise StoreCorruptError(
                f"the cache folder {directory} is a symbolic link: condsim writes and deletes files there",
                hint=f"delete {directory} (condsim recreates it; it only holds recomputable arrays)",
            )
        self.directory = directory
        self.max_memory_entries = max_memory_entries
        self.stats: dict[str, CacheStats] = {}
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()

    def get_or_compute(
        self, namespace: str, key: str, compute: Callable[[], np.ndarray], *, tag: str = "p"
    ) -> np.ndarray:
        """The array stored under (namespace, tag, key), computing and storing it on a miss.

        `tag` names the collection state a versioned entry belongs to; storing an entry deletes the
        files of the same namespace with another tag (they describe an older collection).
        """
        stats = self.stats.setdefault(namespace, CacheStats())
        name = f"{namespace}-{tag}-{key}"
        if name in self._memory:
            self._memory.move_to_end(name)
            stats.memory_hits += 1
            return self._memory[name]
        array = self._load(name)
        if array is not None:
            stats.disk_hits += 1
            self._remember(name, array)
            return array
        array = np.ascontiguousarray(compute())
        stats.computed += 1
        self._remember(name, array)
        if self.directory is not None:
            self._write(name, array)
            self._drop_other_tags(namespace, tag)
        return array

    def _load(self, name: str) -> np.ndarray | None:
        """The verified array stored on disk under `name`, or None (damaged files are deleted)."""
        if self.directory is None:
            return None
        for path in sorted(self.directory.glob(f"{name}-*.npy")):
            array = _load_verified(path)
            if array is not None:
                return array
            _LOG.debug("cache file %s is damaged: recomputing it", path)
            with contextlib.suppress(OSError):
                path.unlink()
        return None

    def _remember(self, name: str, array: np.ndarray) -> None:
        self._memory[name] = array
        self._memory.move_to_end(name)
        while len(self._memory) > self.max_memory_entries:
            self._memory.popitem(last=False)

    def _write(self, name: str, array: np.ndarray) -> None:
        assert self.directory is not None
        payload = io.BytesIO()
        np.save(payload, array, allow_pickle=False)
        data = payload.getbuffer()
        # a read-only or full disk only loses the on-disk copy; memory still serves
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            for old in self.directory.glob(f"{name}*.npy"):  # damaged or older-format copies
                old.unlink()
            with atomic_write(self.directory / f"{name}-{zlib.crc32(data) & 0xFFFFFFFF:08x}.npy") as handle:
                handle.write(data)

    def _drop_other_tags(self, namespace: str, tag: str) -> None:
        if self.directory is None or tag == "p":
            return
        for stale in self.directory.glob(f"{namespace}-*.npy"):
            if not stale.name.startswith(f"{namespace}-{tag}-"):
                with contextlib.suppress(OSError):
                    stale.unlink()
        for name in [name for name in self._memory if name.startswith(f"{namespace}-")]:
            if not name.startswith(f"{namespace}-{tag}-"):
                del self._memory[name]

    def clear_memory(self) -> None:
        """Forget the in-memory entries (files stay)."""
        self._memory.clear()

    def info(self) -> dict[str, dict[str, int]]:
        """Counters per namespace, e.g. {"z": {"memory_hits": 3, "disk_hits": 0, "computed": 1}}."""
        return {
            namespace: {"memory_hits": s.memory_hits, "disk_hits": s.disk_hits, "computed": s.computed}
            for namespace, s in self.stats.items()
        }


def _file_crc(path: Path) -> str:
    """crc32 of a file's bytes as 8 hex digits (read in chunks)."""
    crc = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
            crc = zlib.crc32(chunk, crc)
    return f"{crc & 0xFFFFFFFF:08x}"


def _load_verified(path: Path) -> np.ndarray | None:
    """The array in a cache file whose bytes match the checksum in its name, else None."""
    try:
        if _file_crc(path) != path.stem.rpartition("-")[2]:
            return None
        return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    except Exception:  # any unreadable cache file is recomputed, whatever it raises
        return None


def verify_cache_file(path: Path) -> bool:
    """Whether a cache file is intact (for `condsim check`)."""
    return _load_verified(path) is not None
