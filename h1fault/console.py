"""Terminal and device plumbing shared by the package and the CLI (never imports the CLI).

- :data:`err_console`: the one stderr console (progress bars, warnings, the CLI's error line), so
  stdout stays clean for ``--json``.
- :func:`make_progress`: the one rich progress-bar factory (count or byte bars, extra fields);
  :func:`byte_progress` is its one-task byte bar as a context manager.
- :func:`resolve_device`: the one device-string parser (``auto`` = cuda if available, else cpu)
  and existence check; :func:`parse_device` is its parsing half.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from h1fault.errors import H1FaultError

if TYPE_CHECKING:  # torch loads on first use: building and checking datasets never needs it
    import torch

err_console = Console(stderr=True)
"""Progress bars and messages to stderr, so stdout stays clean for ``--json``."""


def make_progress(
    enabled: bool = True,
    *,
    unit: Literal["count", "bytes"] = "count",
    fields: Sequence[str] = (),
    elapsed: bool = False,
) -> Progress:
    """A rich progress bar on :data:`err_console` (a silent one when ``enabled`` is false).

    Columns: the task description, a bar, ``done/total`` (``unit="count"``) or MB and MB/s
    (``unit="bytes"``), one text column per name in ``fields`` (pass their values to
    ``add_task``/``update`` as keyword arguments), the elapsed time if ``elapsed``, and the time
    remaining. The bar stays on screen when it finishes.
    """
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
    ]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn()]
    elif unit == "count":
        columns.append(MofNCompleteColumn())
    else:
        raise ValueError(f"unit must be 'count' or 'bytes', got {unit!r}")
    columns += [TextColumn(f"{{task.fields[{name}]}}") for name in fields]
    if elapsed:
        columns.append(TimeElapsedColumn())
    columns.append(TimeRemainingColumn())
    return Progress(*columns, console=err_console, disable=not enabled, transient=False)


@contextlib.contextmanager
def byte_progress(
    description: str, total_bytes: int, enabled: bool
) -> Iterator[Callable[[int], None]]:
    """A :func:`make_progress` byte bar for one task; yields ``advance(nbytes)``."""
    with make_progress(enabled, unit="bytes") as bar:
        task = bar.add_task(description, total=max(total_bytes, 1))
        yield lambda nbytes: bar.advance(task, nbytes)


def parse_device(device: str) -> torch.device:
    """A device string as a torch device: ``auto`` (cuda if available, else cpu), ``cpu``,
    ``cuda`` or ``cuda:N``; anything else is a one-line :class:`~h1fault.errors.H1FaultError`.
    Does not check that the device exists (:func:`resolve_device` does)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError):
        torch_device = None
    if torch_device is None or torch_device.type not in ("cpu", "cuda"):
        raise H1FaultError(f"unknown --device '{device}' (auto, cpu, cuda or cuda:N)")
    return torch_device


def resolve_device(device: str) -> torch.device:
    """:func:`parse_device`, then check the device exists: a CUDA device on a machine without
    CUDA, or a ``cuda:N`` past the visible GPUs, is a one-line
    :class:`~h1fault.errors.H1FaultError`."""
    import torch

    torch_device = parse_device(device)
    if torch_device.type == "cuda":
        if not torch.cuda.is_available():
            raise H1FaultError(f"--device {device} requested, but CUDA is not available here")
        if (torch_device.index or 0) >= torch.cuda.device_count():
            raise H1FaultError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return torch_device
