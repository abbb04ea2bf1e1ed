"""Run every speed benchmark, one after another, and print their headline ratios in one table.

Each benchmark runs in its own process (so one's memory and threads do not skew the next) and writes
its own table and `benchmarks/results/<name>.json`; the two array benchmarks run with one BLAS thread,
as conditional_query.py explains (stable medians on a shared 2-core machine), the encoder ones with
torch's default threads. This script then reads those files back and writes
`benchmarks/results/summary.json`. Run: `python benchmarks/run_all.py [--quick]` (`make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import RESULTS_DIR, print_table, write_json

BENCHMARKS = (
    "conditional_query",
    "collection_query",
    "conditions_scaling",
    "encode_throughput",
    "cli_latency",
    "service_load",
    "fault_harness",
)
SINGLE_BLAS_THREAD = {"conditional_query", "collection_query", "service_load"}
#: the results file of a benchmark whose name differs from its script's
RESULT_FILE = {"fault_harness": "faults"}


def _conditional_query(result: dict[str, Any]) -> list[dict[str, Any]]:
    ratios = (
        ("query/scan", "cached CLAY query / plain scan", "≤ 1.5"),
        ("transform/scan", "transform database / plain scan", "≤ 2 (see the script: k× the arithmetic)"),
    )
    return [
        {
            "benchmark": "conditional_query",
            "measure": f"N={row['N']:,}: {measure}",
            "ratio": row[column],
            "target": target,
        }
        for column, measure, target in ratios
        for row in result["rows"]
    ]


def _collection_query(result: dict[str, Any]) -> list[dict[str, Any]]:
    plain = result["latency_ms"]["plain"]["p50_ms"]
    return [
        {
            "benchmark": "collection_query",
            "measure": f"N={result['n_vectors']:,}: {name} p50 / plain p50",
            "ratio": values["p50_ms"] / plain,
            "target": "≤ 1.5" if name == "clay cached (memory)" else "",
        }
        for name, values in result["latency_ms"].items()
        if name != "plain"
    ]


def _conditions_scaling(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = result["rows"]
    last = rows[-1]
    return [
        {
            "benchmark": "conditions_scaling",
            "measure": f"{row['conditions']} conditions: re-encode / CLAY per query",
            "ratio": row["reencode/clay"],
            "target": "",
        }
        for row in (rows[0], last)
    ]


def _encode_throughput(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "benchmark": "encode_throughput",
            "measure": f"{row['model']} batch {row['batch']} ({row['images/s']:,.0f} images/s) / batch 1",
            "ratio": row["images/s vs batch 1"],
            "target": "",
        }
        for row in result["rows"]
        if row["batch"] == max(r["batch"] for r in result["rows"])
    ]


def _cli_latency(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {row["measure"]: row for row in result["rows"]}
    cached, no_op = rows["similar --by color, cached"], rows["index, nothing to do"]
    images = f"{result['images']:,} images"
    return [
        {
            "benchmark": "cli_latency",
            "measure": f"{images}: cached similar --by color ({cached['peak RSS MB']:.0f} MB) / import torch",
            "ratio": cached["time / import torch"],
            "target": "< 1, < 200 MB",
        },
        {
            "benchmark": "cli_latency",
            "measure": f"{images}: no-op re-index ({no_op['wall s (median)']:.2f} s) / import torch",
            "ratio": no_op["time / import torch"],
            "target": "< 2 s at 10,000 images",
        },
    ]


def _service_load(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {row["query"]: row for row in result["sequential"]}
    cached = rows["by color (cached)"]
    burst = result["burst"]
    return [
        {
            "benchmark": "service_load",
            "measure": f"N={result['n_vectors']:,}: by color over HTTP (p50 {cached['http p50 ms']:.0f} ms) "
            "/ plain over HTTP",
            "ratio": cached["http / plain (p50)"],
            "target": "≤ 1.5, p50 ≤ 50 ms",
        },
        {
            "benchmark": "service_load",
            "measure": f"burst of {burst['requests']} requests ({burst['errors']} errors): p95 / p50",
            "ratio": burst["p95_ms"] / burst["p50_ms"],
            "target": "0 errors",
        },
    ]


def _fault_harness(result: dict[str, Any]) -> list[dict[str, Any]]:
    kills, reads = result["kill_loop"], result["concurrent_reads"]
    return [
        {
            "benchmark": "fault_harness",
            "measure": f"kill -9: {kills['survived']} of {kills['kills']} kills survived",
            "ratio": kills["survived"] / max(kills["kills"], 1),
            "target": "1 (every kill)",
        },
        {
            "benchmark": "fault_harness",
            "measure": f"{reads['queries_during_writes']} queries during writes: wrong results / queries",
            "ratio": reads["wrong_results"] / max(reads["queries_during_writes"], 1),
            "target": "0",
        },
    ]


HEADLINES: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "conditional_query": _conditional_query,
    "collection_query": _collection_query,
    "conditions_scaling": _conditions_scaling,
    "encode_throughput": _encode_throughput,
    "cli_latency": _cli_latency,
    "service_load": _service_load,
    "fault_harness": _fault_harness,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    arguments = parser.parse_args()
    offline = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    one_blas_thread = {**offline, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    here = Path(__file__).resolve().parent
    seconds: dict[str, float] = {}
    failed: list[str] = []
    for name in arguments.only:
        command = [sys.executable, str(here / f"{name}.py"), *(["--quick"] if arguments.quick else [])]
        print(f"\n$ {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        environment = one_blas_thread if name in SINGLE_BLAS_THREAD else offline
        if subprocess.run(command, env=environment, check=False).returncode != 0:
            failed.append(name)
        seconds[name] = time.perf_counter() - start

    headlines: list[dict[str, Any]] = []
    for name in arguments.only:
        if name in failed:
            continue
        result = json.loads((RESULTS_DIR / f"{RESULT_FILE.get(name, name)}.json").read_text())
        headlines.extend(HEADLINES[name](result))
    print()
    print_table("condsim benchmarks: headline ratios (details in each table above)", headlines)
    path = write_json(
        "summary",
        {"quick": arguments.quick, "seconds": seconds, "failed": failed, "headlines": headlines},
    )
    print(f"wrote {path}")
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
