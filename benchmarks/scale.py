"""How do plain and conditional queries scale to 1M vectors, exactly and with approximate indexes?

Synthetic clustered unit vectors (d = 512, 1000 clusters in a cone, like CLIP image embeddings, so an
approximate index cannot find neighbours trivially). A condition is a CLAY space (k = 50) fitted on
100 synthetic prompt embeddings; its *materialisation* is z = normalize(Wᵀv) for every vector, which
is what a backend indexes per condition. Backends, side by side in one process:

  exact          numpy scan of the (N × d) or (N × k) matrix + top-10 (the reference for recall)
  faiss-hnsw     FAISS IndexHNSWFlat (M 32, efConstruction 80, efSearch 512), inner product
  faiss-ivf      FAISS IndexIVFFlat (2·√N lists, nprobe 64)
  milvus-lite    Milvus Lite through pymilvus (gRPC on 127.0.0.1, HNSW M 32): the --store milvus-lite path
  rawmap-*       conditional only, no materialisation: the query is mapped back through W (q' = W z_q)
                 and searched in the *plain* index of the raw vectors for 400 candidates, which are then
                 re-scored exactly in z (their z computed on the fly)

Reported per (n, backend, query): recall@10 against exact, p50/p95 latency of one query, the exact
scan's p50 for the same query type, build_s (index build; for conditional rows it includes the
materialisation of z), and bytes (index or vectors held). Written to benchmarks/results/scale.json.
Targets (issue 14): conditional recall@10 ≥ 0.95 at a p50 below exact at every N ≥ 100k; at 1M a
conditional p50 ≤ 5 ms.

Run: `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/scale.py [--quick] [--full]`
(--quick: N = 10k, 100k; default adds 1M; --full adds 10M, ~60 GB of RAM, and the plain HNSW graph
above 200k). Milvus Lite runs only when the `milvus` extra is installed and is skipped for plain
and conditional queries above 100k (its pure-Python server inserts and indexes 1M vectors more slowly
than the rest of the run takes); above 10k it answers 30 queries, not all of them. `--sizes 1000000
--merge` adds one size to the previous results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json
from condsim.collection.backends.faiss_index import AnnConfig, FaissIndex
from condsim.methods import ClaySpace, normalized_mean

DIM, PROMPTS, K_CLAY, TOP, CLUSTERS = 512, 100, 50, 10, 1000
RAWMAP_CANDIDATES = 400
MILVUS_PLAIN_LIMIT = 100_000
#: Milvus Lite's background HNSW build over 1M vectors takes longer than the rest of the run together
MILVUS_LIMIT = 100_000
#: above this N the plain (512-d) HNSW graph is built only with --full (~3 min at 100k on 2 cores)
PLAIN_HNSW_LIMIT = 200_000
MILVUS_QUERIES = 30  # above 10k: Milvus Lite's pure-Python search takes ~N/150k s per query

Searcher = Callable[[np.ndarray], np.ndarray]  # one query (m,) -> its top-10 rows


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix /= np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix


def clustered(rng: np.random.Generator, count: int, centres: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """`count` unit vectors, each a random cluster centre plus isotropic noise, built in chunks."""
    output = np.empty((count, DIM), dtype=np.float32)
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        block = centres[rng.integers(0, len(centres), size)]
        block = block + rng.standard_normal((size, DIM), dtype=np.float32) * np.float32(0.9 / np.sqrt(DIM))
        output[start : start + size] = unit(block)
    return output


def make_data(count: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(database, queries, prompt embeddings); queries are fresh points of the same clusters."""
    rng = np.random.default_rng(seed)
    image_centre = unit(rng.standard_normal(DIM).astype(np.float32))
    centres = unit(
        rng.standard_normal((CLUSTERS, DIM)).astype(np.float32) * 0.7 / np.sqrt(DIM) + image_centre
    )
    text_centre = unit(rng.standard_normal(DIM).astype(np.float32))
    prompts = unit(rng.standard_normal((PROMPTS, DIM)).astype(np.float32) * 0.6 / np.sqrt(DIM) + text_centre)
    return clustered(rng, count, centres), clustered(rng, queries, centres), prompts


def exact_top(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = matrix @ query
    best = np.argpartition(-scores, TOP)[:TOP]
    return best[np.argsort(-scores[best])]


def latencies(search: Searcher, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    """Milliseconds per query (after one warm-up) and each query's result."""
    search(queries[0])
    times, results = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(search(query))
        times.append((time.perf_counter() - start) * 1000)
    return times, results


def recall(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(
        np.mean(
            [len(set(f[:TOP].tolist()) & set(t.tolist())) / TOP for f, t in zip(found, truth, strict=True)]
        )
    )


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


def faiss_searcher(index: FaissIndex) -> Searcher:
    return lambda query: index.search(query[None, :], TOP)[1][0]


def milvus_client(directory: Path) -> Any:
    """One client for the whole run: Milvus Lite's server sends GOAWAY to clients that ping it while
    idle, and a second client on the same address inherits the closed channel."""
    from milvus_lite import server_manager_instance
    from pymilvus import MilvusClient

    return MilvusClient(
        uri=server_manager_instance.start_and_get_uri(str(directory / "bench.db")), timeout=60
    )


def milvus_build(client: Any, name: str, matrix: np.ndarray) -> None:
    from condsim.collection.backends.milvus_layout import create_vector_collection

    create_vector_collection(client, name, "z", matrix.shape[1])
    for start in range(0, len(matrix), 5000):
        block = matrix[start : start + 5000]
        client.insert(name, [{"row": start + i, "z": row} for i, row in enumerate(block)])
    client.flush(name)
    client.load_collection(name)
    while True:  # Milvus Lite builds segment indexes in the background; until then it scans
        state = client.describe_index(name, "z")
        if state.get("state") == "Finished" and not state.get("pending_index_rows"):
            return
        time.sleep(0.5)


def milvus_searcher(client: Any, name: str) -> Searcher:
    def search(query: np.ndarray) -> np.ndarray:
        hits = client.search(
            name,
            data=[query.tolist()],
            limit=TOP,
            output_fields=["row"],
            search_params={"metric_type": "IP", "params": {"ef": 128}},
        )[0]
        return np.asarray([int(hit["row"]) for hit in hits], dtype=np.int64)

    return search


def collection_bytes(data_dir: Path, name: str) -> int:
    """Bytes on disk of one Milvus Lite collection (its folder under the data directory)."""
    return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file() and name in p.parts)


def run_size(count: int, query_count: int, client: Any, client_dir: Path, full: bool) -> list[dict[str, Any]]:
    import faiss

    rows: list[dict[str, Any]] = []
    database, queries, prompts = make_data(count, query_count)
    ids = np.arange(count, dtype=np.int64)
    with timed() as mean_time:
        image_mean = normalized_mean(database)
    space = ClaySpace(k=K_CLAY).fit(prompts, image_mean=image_mean)
    with timed() as transform_time:
        z_database = space.transform(database)
    z_queries = space.transform(queries)
    materialise_s = transform_time[0] + mean_time[0]
    sets = {"plain": (database, queries, 0.0), "conditional": (z_database, z_queries, materialise_s)}
    exact: dict[str, tuple[float, list[np.ndarray]]] = {}
    plain_indexes: dict[str, FaissIndex] = {}
    for query_type, (matrix, query_matrix, extra_s) in sets.items():
        times, truth = latencies(lambda q, m=matrix: exact_top(m, q), query_matrix)
        exact_p50 = statistics.median(times)
        exact[query_type] = (exact_p50, truth)

        def row(backend: str, found: list[np.ndarray], times: list[float], build_s: float, size: int) -> None:
            rows.append(
                {
                    "n": count,
                    "backend": backend,
                    "query": query_type,  # noqa: B023
                    "recall_at_10": round(recall(found, truth), 4),  # noqa: B023
                    "p50_ms": round(statistics.median(times), 3),
                    "p95_ms": round(percentile(times, 95), 3),
                    "exact_p50_ms": round(exact_p50, 3),  # noqa: B023
                    "build_s": round(build_s, 2),
                    "bytes": int(size),
                }
            )
            print(rows[-1], flush=True)

        row("exact", truth, times, extra_s, matrix.nbytes)
        for kind in ("hnsw", "ivf"):
            if kind == "hnsw" and query_type == "plain" and count > PLAIN_HNSW_LIMIT and not full:
                continue
            config = AnnConfig(kind=kind, threshold=0)  # type: ignore[arg-type]
            faiss.omp_set_num_threads(2)
            with timed() as build:
                index = FaissIndex.build(matrix, ids, "bench", config)
            faiss.omp_set_num_threads(1)
            if query_type == "plain":
                plain_indexes[kind] = index
            times, found = latencies(faiss_searcher(index), query_matrix)
            row(f"faiss-{kind}", found, times, build[0] + extra_s, len(faiss.serialize_index(index.index)))
        if query_type == "conditional":
            projection = space.projection_
            for kind, index in plain_indexes.items():

                def rawmap(
                    query: np.ndarray, index: FaissIndex = index, projection: np.ndarray = projection
                ) -> np.ndarray:
                    candidates = index.search((projection @ query)[None, :], RAWMAP_CANDIDATES)[1][0]
                    candidates = candidates[candidates >= 0]
                    rescored = space.transform(database[candidates]) @ query
                    return candidates[np.argsort(-rescored)[:TOP]]

                times, found = latencies(rawmap, query_matrix)
                row(f"rawmap-{kind}", found, times, 0.0, 0)
        if client is not None and count <= (
            MILVUS_LIMIT if query_type == "conditional" else MILVUS_PLAIN_LIMIT
        ):
            name = f"bench_{query_type}_{count}"
            with timed() as build:
                milvus_build(client, name, matrix)
            milvus_queries = query_matrix[: MILVUS_QUERIES if count > 10_000 else 100]
            times, found = latencies(milvus_searcher(client, name), milvus_queries)
            truth_subset = truth[: len(milvus_queries)]
            rows.append(
                {
                    "n": count,
                    "backend": "milvus-lite",
                    "query": query_type,
                    "recall_at_10": round(recall(found, truth_subset), 4),
                    "p50_ms": round(statistics.median(times), 3),
                    "p95_ms": round(percentile(times, 95), 3),
                    "exact_p50_ms": round(exact_p50, 3),
                    "build_s": round(build[0] + extra_s, 2),
                    "bytes": collection_bytes(client_dir, name),
                }
            )
            print(rows[-1], flush=True)
            client.release_collection(name)  # the data dir is deleted at the end of the run
    return rows


def previous_rows() -> list[dict[str, Any]]:
    """The rows of the last results/scale.json (none if there is no readable one)."""
    path = Path(__file__).resolve().parent / "results" / "scale.json"
    try:
        return list(json.loads(path.read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="N = 10k, 100k only (CI)")
    parser.add_argument("--full", action="store_true", help="add N = 10M (needs ~60 GB of RAM)")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the list of N")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-milvus", action="store_true", help="skip Milvus Lite")
    parser.add_argument(
        "--merge", action="store_true", help="keep the rows of other sizes from the previous scale.json"
    )
    args = parser.parse_args()
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    if args.full and not args.sizes:
        sizes.append(10_000_000)
    milvus = not args.no_milvus
    if milvus:
        try:
            import milvus_lite  # noqa: F401
            import pymilvus  # noqa: F401
        except ImportError:
            print("milvus-lite / pymilvus not installed: Milvus rows skipped (pip install 'condsim[milvus]')")
            milvus = False
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="condsim-scale-"))
    try:
        client = milvus_client(workdir) if milvus else None
        for count in sizes:
            rows += run_size(count, args.queries, client, workdir, args.full)
        if args.merge:
            kept = [row for row in previous_rows() if row["n"] not in sizes]
            rows = sorted(kept + rows, key=lambda row: row["n"])
            sizes = sorted({row["n"] for row in rows})
        print_table("scale: recall@10 and latency per backend", rows)
        path = write_json("scale", {"sizes": sizes, "queries": args.queries, "rows": rows})
        print(f"wrote {path}")
    finally:
        if milvus:
            from milvus_lite import server_manager_instance

            server_manager_instance.release_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
