"""One progress bar for every long step (counts, rate, ETA), and one status line for a step of
unknown length (loading a model, scanning a folder); both silent when disabled."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def make_progress(*, transient: bool = False) -> Progress:
    """A rich Progress showing description, bar, n/total, rate and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        transient=transient,
    )


def track(items: Iterable[T], *, total: int | None, description: str, enabled: bool = True) -> Iterator[T]:
    """Yield `items`, advancing a progress bar by one per item when `enabled`."""
    if not enabled:
        yield from items
        return
    with make_progress() as progress:
        task = progress.add_task(description, total=total, rate="")
        for item in items:
            yield item
            done = progress.tasks[task].completed + 1
            speed = progress.tasks[task].speed
            progress.update(task, completed=done, rate=f"{speed:,.1f}/s" if speed else "")


@contextmanager
def status(message: str, *, enabled: bool = True) -> Iterator[None]:
    """A spinner with `message` on stderr for the duration of the block (nothing on a pipe or when
    not `enabled`), so a terminal shows at once what a slow step is doing."""
    if not enabled:
        yield
        return
    with Console(stderr=True).status(message):
        yield
