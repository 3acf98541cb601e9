"""Rich progress bars on stderr for the data commands (no-ops when disabled)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def byte_progress(description: str, total_bytes: int, enabled: bool) -> Iterator[Callable]:
    """A bar counting bytes (with MB/s); yields ``advance(nbytes)``."""
    if not enabled:
        yield lambda nbytes: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from h1fault.cli_common import err_console

    with Progress(
        TextColumn("{task.description}"), BarColumn(bar_width=20), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(), console=err_console, transient=False,
    ) as prog:  # fmt: skip
        task = prog.add_task(description, total=max(total_bytes, 1))
        yield lambda nbytes: prog.advance(task, nbytes)
