"""Two-level cache (memory, then `STORE/cache/*.npy`) for arrays derived from a store.

What is cached and under which key (built by `collection.py`):

* prompt embeddings: key = (model_id, prompts); they depend on nothing in the collection, so they are
  *persistent* entries that survive re-indexing;
* the collection's image mean µ_db and each condition's transformed database z (CLAY, Eq. 5) or R
  (CRL): key = (store_id, collection version, space fingerprint). They are *versioned* entries: a
  write to the store bumps its version, the key changes, and the old files are deleted on the next
  write, so a stale database is never served.

Files are written atomically (temporary file, fsync, rename) and read back memory-mapped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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

    `directory=None` keeps the cache in memory only (e.g. a read-only store).
    """

    def __init__(self, directory: Path | None, *, max_memory_entries: int = 32) -> None:
        self.directory = directory
        self.max_memory_entries = max_memory_entries
        self.stats: dict[str, CacheStats] = {}
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()

    def _file(self, namespace: str, tag: str, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{namespace}-{tag}-{key}.npy"

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
        path = self._file(namespace, tag, key)
        if path is not None and path.is_file():
            array: np.ndarray | None
            try:
                array = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
            except (OSError, ValueError):  # a damaged cache file is recomputed, never trusted
                array = None
            if array is not None:
                stats.disk_hits += 1
                self._remember(name, array)
                return array
        array = np.ascontiguousarray(compute())
        stats.computed += 1
        self._remember(name, array)
        if path is not None:
            self._write(path, array)
            self._drop_other_tags(namespace, tag)
        return array

    def _remember(self, name: str, array: np.ndarray) -> None:
        self._memory[name] = array
        self._memory.move_to_end(name)
        while len(self._memory) > self.max_memory_entries:
            self._memory.popitem(last=False)

    def _write(self, path: Path, array: np.ndarray) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            with open(temporary, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError:  # a read-only or full disk only loses the on-disk copy; memory still serves
            with contextlib.suppress(OSError, UnboundLocalError):
                temporary.unlink()

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
