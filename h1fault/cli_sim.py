"""CLI layer for ``joints`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from h1fault.cli_common import JsonOpt, console, err_console, friendly_errors, print_json


def register(root: typer.Typer) -> None:
    """Attach ``joints`` and ``demo`` to the root app."""
    root.command("joints")(joints)
    root.command("demo")(demo)


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
    table.add_column("model", justify="right")
    table.add_column("name", no_wrap=True)
    table.add_column("Isaac Lab", justify="right")
    table.add_column("limit N·m", justify="right")
    table.add_column("fault candidate")
    for r in rows:
        table.add_row(
            str(r.index), r.name, str(r.isaaclab_index), f"{r.torque_limit:g}",
            "yes" if r.fault_candidate else "no (ankle)",
        )  # fmt: skip
    console.print(table)


@friendly_errors
def demo(
    out: Annotated[
        Path,
        typer.Option("--out", help="Root folder; each demo gets a fresh timestamped subfolder."),
    ] = Path("demo_out"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes (a smoke test, under a minute).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The whole loop, small, on the CPU, with the shipped walking policy.

    Faulted rollout summary -> collect -> dataset build -> dataset stats -> disc train -> disc
    eval -> closed loop (knee faults, healthy policy vs the switch to the shipped bank's expert),
    all into demo_out/demo/<timestamp>/ (raw.h5, ds.h5, stats.png, disc/, plots/).

    Example: h1fault demo
    """
    from h1fault.demo import DemoConfig, run_demo

    cfg = DemoConfig.quick() if quick else DemoConfig()
    say = (lambda _: None) if as_json else _say
    summary = run_demo(out, cfg, progress=not as_json, say=say)
    if as_json:
        print_json(summary)
        return
    console.print(
        f"[bold]demo done[/] in {sum(summary['seconds'].values()):.0f} s: {summary['out']}"
    )


def _say(event: tuple[str, dict]) -> None:
    name, data = event
    if name == "rollout":
        table = Table(title="1. rollout of the shipped policy under the fault model")
        table.add_column("what")
        table.add_column("count", justify="right")
        sat = data["saturated_steps"] / max(data["faulted_steps"], 1)
        for label, value in (
            ("env steps", f"{data['env_steps']:,}"),
            ("episodes ended", str(data["episodes_ended"])),
            ("falls", str(data["falls"])),
            ("faults injected", str(data["faults_injected"])),
            ("falls after a fault", str(data["falls_after_fault"])),
            ("steps with a cut limit", f"{data['faulted_steps']:,}"),
            ("... torque saturated at the cut", f"{data['saturated_steps']:,} ({sat:.0%})"),
        ):
            table.add_row(label, value)
        console.print(table)
        joints = ", ".join(f"{k} {v}" for k, v in data["faults_per_joint"].items())
        console.print(f"faults per joint: {joints}")
    elif name == "collect":
        console.print(f"2. collect: {data['env_steps']:,} env steps, {data['events']} fault "
                      f"onsets -> {data['path']} ({data['env_steps_per_s']:,} env-steps/s)")  # fmt: skip
    elif name == "build":
        console.print(f"3. dataset build: {data['samples']:,} samples, {data['episodes']} episodes "
                      f"{data['splits']} -> {data['path']}")  # fmt: skip
    elif name == "stats":
        from h1fault.cli_data import print_report

        console.print("4. dataset stats:")
        print_report(data)
    elif name == "disc_train":
        console.print(f"5. disc train: best epoch {data['best_epoch']} -> {data['checkpoint']}")
    elif name == "disc_eval":
        from h1fault.cli_disc import print_eval_report

        console.print("6. disc eval (test split, streamed as deployed):")
        print_eval_report(data)
    elif name == "closed_loop":
        from h1fault.cli_closedloop import print_report as print_loop_report

        if "skipped" in data:
            console.print(f"7. closed loop: skipped, {data['skipped']}")
        else:
            console.print(f"7. closed loop on knee faults (detector: {data['detector']}):")
            print_loop_report(data)
    err_console.print()
