"""Shared pieces of the CLI layer: option aliases, JSON output, the error boundary."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

# Re-exported: the CLI's stderr console, progress bars and device parsing live in the package.
from h1fault.console import err_console as err_console
from h1fault.console import make_progress as make_progress
from h1fault.console import resolve_device as resolve_device
from h1fault.errors import H1FaultError

console = Console()
"""Human output (tables) to stdout."""

DEBUG = {"enabled": False}
"""Set by the root ``--debug`` switch: show full tracebacks instead of one-line errors."""

SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
EnvsOpt = Annotated[int, typer.Option("--envs", "-n", help="Number of parallel envs.")]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", help="Torch device: cpu, cuda, cuda:N or auto (cuda if available)."),
]
BackendOpt = Annotated[
    str,
    typer.Option("--backend", help="Physics: auto (warp on CUDA, mujoco on CPU), mujoco, warp."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")]


def print_json(obj: Any) -> None:
    """Write ``obj`` as JSON to stdout (NaN-safe)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def fail(message: str) -> None:
    """Raise the user-facing one-line error."""
    raise H1FaultError(message)


F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Decorate a command: known errors become ``error: <message>`` on stderr and exit code 1.

    With the root ``--debug`` switch the original exception and its traceback propagate.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except H1FaultError as exc:
            if DEBUG["enabled"]:
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
