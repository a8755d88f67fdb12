"""The progress bar of a long read, on stderr, drawn only when reading takes a while.

Apart from :mod:`flext_logging.cli.render` so that ``trace`` can start reading before
rich is imported: rich is loaded here only once a bar is to be drawn on a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["PROGRESS_DELAY_S", "progress"]

PROGRESS_DELAY_S: Final = 1.0
"""Reading that ends sooner than this (one second) shows no progress bar at all."""


@contextmanager
def progress(
    total_bytes: int, *, enabled: bool | None = None, delay_s: float = PROGRESS_DELAY_S
) -> Iterator[Callable[[int], None]]:
    """Yield a callback told how many bytes were read; past *delay_s*, show a bar on stderr.

    The bar appears only once reading has taken *delay_s* seconds, so quick commands
    print nothing, and only when stderr is a terminal, unless *enabled* decides. With
    *total_bytes* 0 (stdin) it shows the bytes read without an end.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "reading",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("reading", total=total_bytes or None)
    shown_after = time.monotonic() + delay_s
    shown = False

    def advance(count: int) -> None:
        nonlocal shown
        bar.advance(task, count)
        if not shown and time.monotonic() >= shown_after:
            shown = True
            bar.start()

    try:
        yield advance
    finally:
        bar.stop()
