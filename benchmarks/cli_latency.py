"""How long does the `condsim` command take as a whole process, and how much memory, next to importing
torch alone? (issue 10: a query by an indexed image must not pay for a model it does not use.)

Measured, each as a fresh process (wall time around the process; peak RSS of that very child from
`os.wait4`), on a store of N small images (10,000; `--quick` 2,000) with the built-in model:

* `python -c "import torch"`: the reference, what any command that loads a model pays first;
* `condsim similar IMG --store S --by color`, cold (the store's caches deleted: the model is loaded
  to embed the condition's prompts, the database is transformed) and cached (the same query again:
  no model, no torch);
* `condsim index FOLDER --store S` with nothing to do (a no-op re-index: stats of N files, no model).

Targets: cached `similar --by color` below `import torch` and under 200 MB; the no-op re-index of
10,000 files under 2 s. The folder and store live in a temp directory reused across runs (built once:
distinct small noise-and-shape PNGs plus a few hundred rendered scenes). Prints one table of times,
memory and ratios to `import torch`; writes benchmarks/results/cli_latency.json.
Run: `python benchmarks/cli_latency.py [--quick] [--repeats R]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json

#: rendered scenes among the images (the rest are cheap synthetic images, so building stays quick)
SCENES = 300
IMAGE_SIDE = 32
TORCH_SECONDS_TARGET = "< import torch"
RSS_TARGET_MB = 200.0
NO_OP_TARGET_S = 2.0


def _environment() -> dict[str, str]:
    """Offline, one BLAS thread (a shared machine), stderr status lines off (no terminal)."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def measure(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of one run of `command` as its own process; fails loudly."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_environment(), text=True
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}:\n{errors}")
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024.0}


def build(workspace: Path, count: int) -> tuple[Path, Path]:
    """The images folder and its store under `workspace`, built once (reused when complete)."""
    from condsim.data.scenes import render_scene, scene_spec_at

    images, store = workspace / "images", workspace / "store"
    done = workspace / "built"
    if done.is_file() and done.read_text() == str(count):
        return images, store
    shutil.rmtree(workspace, ignore_errors=True)
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        folder = images / f"{index // 1000:02d}"
        folder.mkdir(exist_ok=True)
        if index < SCENES:
            picture = render_scene(scene_spec_at(7, index), IMAGE_SIDE)
        else:  # a flat colour, noise and a block: distinct files and embeddings, built in microseconds
            pixels = np.full((IMAGE_SIDE, IMAGE_SIDE, 3), rng.integers(0, 256, 3), dtype=np.uint8)
            pixels += rng.integers(0, 24, pixels.shape, dtype=np.uint8)
            top, left = rng.integers(0, IMAGE_SIDE // 2, 2)
            pixels[top : top + 12, left : left + 12] = rng.integers(0, 256, 3)
            picture = Image.fromarray(pixels)
        picture.save(folder / f"img{index:05d}.png")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "condsim", "index", str(images), "--store", str(store), "--device", "cpu"],
        env=_environment(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built {count:,} images and indexed them in {time.perf_counter() - started:.1f} s")
    done.write_text(str(count))
    return images, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images instead of 10,000")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measure (median kept)")
    arguments = parser.parse_args()
    count = 2_000 if arguments.quick else 10_000
    workspace = Path(tempfile.gettempdir()) / f"condsim-bench-cli-latency-{count}"
    images, store = build(workspace, count)
    query = str(images / "00" / "img00001.png")
    condsim = [sys.executable, "-m", "condsim"]
    similar = [*condsim, "similar", query, "--store", str(store), "--by", "color", "--device", "cpu"]
    no_op = [*condsim, "index", str(images), "--store", str(store), "--device", "cpu"]

    runs: dict[str, list[dict[str, float]]] = {
        "import torch": [],
        "similar --by color, cold": [],
        "similar --by color, cached": [],
        "index, nothing to do": [],
    }
    for _ in range(arguments.repeats):  # interleaved, so a burst of load on the machine hits all alike
        runs["import torch"].append(measure([sys.executable, "-c", "import torch"]))
        shutil.rmtree(store / "cache", ignore_errors=True)
        runs["similar --by color, cold"].append(measure(similar))
        runs["similar --by color, cached"].append(measure(similar))
        runs["index, nothing to do"].append(measure(no_op))

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    torch_seconds = median("import torch", "seconds")
    targets = {
        "similar --by color, cached": f"{TORCH_SECONDS_TARGET}, < {RSS_TARGET_MB:.0f} MB",
        "index, nothing to do": f"< {NO_OP_TARGET_S:.0f} s" if count == 10_000 else "",
    }
    rows: list[dict[str, Any]] = [
        {
            "measure": name,
            "wall s (median)": median(name, "seconds"),
            "peak RSS MB": median(name, "rss_mb"),
            "time / import torch": median(name, "seconds") / torch_seconds,
            "target": targets.get(name, ""),
        }
        for name in runs
    ]
    cached = rows[2]
    met = {
        "cached similar below import torch": cached["wall s (median)"] < torch_seconds,
        "cached similar under 200 MB": cached["peak RSS MB"] < RSS_TARGET_MB,
        "no-op re-index under 2 s": rows[3]["wall s (median)"] < NO_OP_TARGET_S,
    }
    print_table(f"condsim as a whole process, {count:,} images, {arguments.repeats} runs each", rows)
    for name, ok in met.items():
        print(f"{'met' if ok else 'MISSED'}: {name}")
    path = write_json(
        "cli_latency",
        {
            "quick": arguments.quick,
            "images": count,
            "repeats": arguments.repeats,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "rows": rows,
            "runs": runs,
            "targets_met": met,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
