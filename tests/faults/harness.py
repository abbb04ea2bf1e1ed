"""The fault harness of issue 11: kill -9 across add / commit / compaction, readers during writes
that remove and compact, a real full disk. Each run returns its counts (and the errors it saw) as a
dict; `tests/faults/test_faults.py` runs them at CI size and asserts no error, and
`benchmarks/fault_harness.py` runs them and writes `benchmarks/results/faults.json` (the README cites it).

Workloads use the suite's `FakeEncoder` (deterministic, torch-free), so a clean run's embeddings are
the reference every interrupted store is compared with. Child processes are forked (no re-import);
the parent holds no SQLite connection while it forks.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from condsim.collection import Collection, index_folder
from condsim.collection.integrity import check_store
from condsim.collection.store import Store
from condsim.errors import CondsimError
from helpers import FakeEncoder

#: the phases a kill can land in, as the child reports them (shared integer)
PHASES = ("start", "index", "add", "remove", "compact")
DIM = 16
#: largest |difference| tolerated between two embeddings of one image (batching changes float32 sums)
TOLERANCE = 1e-5


def make_folder(folder: Path, count: int, seed: int = 0) -> Path:
    """`count` distinct small PNGs (a colour plus seeded texture each) under two sub-folders."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        colour = rng.integers(0, 256, 3)
        pixels = np.clip(colour[None, None, :] + rng.integers(-40, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
        path = folder / ("a" if index % 2 else "b") / f"img{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    return folder


def reference_embeddings(folder: Path, encoder: FakeEncoder) -> dict[str, np.ndarray]:
    """relpath -> the embedding a clean run stores for it (one image per call: no batching effects)."""
    paths = sorted(folder.rglob("*.png"))
    return {
        path.relative_to(folder).as_posix(): encoder.encode_images([str(path)])[0].astype(np.float32)
        for path in paths
    }


def compare_with_reference(store: Path, reference: dict[str, np.ndarray]) -> tuple[list[str], float]:
    """(problems, max |Δ|): every image indexed exactly once with the clean run's embedding."""
    problems: list[str] = []
    worst = 0.0
    with Store.open(store) as opened:
        items = opened.items()
        relpaths = [item.relpath for item in items]
        if len(relpaths) != len(set(relpaths)):
            problems.append(f"{len(relpaths) - len(set(relpaths))} images indexed twice")
        if set(relpaths) != set(reference):
            problems.append(f"indexed {len(set(relpaths))} images, expected {len(reference)}")
        if opened.n_rows != len(items):
            problems.append(f"{opened.n_rows - len(items)} holes after a finished run")
        vectors = opened.vectors([item.row for item in items])
    for item, vector in zip(items, vectors, strict=True):
        if item.relpath in reference:
            worst = max(worst, float(np.abs(vector - reference[item.relpath]).max()))
    if worst > TOLERANCE:
        problems.append(f"stored embeddings differ from a clean run by up to {worst:.2e}")
    return problems, worst


def _consistency(store: Path) -> list[str]:
    """Problems of a store right after a kill: it must open, and `condsim check` must find nothing."""
    if not (store / "store.sqlite").exists():
        return []  # killed before the store was created: nothing to check
    try:
        report = check_store(store)
        with Store.open(store):
            pass
    except CondsimError as error:
        return [f"after a kill: {error}"]
    return [f"after a kill: {problem}" for problem in report.problems]


# --------------------------------------------------------------------------------------- kill -9 loop


def _churn(folder: Path, store: Path, seed: int, phase: Any) -> None:
    """Child: index the folder, forget a random 40% and compact, again and again, until killed."""
    rng = random.Random(seed)
    encoder = FakeEncoder(dim=DIM)

    def marked(name: str, method: Any) -> Any:
        def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
            before = phase.value
            phase.value = PHASES.index(name)
            try:
                return method(self, *args, **kwargs)
            finally:
                phase.value = before

        return wrapper

    Store.add = marked("add", Store.add)  # type: ignore[method-assign]
    Store.compact = marked("compact", Store.compact)  # type: ignore[method-assign]
    Store.remove = marked("remove", Store.remove)  # type: ignore[method-assign]
    while True:
        phase.value = PHASES.index("index")
        index_folder(folder, store, encoder, batch_size=rng.choice([2, 3, 5]), show_progress=False)
        with Store.open(store) as opened, opened.writer_lock():
            items = opened.items()
            opened.remove([item.id for item in rng.sample(items, k=int(0.4 * len(items)))])
            opened.compact()


def kill_loop(workdir: Path, *, kills: int = 20, images: int = 40, seed: int = 0) -> dict[str, Any]:
    """`kills` children killed with SIGKILL at random moments of the churn; after each, the store
    must be consistent, and an ordinary index run must leave every image indexed exactly once with
    the clean run's embedding."""
    folder = make_folder(workdir / "photos", images, seed)
    encoder = FakeEncoder(dim=DIM)
    reference = reference_embeddings(folder, encoder)
    store = workdir / "store"
    rng = random.Random(seed)
    context = multiprocessing.get_context("fork")
    phases: Counter[str] = Counter()
    errors: list[str] = []
    worst = 0.0
    survived = 0
    started = time.perf_counter()
    for kill in range(kills):
        phase = context.Value("i", 0, lock=False)
        child = context.Process(target=_churn, args=(folder, store, seed * 1000 + kill, phase), daemon=True)
        child.start()
        time.sleep(rng.uniform(0.05, 0.9))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        phases[PHASES[phase.value]] += 1
        if child.exitcode != -signal.SIGKILL:
            errors.append(f"kill {kill}: the child ended by itself (exit code {child.exitcode})")
            continue
        problems = _consistency(store)
        index_folder(folder, store, encoder, show_progress=False)
        with Store.open(store) as opened, opened.writer_lock():
            opened.compact()
        found, difference = compare_with_reference(store, reference)
        worst = max(worst, difference)
        errors.extend(f"kill {kill}: {problem}" for problem in problems + found)
        survived += not (problems or found)
    return {
        "kills": kills,
        "survived": survived,
        "kill_points": dict(sorted(phases.items())),
        "images": images,
        "max_abs_difference": worst,
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 1),
    }


# ------------------------------------------------------------------------------ readers during writes


def _writer(folder: Path, aside: Path, store: Path, seconds: float, seed: int, rounds: Any) -> None:
    """Child: move a random 40% of the (non-anchor) images away and re-index (removal + compaction),
    move them back and re-index (additions), for `seconds`."""
    rng = random.Random(seed)
    encoder = FakeEncoder(dim=DIM)
    movable = sorted(path for path in folder.rglob("*.png") if not path.name.endswith("0.png"))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        chosen = rng.sample(movable, k=int(0.4 * len(movable)))
        for path in chosen:
            target = aside / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
        index_folder(folder, store, encoder, batch_size=4, show_progress=False, compact_ratio=0.1)
        for path in chosen:
            (aside / path.relative_to(folder)).replace(path)
        index_folder(folder, store, encoder, batch_size=4, show_progress=False, compact_ratio=0.1)
        rounds.value += 1


def concurrent_reads(
    workdir: Path, *, seconds: float = 8.0, images: int = 40, seed: int = 1
) -> dict[str, Any]:
    """Queries (plain and conditional) in this process while a child removes, adds and compacts:
    every query must answer, and every hit must carry its own image's score."""
    folder = make_folder(workdir / "photos", images, seed)
    encoder = FakeEncoder(dim=DIM)
    reference = reference_embeddings(folder, encoder)
    by_path = {str(folder / relpath): vector for relpath, vector in reference.items()}
    store = workdir / "store"
    index_folder(folder, store, encoder, show_progress=False)
    anchors = sorted(str(path) for path in folder.rglob("*0.png"))
    context = multiprocessing.get_context("fork")
    rounds = context.Value("i", 0)
    writer = context.Process(
        target=_writer, args=(folder, workdir / "aside", store, seconds, seed, rounds), daemon=True
    )
    queries = wrong = 0
    errors: list[str] = []
    writer.start()
    with Collection.open(store, encoder) as collection:
        while writer.is_alive():
            anchor = anchors[queries % len(anchors)]
            conditional = queries % 3 == 2
            try:
                hits = collection.similar(anchor, by="color" if conditional else None, k=10)
            except CondsimError as error:
                errors.append(f"query {queries}: {type(error).__name__}: {error}")
                hits = []
            except Exception as error:  # any other exception is exactly what this harness looks for
                errors.append(f"query {queries}: {type(error).__name__}: {error}")
                hits = []
            queries += 1
            for hit in hits:
                known = hit.path in by_path and np.isfinite(hit.score)
                expected = float(by_path[anchor] @ by_path[hit.path]) if known else 0.0
                if not known or (not conditional and abs(hit.score - expected) > 1e-4):
                    wrong += 1
    writer.join()
    if writer.exitcode != 0:
        errors.append(f"the writer failed (exit code {writer.exitcode})")
    return {
        "seconds": seconds,
        "write_rounds": rounds.value,
        "queries_during_writes": queries,
        "wrong_results": wrong,
        "errors": errors,
    }


# ------------------------------------------------------------------------------------------ disk full


@contextlib.contextmanager
def small_tmpfs(mount: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs of `size` at `mount` (True), or yield False when that is not possible (not root)."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield False
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=False)
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def disk_full(workdir: Path, *, images: int = 60, seed: int = 2) -> dict[str, Any]:
    """Index onto a 1 MiB tmpfs until the disk is full: one `StoreError`, a consistent store; after the
    tmpfs grows, the same command finishes the job with the clean run's embeddings."""
    folder = make_folder(workdir / "photos", images, seed)
    wide = FakeEncoder(model_id="fake:wide@2048", dim=2048)  # 8 KiB a row: 1 MiB fills mid-run
    reference = reference_embeddings(folder, wide)
    mount = workdir / "small"
    with small_tmpfs(mount, "1m") as mounted:
        if not mounted:
            return {"skipped": "needs root to mount a tmpfs"}
        errors: list[str] = []
        one_line = 0
        try:
            index_folder(folder, mount / "store", wide, batch_size=4, show_progress=False)
            errors.append("the disk never filled")
        except CondsimError as error:
            one_line += "no space left on device" in str(error) and "\n" not in str(error)
        problems = _consistency(mount / "store")
        with Store.open(mount / "store") as opened:
            kept = len(opened)
        subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
        index_folder(folder, mount / "store", wide, batch_size=4, show_progress=False)
        found, difference = compare_with_reference(mount / "store", reference)
        errors.extend(problems + found)
    return {
        "disk_full_errors_one_line": one_line,
        "images_kept_when_full": kept,
        "images": images,
        "max_abs_difference": difference,
        "errors": errors,
    }
