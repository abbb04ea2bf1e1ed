"""The fault harness of issue 11 at full size: kill -9 across add / commit / compaction, queries while
an index run removes and compacts, and a real full disk (a tmpfs, root only). Prints one table of
counts and writes `benchmarks/results/faults.json` (git-ignored; the README's reliability section
cites the committed copy `docs/reliability.json`: copy it there after a full run).

The workloads live in `tests/faults/harness.py` (the CI runs them smaller, in `tests/faults/`).
Run: `python benchmarks/fault_harness.py [--kills 60] [--seconds 30] [--quick]` (`run_all.py` runs it too).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests"))
from _report import print_table, write_json  # noqa: E402
from faults import harness  # noqa: E402

#: --quick: the issue's minimum of kills, and a short concurrent run (about 30 s in all on two cores)
QUICK_KILLS, QUICK_SECONDS = 20, 8.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=60, help="children killed with SIGKILL")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the concurrent run")
    parser.add_argument("--images", type=int, default=60, help="images in each workload's folder")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run ({QUICK_KILLS} kills, {QUICK_SECONDS:g} s of reads)"
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.kills, arguments.seconds = min(arguments.kills, QUICK_KILLS), QUICK_SECONDS
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "kill").mkdir()
        (work / "read").mkdir()
        (work / "full").mkdir()
        results["kill_loop"] = harness.kill_loop(
            work / "kill", kills=arguments.kills, images=arguments.images
        )
        results["concurrent_reads"] = harness.concurrent_reads(
            work / "read", seconds=arguments.seconds, images=arguments.images
        )
        results["disk_full"] = harness.disk_full(work / "full", images=arguments.images)
    kill, reads, full = results["kill_loop"], results["concurrent_reads"], results["disk_full"]
    print_table(
        "Fault harness (issue 11)",
        [
            {
                "run": "kill -9 loop",
                "count": f"{kill['survived']}/{kill['kills']} kills survived",
                "detail": str(kill["kill_points"]),
                "errors": len(kill["errors"]),
            },
            {
                "run": "reads during writes",
                "count": f"{reads['queries_during_writes']} queries",
                "detail": f"{reads['write_rounds']} rounds, {reads['wrong_results']} wrong results",
                "errors": len(reads["errors"]),
            },
            {
                "run": "disk full (tmpfs)",
                "count": str(full.get("disk_full_errors_one_line", "skipped")),
                "detail": full.get("skipped", f"{full.get('images_kept_when_full')} images kept"),
                "errors": len(full.get("errors", [])),
            },
        ],
    )
    write_json("faults", results)
    errors = kill["errors"] + reads["errors"] + full.get("errors", [])
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
