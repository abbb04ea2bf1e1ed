"""What one running service holds: the opened collection, its model (loaded on first need), the
list of items by id, and the one background re-index a client may start.

`Collection` is not thread-safe (its caches are plain dicts), and the app runs request handlers in a
thread pool, so every use of the collection happens under `ServiceState.lock`. The re-index runs in
its own thread with its own store connection; queries go on meanwhile and see the new version as
soon as it commits (`Collection` re-reads the store before every query).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from condsim.collection import Collection, Store, index_folder
from condsim.collection.backends import is_milvus
from condsim.collection.backends.milvus import MilvusBackend
from condsim.collection.store import Item
from condsim.encoders.base import Encoder, ImageInput, PartialEncoding
from condsim.encoders.lazy import LazyEncoder
from condsim.errors import CondsimError, StoreModelMismatchError
from condsim.service.files import folder_of
from condsim.service.params import RequestError

logger = logging.getLogger("condsim.service")


class CountingEncoder(LazyEncoder):
    """The store's model, loaded on the first text or image to encode (`condsim.encoders.lazy`, which
    checks the loaded model's id and dimension against the store's), counting the images it embeds:
    how a re-index reports its progress at GET /api/index.

    A query by an indexed image with cached prompt embeddings never loads the model, so the service
    starts at once; once loaded, the model stays for the life of the service.
    """

    def __init__(self, load: Callable[[], Encoder], *, model_id: str, dim: int) -> None:
        super().__init__(load, model_id=model_id, dim=dim)
        self.images_embedded = 0

    def iter_encode_images(
        self, images: Sequence[ImageInput], batch_size: int = 32
    ) -> Iterator[PartialEncoding]:
        """The indexer's path (batch by batch, decoded ahead in threads), counted as it goes."""
        for encoding in super().iter_encode_images(images, batch_size=batch_size):
            self.images_embedded += len(encoding.indices)
            yield encoding

    def encode_images_partial(
        self, images: Sequence[ImageInput], batch_size: int = 32, show_progress: bool = False
    ) -> PartialEncoding:
        encoding = super().encode_images_partial(images, batch_size=batch_size, show_progress=show_progress)
        self.images_embedded += len(encoding.indices)
        return encoding


def store_encoder(
    source: str | Encoder | None, model_id: str, dim: int, device: str = "auto"
) -> CountingEncoder:
    """The service's encoder for a store of `model_id` (`dim`-d): `source` is a model name or path
    (None: the model the store records), loaded on `device` when first needed, or an encoder already
    built, checked against the store now."""
    if isinstance(source, Encoder):
        built = source
        if built.model_id != model_id or built.dim != dim:
            raise StoreModelMismatchError(
                f"the store was built with model {model_id!r} ({dim}-d), "
                f"not {built.model_id!r} ({built.dim}-d)",
                hint=f"serve it with --model {model_id}",
            )
        return CountingEncoder(lambda: built, model_id=model_id, dim=dim)

    def load() -> Encoder:
        from condsim.encoders import load_encoder

        name = source if source is not None else model_id
        logger.info("loading model %s on %s", name, device)
        return load_encoder(name, device=device)

    return CountingEncoder(load, model_id=model_id, dim=dim)


@dataclass
class IndexJob:
    """The state of the last re-index started through the API (GET /api/index shows it)."""

    state: Literal["idle", "running", "done", "failed"] = "idle"
    started_at: float | None = None
    finished_at: float | None = None
    #: images embedded so far by this run (new or changed files)
    embedded: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None
    _embedded_before: int = field(default=0, repr=False)

    def to_dict(self, images_embedded_now: int) -> dict[str, Any]:
        running = self.state == "running"
        embedded = images_embedded_now - self._embedded_before if running else self.embedded
        end = time.time() if running else self.finished_at
        return {
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": (end - self.started_at) if self.started_at is not None and end is not None else None,
            "embedded": embedded,
            "report": self.report,
            "error": self.error,
            "hint": self.hint,
        }


class ServiceState:
    """The collection a service answers from, opened once (fails fast on a missing store)."""

    def __init__(
        self, store_path: str | Path, model: str | Encoder | None = None, device: str = "auto"
    ) -> None:
        store: Store | MilvusBackend = (
            MilvusBackend.open(str(store_path))
            if is_milvus(store_path)
            else Store.open(Path(store_path).expanduser())
        )
        try:
            self.encoder = store_encoder(model, store.model_id, store.dim, device)
            self.collection = Collection(store, self.encoder)
        except BaseException:
            store.close()
            raise
        #: what a re-index writes to: the store folder, or the Milvus store's address
        self.store_path: str | Path = store.location if isinstance(store, MilvusBackend) else store.path
        self.lock = threading.Lock()
        self._items_version: int | None = None
        self._items: list[Item] = []
        self._items_by_id: dict[int, Item] = {}
        self._job = IndexJob()
        self._job_lock = threading.Lock()

    @property
    def store(self) -> Store | MilvusBackend:
        return self.collection.store

    def close(self) -> None:
        """Close the collection. A re-index still running is not waited for: its thread is a daemon,
        and the store keeps every committed batch if the process ends mid-run (see `store.py`)."""
        with self.lock:
            self.collection.close()

    # ------------------------------------------------------------------ items (call under `lock`)
    def _refresh_items(self) -> None:
        version = self.store.version
        if version != self._items_version:
            self._items = self.store.items()
            self._items_by_id = {item.id: item for item in self._items}
            self._items_version = version

    def items_page(self, offset: int, limit: int) -> tuple[int, list[Item]]:
        """(total, the items in store order from `offset`)."""
        self._refresh_items()
        return len(self._items), self._items[offset : offset + limit]

    def item(self, item_id: int) -> Item:
        """The item with this id; 404 if the store has none (ids change when a file's content does)."""
        self._refresh_items()
        found = self._items_by_id.get(item_id)
        if found is None:
            raise RequestError(
                f"parameter 'id': no image with id {item_id} in the store",
                status_code=404,
                parameter="id",
                hint="ids come from GET /api/images or a result list",
            )
        return found

    def folder(self) -> Path:
        return folder_of(self.store.root)

    # ------------------------------------------------------------------ re-index
    def index_status(self) -> dict[str, Any]:
        with self._job_lock:
            return self._job.to_dict(self.encoder.images_embedded)

    def start_index(self) -> dict[str, Any]:
        """Start re-indexing the store's folder in a background thread; 409 if one is running."""
        root = str(self.folder())
        with self._job_lock:
            if self._job.state == "running":
                raise RequestError(
                    "a re-index is already running", status_code=409, hint="follow it at GET /api/index"
                )
            self._job = IndexJob(
                state="running", started_at=time.time(), _embedded_before=self.encoder.images_embedded
            )
            threading.Thread(target=self._run_index, args=(root,), name="condsim-index", daemon=True).start()
            return self._job.to_dict(self.encoder.images_embedded)

    def _run_index(self, root: str) -> None:
        report: dict[str, Any] | None = None
        error: str | None = None
        hint: str | None = None
        try:
            report = index_folder(root, self.store_path, self.encoder, show_progress=False).to_dict()
        except CondsimError as failure:
            error, hint = str(failure), failure.hint
        except Exception:  # the thread must always record an end; the log keeps the traceback
            logger.exception("re-index of %s failed", root)
            error, hint = "the re-index failed with an internal error", "see the server's log"
        with self._job_lock:
            job = self._job
            job.embedded = self.encoder.images_embedded - job._embedded_before
            job.finished_at = time.time()
            job.report, job.error, job.hint = report, error, hint
            job.state = "failed" if error is not None else "done"
