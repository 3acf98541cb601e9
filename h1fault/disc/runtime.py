"""Device choice and progress bars shared by disc train and eval."""

from __future__ import annotations

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from h1fault.errors import H1FaultError


def resolve_device(device: str) -> torch.device:
    """``auto`` → cuda if available else cpu; a CUDA device without CUDA is a one-line error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise H1FaultError(f"unknown device '{device}' (cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise H1FaultError(f"device '{device}' requested but CUDA is not available here")
    return dev


def make_progress(enabled: bool = True) -> Progress:
    """A rich progress bar on stderr (a silent one when ``enabled`` is false)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        disable=not enabled,
    )
