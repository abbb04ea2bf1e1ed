"""Question: what does a query cost through the HTTP service, next to the same query in Python, at 100k
stored vectors, and does the service hold up under a burst of concurrent requests?

One store of N synthetic unit embeddings (d = 384, drawn around a shared mean like real image
embeddings) written through `Store.create`/`add`; the query images are small files inside the store's
folder whose size and mtime are recorded, so a query by REL_PATH reads its stored embedding and
encodes nothing. Conditions are built-in names ("color", "shape"); their prompts are embedded by a
synthetic text encoder (seeded unit vectors per text, the store's model id), once, then cached.

The service runs in a child process (uvicorn on 127.0.0.1, a free port), the client and the Python
API in this one, side by side:

* sequential: p50 / p95 of plain, cached conditional (by=color) and two-condition queries, over HTTP
  (GET /api/similar, k = 20) and through `Collection.similar`, with their ratios;
* burst: CONCURRENCY clients sending REQUESTS conditional and plain queries at once, hard time cap:
  p50 / p95, throughput and errors (must be 0).

Targets: cached conditional query p50 <= 50 ms over HTTP and <= 1.5x a plain query.
Run: `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/service_load.py [--quick]`
(quick: N = 10k, fewer requests). Writes benchmarks/results/service_load.json.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json
from condsim.collection import Collection, Store
from condsim.collection.store import NewItem
from condsim.encoders.base import Encoder

DIM = 384
MODEL_ID = "synthetic-384"
K_RESULTS = 20
QUERY_FILES = 200
CONCURRENCY = 8
BURST_CAP_S = 90.0
QUERIES: dict[str, dict[str, Any]] = {
    "plain": {"method": "plain"},
    "by color (cached)": {"by": ["color"]},
    "by color + shape (cached)": {"by": ["color", "shape"]},
}


class SyntheticTextEncoder(Encoder):
    """Texts -> seeded unit vectors around a text mean (the store's model id); no images."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(self) -> None:
        cone = np.random.default_rng(7).standard_normal(DIM)
        self._cone = cone / np.linalg.norm(cone)

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        raise RuntimeError("the benchmark queries stored images only; nothing should be encoded")

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        rows = [
            0.7 * self._cone
            + np.random.default_rng(zlib.crc32(text.encode())).standard_normal(DIM) / np.sqrt(DIM)
            for text in texts
        ]
        return np.asarray(rows, dtype=np.float32)


def build_store(root: Path, count: int) -> tuple[Path, list[str]]:
    """N synthetic rows in root/store mirroring root/images; returns (store, query REL_PATHs)."""
    rng = np.random.default_rng(0)
    folder = root / "images"
    folder.mkdir(parents=True)
    query_rows = set(rng.choice(count, size=min(QUERY_FILES, count), replace=False).tolist())
    cone = rng.standard_normal(DIM)
    cone /= np.linalg.norm(cone)
    store_path = root / "store"
    with Store.create(store_path, MODEL_ID, DIM) as store:
        for start in range(0, count, 20_000):
            size = min(20_000, count - start)
            vectors = 0.6 * cone + rng.standard_normal((size, DIM)) / np.sqrt(DIM)
            vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
            items = []
            for row in range(start, start + size):
                relpath = f"{row:07d}.png"
                size_bytes, mtime_ns = 1, 1
                if row in query_rows:  # a real file, so the service finds it inside the folder
                    (folder / relpath).write_bytes(b"x")
                    stat = (folder / relpath).stat()
                    size_bytes, mtime_ns = stat.st_size, stat.st_mtime_ns
                items.append(NewItem(relpath, str(folder / relpath), f"{row:064x}", size_bytes, mtime_ns))
            store.add(vectors, items)
        store.set_root(str(folder.resolve()))
    return store_path, [f"{row:07d}.png" for row in sorted(query_rows)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(store: str, port: int) -> None:
    """Child process: the service over `store` with the synthetic encoder."""
    import uvicorn

    from condsim.service import create_app

    app = create_app(store, model=SyntheticTextEncoder())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000.0
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95))}


def _params(relpath: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"image": relpath, "k": K_RESULTS, **options}


def sequential(
    base: str, collection: Collection, folder: Path, queries: list[str], repeats: int
) -> list[dict]:
    """p50/p95 of each query kind over HTTP and in Python, alternating, same images."""
    rows = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for name, options in QUERIES.items():
            for relpath in queries[:3]:  # warm both sides (fit + transform are cached after this)
                client.get("/api/similar", params=_params(relpath, options)).raise_for_status()
                collection.similar(
                    str(folder / relpath),
                    by=options.get("by"),
                    method=options.get("method", "clay"),
                    k=K_RESULTS,
                )
            http_times: list[float] = []
            python_times: list[float] = []
            for index in range(repeats):
                relpath = queries[index % len(queries)]
                started = time.perf_counter()
                client.get("/api/similar", params=_params(relpath, options)).raise_for_status()
                http_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                collection.similar(
                    str(folder / relpath),
                    by=options.get("by"),
                    method=options.get("method", "clay"),
                    k=K_RESULTS,
                )
                python_times.append(time.perf_counter() - started)
            http, python = _percentiles(http_times), _percentiles(python_times)
            rows.append(
                {
                    "query": name,
                    "python p50 ms": python["p50_ms"],
                    "python p95 ms": python["p95_ms"],
                    "http p50 ms": http["p50_ms"],
                    "http p95 ms": http["p95_ms"],
                    "http / python (p50)": http["p50_ms"] / python["p50_ms"],
                }
            )
    plain = rows[0]["http p50 ms"]
    for row in rows:
        row["http / plain (p50)"] = row["http p50 ms"] / plain
    return rows


def burst(base: str, queries: list[str], requests: int) -> dict[str, Any]:
    """CONCURRENCY clients, `requests` queries in all (conditional and plain mixed), at most BURST_CAP_S."""
    kinds = list(QUERIES.values())
    deadline = time.monotonic() + BURST_CAP_S

    def one(index: int, client: httpx.Client) -> tuple[float, int | str]:
        if time.monotonic() > deadline:
            return 0.0, "skipped (time cap)"
        started = time.perf_counter()
        try:
            status: int | str = client.get(
                "/api/similar", params=_params(queries[index % len(queries)], kinds[index % len(kinds)])
            ).status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
        return time.perf_counter() - started, status

    clients = [httpx.Client(base_url=base, timeout=30) for _ in range(CONCURRENCY)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = list(pool.map(lambda i: one(i, clients[i % CONCURRENCY]), range(requests)))
    wall = time.perf_counter() - started
    for client in clients:
        client.close()
    answered = [(seconds, status) for seconds, status in outcomes if status != "skipped (time cap)"]
    errors = [status for _, status in answered if status != 200]
    latencies = _percentiles([seconds for seconds, _ in answered]) if answered else {}
    return {
        "concurrency": CONCURRENCY,
        "requests": len(answered),
        "skipped_by_time_cap": len(outcomes) - len(answered),
        "errors": len(errors),
        "error_kinds": sorted({str(status) for status in errors}),
        "wall_s": wall,
        "requests_per_s": len(answered) / wall if wall > 0 else 0.0,
        **latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10k and fewer requests")
    parser.add_argument("--serve", nargs=2, metavar=("STORE", "PORT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.serve[0], int(arguments.serve[1]))
        return
    count = 10_000 if arguments.quick else 100_000
    repeats = 40 if arguments.quick else 100
    requests = 120 if arguments.quick else 400
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        store, queries = build_store(Path(scratch), count)
        build_s = time.perf_counter() - started
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(store), str(port)], env={**os.environ}
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the service did not start")
                time.sleep(0.2)
            with Collection.open(store, SyntheticTextEncoder()) as collection:
                rows = sequential(base, collection, Path(scratch) / "images", queries, repeats)
            load = burst(base, queries, requests)
        finally:
            server.terminate()
            server.wait(timeout=30)
    conditional = rows[1]
    targets = {
        "cached conditional http p50 <= 50 ms": conditional["http p50 ms"] <= 50.0,
        "cached conditional <= 1.5x plain (http p50)": conditional["http / plain (p50)"] <= 1.5,
        "burst errors == 0": load["errors"] == 0,
    }
    print_table(f"service vs Python API, N = {count:,}, d = {DIM}, k = {K_RESULTS} (sequential)", rows)
    print_table(f"burst: {CONCURRENCY} concurrent clients, cap {BURST_CAP_S:.0f} s", [load])
    print_table("targets", [{"target": name, "met": "yes" if met else "NO"} for name, met in targets.items()])
    path = write_json(
        "service_load",
        {
            "n_vectors": count,
            "dim": DIM,
            "k": K_RESULTS,
            "store_build_s": build_s,
            "sequential": rows,
            "burst": load,
            "targets": targets,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
