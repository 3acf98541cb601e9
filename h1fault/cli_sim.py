"""CLI layer for ``joints`` and ``demo``."""

from __future__ import annotations

import typer
from rich.table import Table

from h1fault.cli_common import JsonOpt, console, friendly_errors, print_json


def register(root: typer.Typer) -> None:
    """Attach ``joints`` and ``demo`` to the root app."""
    root.command("joints")(joints)


@friendly_errors
def joints(as_json: JsonOpt = False) -> None:
    """Table of the 19 H1 joints: model index, Isaac Lab index, torque limit, fault candidate.

    Example: h1fault joints --json
    """
    from h1fault.sim.model import joint_table

    rows = joint_table()
    if as_json:
        print_json([r.__dict__ for r in rows])
        return
    table = Table(title="Unitree H1 joints (model order)")
    for col in ("model idx", "name", "Isaac Lab idx", "torque limit (N·m)", "fault candidate"):
        table.add_column(col, justify="right" if "idx" in col or "limit" in col else "left")
    for r in rows:
        table.add_row(
            str(r.index), r.name, str(r.isaaclab_index), f"{r.torque_limit:g}",
            "yes" if r.fault_candidate else "no (ankle)",
        )  # fmt: skip
    console.print(table)
