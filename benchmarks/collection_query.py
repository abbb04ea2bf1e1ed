"""Question: on a 100k-image store, what does a conditional query cost next to a plain one?

Measured side by side in one process, through the public `Collection` API:

* plain query (cos(v_q, v_d) over the memory-mapped store, top-k by argpartition);
* conditional CLAY and CRL queries, *first* (fit + transform of the whole database + cache write),
  *cached in memory* (next queries in the same process) and *cached on disk* (first query of a new
  process: z read back memory-mapped);
* index throughput on rendered scenes with the built-in model (skipped, with the reason, when the
  model files are not installed).

The store holds synthetic unit embeddings (d = 384, like the built-in model) written through the
store API, drawn around a shared mean (the "cone" of real image embeddings); conditions are synthetic
prompt embeddings given as `EmbeddedCondition`s. Target: cached conditional query within 1.5x of
plain. Run: python benchmarks/collection_query.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json
from condsim.collection import Collection, EmbeddedCondition, Store, index_folder
from condsim.collection.store import NewItem
from condsim.errors import CondsimError

DIM = 384
K_RESULTS = 20


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def build_store(path: Path, count: int, rng: np.random.Generator) -> float:
    """Write `count` synthetic unit embeddings into a new store; returns seconds taken."""
    started = time.perf_counter()
    cone = _unit(rng.standard_normal((1, DIM)))
    with Store.create(path, "synthetic-384", DIM) as store:
        for start in range(0, count, 20_000):
            size = min(20_000, count - start)
            vectors = _unit(0.6 * cone + rng.standard_normal((size, DIM)) / np.sqrt(DIM))
            items = [
                NewItem(f"synthetic/{i:07d}.png", f"/synthetic/{i:07d}.png", f"{i:064x}", 1, 1)
                for i in range(start, start + size)
            ]
            store.add(vectors, items)
    return time.perf_counter() - started


def make_conditions(count: int, prompts: int, rng: np.random.Generator) -> list[EmbeddedCondition]:
    text_cone = _unit(rng.standard_normal((1, DIM)))
    return [
        EmbeddedCondition(
            f"condition{index}", _unit(0.7 * text_cone + rng.standard_normal((prompts, DIM)) / np.sqrt(DIM))
        )
        for index in range(count)
    ]


def _percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000.0
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95))}


def _timed(collection: Collection, query: str, by: list[EmbeddedCondition], method: str) -> float:
    """Seconds of one `similar` call (the query is a stored path: its embedding is read, not encoded)."""
    started = time.perf_counter()
    collection.similar(query, by=by, method=method, k=K_RESULTS)
    return time.perf_counter() - started


def query_latencies(
    store_dir: Path, count: int, conditions: list[EmbeddedCondition], repeats: int, rng: np.random.Generator
) -> dict[str, dict[str, float]]:
    queries = [f"synthetic/{int(row):07d}.png" for row in rng.integers(count, size=repeats)]
    timings: dict[str, list[float]] = {}
    for method in ("clay", "crl"):
        shutil.rmtree(store_dir / "cache", ignore_errors=True)
        with Collection.open(store_dir) as collection:
            _timed(collection, queries[0], [], "plain")  # page the store in once, for every row alike
            timings[f"{method} first"] = [
                _timed(collection, queries[i], [condition], method) for i, condition in enumerate(conditions)
            ]
            timings[f"{method} cached (memory)"] = [
                _timed(collection, query, [conditions[i % len(conditions)]], method)
                for i, query in enumerate(queries)
            ]
        with Collection.open(store_dir) as reopened:  # a new process sees only the disk cache
            _timed(reopened, queries[0], [], "plain")
            timings[f"{method} cached (disk, new process)"] = [
                _timed(reopened, queries[i], [condition], method) for i, condition in enumerate(conditions)
            ]
    with Collection.open(store_dir) as collection:
        _timed(collection, queries[0], [], "plain")
        timings["plain"] = [_timed(collection, query, [], "plain") for query in queries]
        _timed(collection, queries[0], conditions[:2], "clay")
        timings["clay 2 conditions cached"] = [
            _timed(collection, query, conditions[:2], "clay") for query in queries
        ]
    return {name: _percentiles(samples) for name, samples in timings.items()}


def index_throughput(count: int) -> dict[str, Any]:
    """Index `count` rendered scenes with the built-in model; {"skipped": reason} when unavailable."""
    try:
        from condsim.data.scenes import generate_scenes
        from condsim.encoders import load_encoder

        encoder = load_encoder()
    except (ImportError, CondsimError) as error:
        return {"skipped": f"{type(error).__name__}: {error}"}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "scenes"
        folder.mkdir()
        images, _ = generate_scenes(count, seed=0)
        for index, image in enumerate(images):
            image.save(folder / f"scene{index:05d}.png")
        first = index_folder(folder, Path(scratch) / "store", encoder, show_progress=False)
        second = index_folder(folder, Path(scratch) / "store", encoder, show_progress=False)
    return {
        "images": count,
        "model_id": encoder.model_id,
        "first_run_s": first.seconds,
        "images_per_s": first.images_per_second,
        "incremental_noop_s": second.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k vectors, fewer repeats (a smoke run)")
    parser.add_argument("--size", type=int, default=None, help="number of stored vectors (default 100k)")
    arguments = parser.parse_args()
    count = arguments.size or (20_000 if arguments.quick else 100_000)
    repeats = 20 if arguments.quick else 50
    n_conditions = 4 if arguments.quick else 8
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as scratch:
        store_dir = Path(scratch) / "store"
        write_seconds = build_store(store_dir, count, rng)
        conditions = make_conditions(n_conditions, 100, rng)
        latencies = query_latencies(store_dir, count, conditions, repeats, rng)
    plain = latencies["plain"]["p50_ms"]
    rows = [
        {
            "query": name,
            "p50 ms": values["p50_ms"],
            "p95 ms": values["p95_ms"],
            "p50 / plain": values["p50_ms"] / plain,
        }
        for name, values in latencies.items()
    ]
    title = f"Collection queries, N = {count:,}, d = {DIM}, k = {K_RESULTS} (CLAY k = 50, 100 prompts)"
    print_table(title, rows)
    cached = latencies["clay cached (memory)"]["p50_ms"] / plain
    print(f"cached CLAY / plain = {cached:.2f} (target <= 1.5): {'met' if cached <= 1.5 else 'NOT met'}")
    print(f"store write: {count / write_seconds:,.0f} vectors/s")

    throughput = index_throughput(16 if arguments.quick else 64)
    if "skipped" in throughput:
        print_table(
            "Index throughput (rendered scenes, built-in model)",
            [{"status": "skipped", "reason": throughput["skipped"]}],
        )
    else:
        print_table("Index throughput (rendered scenes, built-in model)", [throughput])
    path = write_json(
        "collection_query",
        {
            "n_vectors": count,
            "dim": DIM,
            "k": K_RESULTS,
            "latency_ms": latencies,
            "cached_clay_over_plain": cached,
            "store_write_vectors_per_s": count / write_seconds,
            "index_throughput": throughput,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
