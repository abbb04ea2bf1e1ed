"""Markdown cells and tables for the bench report: one spelling of numbers, intervals and signs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | int):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def with_interval(value: Any, interval: Any) -> str:
    """ "61.0 (60.2–61.8)": the split-0 value and the 95 % interval over split seeds."""
    if value is None:
        return "–"
    if not interval:
        return cell(value)
    return f"{cell(value)} ({interval[0]:.1f}–{interval[1]:.1f})"


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def spelled(value: Any) -> str:
    """A setting as prose: mappings as `key value, …`, sequences as `a, b`, instead of Python reprs."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {spelled(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
