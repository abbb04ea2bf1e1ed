"""Shared output of the benchmark scripts: one rich table on stdout and one JSON file per benchmark."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def print_table(title: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Print `rows` (dicts sharing keys; the first row's keys are the columns) as a rich table."""
    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else []
    for column in columns:
        table.add_column(str(column), justify="right")
    for row in rows:
        table.add_row(*(_format(row.get(column)) for column in columns))
    console = Console()
    Console(width=max(console.width, 200)).print(table)


def write_json(name: str, payload: Mapping[str, Any]) -> Path:
    """Write `payload` plus the machine description to benchmarks/results/<name>.json; return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)
