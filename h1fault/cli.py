"""The ``h1fault`` command line: parses, calls the package, prints. No logic lives here."""

from __future__ import annotations

from typing import Annotated

import typer

from h1fault.cli_common import DEBUG

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Fault-tolerant humanoid locomotion research on the Unitree H1.\n\n"
    "Example: h1fault demo   (a small end-to-end CPU run)",
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    DEBUG["enabled"] = debug


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
