"""The ``h1fault-isaaclab`` command line: parses, calls the package, prints. No logic lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from h1fault.cli_common import (
    DEBUG,
    ForceOpt,
    JsonOpt,
    SeedOpt,
    console,
    friendly_errors,
    print_json,
    print_partial_collect,
)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="h1fault for Isaac Lab 3.0 tasks: fault injection + raw HDF5 recording (kit-less)."
    "\n\nExample: h1fault-isaaclab collect --task Isaac-Velocity-Flat-H1 --envs 4 --steps 200 "
    "--out raw.h5",
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    DEBUG["enabled"] = debug


@app.command()
@friendly_errors
def collect(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output raw HDF5 file.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Fault model overrides, e.g. faults.p_fault=0.5", show_default=False),
    ] = None,
    task: Annotated[str, typer.Option("--task", help="Registered Isaac Lab task id.")] = (
        "Isaac-Velocity-Flat-H1"
    ),
    envs: Annotated[int, typer.Option("--envs", "-n", help="Number of parallel envs.")] = 4,
    steps: Annotated[int, typer.Option("--steps", "-t", help="Env steps to collect.")] = 1000,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="skrl agent checkpoint (default: random-init MLP)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="Torch/Warp device: cpu or cuda:N.")] = (
        "cpu"
    ),
    seed: SeedOpt = 0,
    episode_length_s: Annotated[
        float | None,
        typer.Option("--episode-length-s", help="Episode time-out in s (default: the task's)."),
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Stored obs dtype: float32 or float16.")] = (
        "float32"
    ),
    flush_steps: Annotated[
        int, typer.Option("--flush-steps", help="Steps per write batch / flush / chunk.")
    ] = 32,
    force: ForceOpt = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Roll an Isaac Lab task out under h1fault's fault model and write h1fault's raw file.

    The file is what `h1fault collect` writes: build it with `h1fault dataset build`, check it
    with `h1fault dataset stats` (main h1fault environment). Ctrl-C / SIGTERM stop cleanly
    (exit 130; flushed steps stay readable, no 'complete' flag).

    Example: h1fault-isaaclab collect --task Isaac-Velocity-Flat-H1 --envs 64 --steps 1000
    --checkpoint logs/skrl/h1_flat/<run>/checkpoints/best_agent.pt --out raw.h5
    """
    from h1fault.data.writer import WriterConfig
    from h1fault_isaaclab.collect import run_collect

    wcfg = WriterConfig(dtype=dtype, flush_steps=flush_steps)
    res = run_collect(
        task, out, envs, steps, checkpoint=checkpoint, seed=seed, device=device,
        overrides=list(overrides or []),
        episode_length_s=episode_length_s, writer=wcfg, force=force, progress=not no_progress,
    )  # fmt: skip
    summary = {
        "path": str(res.path), "task": task, "num_envs": res.num_envs, "num_steps": res.num_steps,
        "complete": res.complete, "interrupted": res.interrupted, "num_events": res.num_events,
        "mb_written": res.bytes_written / 1e6, "seconds": res.seconds,
        "env_steps_per_s": res.env_steps_per_s,
    }  # fmt: skip
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"wrote {res.path}: {res.num_steps:,} steps x {res.num_envs:,} envs of {task}, "
            f"{res.num_events:,} fault events, {res.env_steps_per_s:,.0f} env-steps/s"
        )
    if res.interrupted:
        print_partial_collect(res.path, res.num_steps)
        raise typer.Exit(130)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
