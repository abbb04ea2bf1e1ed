"""Issue 11's fault harness at CI size (under a minute on two cores): kill -9 across add, commit and
compaction; queries during writes that remove and compact; a real full disk (root only). Each test
prints its counts; `python benchmarks/fault_harness.py` runs the same workloads at full size and
records them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults import harness


def _show(name: str, counts: dict[str, object]) -> None:
    print(f"\n{name}: " + json.dumps(counts, indent=None, sort_keys=True))


def test_kill_9_loop(tmp_path: Path) -> None:
    counts = harness.kill_loop(tmp_path, kills=20, images=40)
    _show("kill -9 loop", counts)
    assert counts["errors"] == [] and counts["survived"] == 20
    assert sum(counts["kill_points"].values()) == 20  # type: ignore[union-attr]


def test_reads_during_writes(tmp_path: Path) -> None:
    counts = harness.concurrent_reads(tmp_path, seconds=6.0, images=40)
    _show("reads during writes", counts)
    assert counts["errors"] == [] and counts["wrong_results"] == 0
    assert counts["queries_during_writes"] > 20 and counts["write_rounds"] >= 2  # type: ignore[operator]


def test_disk_full_on_tmpfs(tmp_path: Path) -> None:
    counts = harness.disk_full(tmp_path)
    if "skipped" in counts:
        pytest.skip(str(counts["skipped"]))
    _show("disk full", counts)
    assert counts["errors"] == [] and counts["disk_full_errors_one_line"] == 1
