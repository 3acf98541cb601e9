"""CLI layer for the rl commands (thin: parse, call h1fault.rl, print)."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Attach this group's commands to the root app."""
