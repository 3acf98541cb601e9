"""The ``h1fault`` command line: parses, calls the package, prints. No logic lives here."""

from __future__ import annotations

from typing import Annotated

import typer

from h1fault.cli_common import DEBUG, err_console
from h1fault.errors import H1FaultError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Fault-tolerant humanoid locomotion research on the Unitree H1.\n\n"
    "Example: h1fault demo   (a small end-to-end CPU run)",
)


TORCHRUN_COMMANDS = ("collect", "train-healthy", "train-failure")
"""Commands that split their work over torchrun's processes; the others refuse to be started
several times (each copy would redo the whole job and write the same outputs)."""


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    DEBUG["enabled"] = debug
    from h1fault.dist import launch_from_env

    cmd = ctx.invoked_subcommand
    try:
        launch = launch_from_env()
    except H1FaultError:
        launch = None  # reported by the commands that use it
    if launch is not None and launch.world_size > 1 and cmd not in TORCHRUN_COMMANDS:
        if launch.rank == 0:
            err_console.print(
                f"[bold red]error:[/] {cmd} runs in one process; start it without torchrun "
                f"(under torchrun: {', '.join(TORCHRUN_COMMANDS)})", highlight=False,
                soft_wrap=True,
            )  # fmt: skip
        raise typer.Exit(1)


def _register() -> None:
    from h1fault import cli_closedloop, cli_data, cli_disc, cli_rl, cli_sim

    cli_sim.register(app)  # joints, demo
    cli_rl.register(app)  # train-healthy, play
    cli_data.register(app)  # collect, dataset build|stats|import
    cli_disc.register(app)  # disc train|eval|export
    cli_closedloop.register(app)  # closed-loop


_register()


def main() -> None:
    """Console-script entry point."""
    app()
