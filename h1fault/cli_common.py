"""Shared pieces of the CLI layer: option aliases, JSON output, the error boundary."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

# Re-exported: the CLI's stderr console, progress bars and device parsing live in the package.
from h1fault.console import err_console as err_console
from h1fault.console import make_progress as make_progress
from h1fault.console import resolve_device as resolve_device
from h1fault.errors import H1FaultError, Interrupted

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
    """Write ``obj`` as strict JSON to stdout: NaN and infinities become ``null``."""
    plain = json.loads(json.dumps(obj, default=_json_default))
    sys.stdout.write(json.dumps(_finite(plain), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


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

    An ``OSError`` that reaches here (a file system refusing a write) is reported the same way;
    Ctrl-C is one ``interrupted`` line and exit code 130. With the root ``--debug`` switch the
    original exception and its traceback propagate. Messages are escaped: user text such as
    ``x[bold]y.h5`` is printed as is, never read as rich markup.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (H1FaultError, OSError) as exc:
            if DEBUG["enabled"]:
                raise
            err_console.print(f"[bold red]error:[/] {escape(_one_line(exc))}", highlight=False,
                              soft_wrap=True)  # fmt: skip
            raise typer.Exit(1) from None
        except KeyboardInterrupt as exc:
            if DEBUG["enabled"]:
                raise
            what = str(exc) if isinstance(exc, Interrupted) and str(exc) else "stopped by Ctrl-C"
            err_console.print(f"[yellow]interrupted:[/] {escape(what)}", highlight=False,
                              soft_wrap=True)  # fmt: skip
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_partial_collect(path: Any, num_steps: int) -> None:
    """The warning after an interrupted collect: what the raw file holds and how to build it."""
    err_console.print(
        f"[yellow]interrupted:[/] {escape(str(path))} holds {num_steps:,} steps without the "
        "'complete' flag; build it with --allow-partial", highlight=False,
    )  # fmt: skip


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, H1FaultError):
        return " ".join(str(exc).split("\n"))
    from h1fault.fileio import io_error_text

    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{io_error_text(exc)}"
