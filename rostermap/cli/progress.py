"""The fetch progress display: one line per collection, on stderr, only on a terminal.

Shows records fetched (of X-Total-Count when the provider sends it), pages,
retries and the rate. A sync that runs from cron or CI writes to a file or a pipe,
where a live display is noise, so it is off there and with ``--quiet``. Lines hold
entity names and counts only: nothing a secret could be in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from rostermap.runtime.sources.rest import FetchObserver

__all__ = ["RichProgress", "progress"]


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>7,.0f}/s" if speed else "      -/s", style="cyan")


class RichProgress:
    """A FetchObserver drawing a rich progress table."""

    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(bar_width=12),
            TextColumn("{task.completed:>9,.0f} records"),
            TextColumn("{task.fields[pages]:>4} pages"),
            TextColumn("{task.fields[retries]:>2} retries"),
            _Rate(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, entity: str, path: str) -> None:
        self._tasks[entity] = self._progress.add_task(entity, total=None, pages=0, retries=0)

    def total(self, entity: str, records: int) -> None:
        self._progress.update(self._tasks[entity], total=records)

    def page(self, entity: str, records: int) -> None:
        task = self._tasks[entity]
        pages = self._progress.tasks[task].fields["pages"] + 1
        self._progress.update(task, advance=records, pages=pages)

    def retry(self, entity: str) -> None:
        task = self._tasks[entity]
        retries = self._progress.tasks[task].fields["retries"] + 1
        self._progress.update(task, retries=retries)

    def done(self, entity: str) -> None:
        task = self._tasks[entity]
        self._progress.update(task, total=self._progress.tasks[task].completed)
        self._progress.stop_task(task)


@contextmanager
def progress(quiet: bool, console: Console | None = None) -> Iterator[FetchObserver | None]:
    """A progress observer when stderr is a terminal and not ``quiet``; else None."""
    console = console or Console(stderr=True)
    if quiet or not console.is_terminal:
        yield None
        return
    with RichProgress(console) as observer:
        yield observer
