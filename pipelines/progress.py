"""Progress on long steps, on stderr, so nothing runs for minutes without a word.

On a terminal a step shows a spinner with its label and the seconds so far, then stays as
one line with the seconds it took; elsewhere (a log, a pipe, a test) it is a line when it
starts and one when it ends, with the seconds. A step's notes (its stages) replace the
spinner's text on a terminal, and are lines with the seconds so far elsewhere. Results
stay on stdout: only progress goes to stderr.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Step:
    """A long step under way: `note` says which stage of it is running."""

    def __init__(self, label: str, console: Console, progress: Progress | None) -> None:
        self.label = label
        self.started = time.perf_counter()
        self._console = console
        self._progress = progress
        self._task = progress.add_task(label) if progress is not None else None

    def seconds(self) -> float:
        """Seconds since the step started."""
        return time.perf_counter() - self.started

    def note(self, stage: str) -> None:
        """Say which stage of the step is running now."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self.label}: {stage}")
        else:
            self._console.print(f"  {stage} (at {self.seconds():.1f} s)")


@contextmanager
def step(label: str, file: IO[str] | None = None) -> Iterator[Step]:
    """Show `label` while the block runs, then `label: N s` (or `label: stopped after N s`
    when it raised). `file` is where it goes (stderr by default)."""
    console = Console(file=file, stderr=file is None, highlight=False, soft_wrap=True)
    progress = None
    if console.is_terminal:
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        progress.start()
    else:
        console.print(f"{label} …")
    running = Step(label, console, progress)
    ended = "stopped after"
    try:
        yield running
        ended = "done in"
    finally:
        if progress is not None:
            progress.stop()
        console.print(f"{label}: {ended} {running.seconds():.1f} s")
