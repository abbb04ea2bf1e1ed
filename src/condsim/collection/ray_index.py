"""Embed an index run's files with Ray Data: `condsim index DIR --store ... --ray [--ray-address A]`.

The plan (what to embed) and the writes are the plain indexer's (`indexer.py`); only the encoding runs
on Ray: the file list becomes a Ray dataset, `map_batches` sends it through a pool of actors, each of
which loads the model once (`load_encoder(model, device=...)`) and returns unit embeddings and the
reason of each file it could not read, and the driver writes the results to the store batch by
batch as they stream back. A batch is written (and, for a local store, fsync'ed and committed) as soon
as it arrives, so a run killed at any point loses at most the batches in flight, and a re-run plans
again and embeds only what the store still lacks.

Without an address (`--ray` alone, and no $RAY_ADDRESS) a local Ray instance is started on this
machine's CPUs; with one (`--ray-address auto`, `ray://HOST:10001`, or $RAY_ADDRESS) the actors run on
that cluster, which must reach the image files by the same paths (a shared file system) and have
condsim installed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from condsim.collection.store import NewItem
from condsim.encoders.base import EncodeFailure, Encoder, PartialEncoding
from condsim.errors import CondsimError, InvalidInputError

RAY_INSTALL = "pip install 'condsim[ray]'"

#: what a Ray actor calls to build its own model: a model name (loaded with `load_encoder`), or a
#: picklable zero-argument factory (tests pass one that builds a small fake encoder)
EncoderSource = str | Callable[[], Encoder]


@dataclass(frozen=True)
class RayOptions:
    """How an index run uses Ray: the cluster `address` (None: a local instance on this machine's
    CPUs), what each actor loads (`encoder`: a model name or a picklable factory; None: a copy of the
    run's own encoder), the torch `device` of the actors, and the size of the actor pool (None: one
    per CPU of the cluster, at most 8)."""

    address: str | None = None
    encoder: EncoderSource | None = None
    device: str = "cpu"
    actors: int | None = None

    @staticmethod
    def shipped(encoder: Encoder) -> Callable[[], Encoder]:
        """A factory that gives each actor its own copy of `encoder`, sent with the actor's arguments."""
        return functools.partial(_same, encoder)


def _same(encoder: Encoder) -> Encoder:
    return encoder


def _ray() -> Any:
    try:
        import ray
        import ray.data  # the Data library is the `ray[data]` extra
    except ImportError as error:
        raise CondsimError("--ray needs Ray Data, which is not installed", hint=RAY_INSTALL) from error
    return ray


class _EmbedActor:
    """One model per actor; called with a batch of {"position", "path"} columns."""

    def __init__(self, source: EncoderSource, device: str, batch_size: int) -> None:
        if isinstance(source, str):
            from condsim.encoders import load_encoder

            self.encoder = load_encoder(source, device=device)
        else:
            self.encoder = source()
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(path) for path in batch["path"]]
        encoded = self.encoder.encode_images_partial(paths, batch_size=self.batch_size)
        embeddings = np.zeros((len(paths), self.encoder.dim), dtype=np.float32)
        reasons = np.full(len(paths), "", dtype=object)
        if encoded.indices:
            embeddings[encoded.indices] = np.asarray(encoded.embeddings, dtype=np.float32)
        for failure in encoded.failures:
            reasons[failure.index] = failure.reason or "could not be embedded"
        return {"position": batch["position"], "embedding": embeddings, "reason": reasons}


def ray_encoded_batches(
    items: Sequence[NewItem],
    source: EncoderSource,
    *,
    address: str | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    actors: int | None = None,
) -> Iterator[PartialEncoding]:
    """Encode `items` on Ray; yield one `PartialEncoding` per batch as batches come back, its indices
    (and its failures' indices) positions in `items`, as `Encoder.iter_encode_images` gives them.

    The same embeddings as `encoder.iter_encode_images` in this process, in arrival order (not
    necessarily the input order). `actors` defaults to the cluster's CPU count (at most 8). A Ray
    instance this call started is shut down when the generator finishes or is closed.
    """
    if batch_size <= 0:
        raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
    if not items:
        return
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            options["address"] = address
        elif not os.environ.get("RAY_ADDRESS"):  # Ray itself connects to $RAY_ADDRESS when set
            options["num_cpus"] = max(1, os.cpu_count() or 1)
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise CondsimError(
                f"cannot start or reach Ray{f' at {address}' if address else ''}: {error}",
                hint="check --ray-address (e.g. auto, or ray://HOST:10001), or drop it to use local Ray",
            ) from error
    try:
        pool = actors or max(1, min(8, int(ray.cluster_resources().get("CPU", 1))))
        rows = [{"position": index, "path": item.abspath} for index, item in enumerate(items)]
        blocks = max(1, min(len(rows) // batch_size, 200))
        embedded = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            _EmbedActor,
            fn_constructor_kwargs={"source": source, "device": device, "batch_size": batch_size},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(pool, blocks)),
            num_cpus=1,
            num_gpus=1 if device.startswith("cuda") else 0,
        )
        for batch in embedded.iter_batches(batch_size=batch_size, batch_format="numpy"):
            yield _as_partial(items, batch)
    finally:
        if started_here:
            ray.shutdown()


def _as_partial(items: Sequence[NewItem], batch: dict[str, np.ndarray]) -> PartialEncoding:
    """One batch of actor output as a `PartialEncoding` indexed by position in `items`."""
    positions = [int(position) for position in batch["position"]]
    reasons = [str(reason) for reason in batch["reason"]]
    good = [slot for slot, reason in enumerate(reasons) if not reason]
    failures = [
        EncodeFailure(positions[slot], items[positions[slot]].abspath, reason)
        for slot, reason in enumerate(reasons)
        if reason
    ]
    embeddings = np.asarray(batch["embedding"], dtype=np.float32)[good]
    return PartialEncoding(embeddings, [positions[slot] for slot in good], failures)
