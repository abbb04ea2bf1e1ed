"""Question: how does the time per query grow with the number of conditions? (the speed half of CLAY Fig. 8)

Setting as in CLAY §1.3 (Fig. 8): 100 database images (here rendered `objects` drawings instead of
CLAY-shoes), one query image, the number of conditions c = 1..8, average over 10 queries on CPU,
everything measured side by side in one process with the same encoder (built-in model by default,
`--model NAME` for another):

* CLAY: the database is embedded once (an index cost, condition-independent, reported apart). Each
  condition costs once: embed its prompts, `ClaySpace.fit`, transform the database (then cached). A
  query embeds its image once and, per condition, transforms it and scores the cached database.
  Reported: the first query with c conditions (all one-off costs included) and a later query
  (caches warm).
* Re-encode per condition (GeneCIS†-style symmetric baseline): a conditioned image encoder needs a
  fresh forward pass over the database (and the query) for every condition. Modelled as one
  `encode_images` pass over the 100 database images + the query per condition, plus the condition
  text, then cosine; the combiner network GeneCIS adds is *not* counted, which favours the baseline.

Ratios: re-encode time / CLAY warm time per query at each c. Torch threads: as configured
(OMP_NUM_THREADS); written to the JSON. Run: python benchmarks/conditions_scaling.py [--quick] [--model NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json
from condsim.conditions import get_condition
from condsim.data.datasets import DEFAULT_SEEDS
from condsim.data.objects import generate_objects
from condsim.encoders import Encoder, load_encoder
from condsim.methods import ClaySpace, normalized_mean

#: eight built-in conditions, added one at a time
CONDITIONS = ("color", "shape", "texture", "count", "size", "category", "material", "background")
DATABASE_SIZE = 100


def clay_timings(
    encoder: Encoder, database_images: list[Any], queries: list[Any], conditions: int
) -> dict[str, float]:
    """Seconds: database index (once), first query with all one-off condition costs, warm query mean."""
    started = time.perf_counter()
    database = encoder.encode_images(database_images)
    image_mean = normalized_mean(database)
    index_seconds = time.perf_counter() - started

    cache: dict[str, tuple[ClaySpace, np.ndarray]] = {}

    def query(image: Any) -> list[np.ndarray]:
        query_embedding = encoder.encode_images([image])
        rankings = []
        for name in CONDITIONS[:conditions]:
            if name not in cache:
                prompts = encoder.encode_texts(list(get_condition(name).clay_prompts))
                space = ClaySpace(k=50).fit(prompts, image_mean=image_mean)
                cache[name] = (space, space.transform(database))
            space, database_z = cache[name]
            rankings.append(np.argsort(-(database_z @ space.transform(query_embedding)[0])))
        return rankings

    started = time.perf_counter()
    query(queries[0])
    first_seconds = time.perf_counter() - started
    warm = []
    for image in queries:
        started = time.perf_counter()
        query(image)
        warm.append(time.perf_counter() - started)
    return {"index_s": index_seconds, "first_query_s": first_seconds, "warm_query_s": statistics.mean(warm)}


def reencode_timing(
    encoder: Encoder, database_images: list[Any], queries: list[Any], conditions: int
) -> float:
    """Mean seconds per query when every condition needs a fresh encoder pass over the database."""
    texts = {name: f"a photo of {name}" for name in CONDITIONS[:conditions]}
    times = []
    for image in queries:
        started = time.perf_counter()
        for text in texts.values():
            encoder.encode_texts([text])
            embedded = encoder.encode_images([image, *database_images])
            np.argsort(-(embedded[1:] @ embedded[0]))
        times.append(time.perf_counter() - started)
    return statistics.mean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 queries and conditions 1, 2, 4, 8")
    parser.add_argument("--model", default=None, help="encoder name or path (default: built-in model)")
    args = parser.parse_args()

    encoder = load_encoder(args.model)
    n_queries = 3 if args.quick else 10
    counts = (1, 2, 4, 8) if args.quick else tuple(range(1, 9))
    images, _ = generate_objects(DATABASE_SIZE + n_queries, seed=DEFAULT_SEEDS["objects"] + 1, size=128)
    database_images, queries = images[:DATABASE_SIZE], images[DATABASE_SIZE:]
    encoder.encode_images(database_images[:8])  # warm-up (lazy init, allocator)
    encoder.encode_texts(["warm-up"])

    rows = []
    for count in counts:
        clay = clay_timings(encoder, database_images, queries, count)
        reencode = reencode_timing(encoder, database_images, queries, count)
        rows.append({
            "conditions": count,
            "clay_index_s": clay["index_s"],
            "clay_first_query_s": clay["first_query_s"],
            "clay_query_ms": 1000 * clay["warm_query_s"],
            "reencode_query_ms": 1000 * reencode,
            "reencode/clay": reencode / clay["warm_query_s"],
            "reencode/clay_first": reencode / clay["first_query_s"],
        })  # fmt: skip
    first, last = rows[0], rows[-1]
    growth = {
        "clay_query_growth": last["clay_query_ms"] / first["clay_query_ms"],
        "reencode_query_growth": last["reencode_query_ms"] / first["reencode_query_ms"],
    }
    print_table(
        f"Time per query vs number of conditions ({DATABASE_SIZE} database images, {n_queries} queries, "
        f"{encoder.model_id}, torch threads {torch.get_num_threads()})",
        rows,
    )
    print(
        f"from {first['conditions']} to {last['conditions']} conditions: "
        f"CLAY warm query x{growth['clay_query_growth']:.2f}, "
        f"re-encode x{growth['reencode_query_growth']:.2f}"
    )
    path = write_json(
        "conditions_scaling",
        {
            "quick": args.quick,
            "model_id": encoder.model_id,
            "torch_threads": torch.get_num_threads(),
            "database_images": DATABASE_SIZE,
            "queries": n_queries,
            "conditions": list(CONDITIONS),
            "rows": rows,
            **growth,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
