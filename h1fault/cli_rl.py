"""CLI layer for ``train-healthy`` and ``play`` (thin: parse, call h1fault.rl, print)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from h1fault.cli_common import (
    BackendOpt,
    DeviceOpt,
    JsonOpt,
    SeedOpt,
    console,
    err_console,
    friendly_errors,
    print_json,
)


def register(root: typer.Typer) -> None:
    """Attach ``train-healthy`` and ``play`` to the root app."""
    root.command("train-healthy")(train_healthy)
    root.command("play")(play)


@friendly_errors
def train_healthy(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides key=value, e.g. agent.trainer.timesteps=64000 "
            "env.faults.enabled=false (see params/*.yaml of any run for keys)."
        ),
    ] = None,
    envs: Annotated[
        int | None,
        typer.Option("--envs", "-n", help="Parallel envs (default: 4096 on CUDA, 16 on CPU)."),
    ] = None,
    device: DeviceOpt = "cpu",
    backend: BackendOpt = "auto",
    seed: SeedOpt = 0,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Resume from this skrl checkpoint (agent_<t>.pt).")
    ] = None,
    max_iterations: Annotated[
        int | None,
        typer.Option(
            help="PPO iterations (timesteps = iterations * rollouts); overrides agent.trainer.timesteps."
        ),
    ] = None,
    log_root: Annotated[Path, typer.Option(help="Root of the run directories.")] = Path(
        "logs/skrl"
    ),
    eval_episodes: Annotated[
        int, typer.Option(help="Episodes of a final deterministic play evaluation (0: skip).")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train a healthy H1 walking policy with skrl PPO on flat ground.

    Writes logs/skrl/<experiment>/<YYYY-MM-DD_HH-MM-SS>_ppo_torch/ with checkpoints/,
    params/env.yaml, params/agent.yaml, TensorBoard events, curve.png, and policy.pt/.json
    (a small deployable copy plus how it was made).

    Example: h1fault train-healthy --device cuda --envs 4096 --eval-episodes 256 agent.trainer.timesteps=24000
    """
    import dataclasses

    from h1fault.config import apply_overrides
    from h1fault.rl.config import TrainRunConfig
    from h1fault.rl.ship import write_deployable
    from h1fault.rl.train import train_healthy as run

    cfg = apply_overrides(TrainRunConfig(), overrides or [])
    if max_iterations is not None:
        timesteps = max_iterations * cfg.agent.ppo.rollouts
        cfg = dataclasses.replace(
            cfg, agent=dataclasses.replace(
                cfg.agent, trainer=dataclasses.replace(cfg.agent.trainer, timesteps=timesteps)
            ),
        )  # fmt: skip
    num_envs = envs if envs is not None else (4096 if device.startswith("cuda") else 16)
    result = run(cfg, num_envs=num_envs, device=device, seed=seed, backend=backend,
                 checkpoint=checkpoint, log_root=log_root, show_progress=True)  # fmt: skip
    # the canonical command (every choice explicit) rather than argv, so it reproduces the run
    parts = ["h1fault", "train-healthy", "--envs", str(num_envs), "--device", device,
             "--backend", backend, "--seed", str(seed)]  # fmt: skip
    if checkpoint is not None:
        parts += ["--checkpoint", str(checkpoint)]
    if eval_episodes:
        parts += ["--eval-episodes", str(eval_episodes)]
    parts += [*(overrides or []), f"agent.trainer.timesteps={cfg.agent.trainer.timesteps}"]
    command = " ".join(shlex.quote(p) for p in parts)
    summary = write_deployable(result, cfg, command=command, seed=seed, num_envs=num_envs,
                               device=device, backend=backend, eval_episodes=eval_episodes)  # fmt: skip
    if as_json:
        print_json(summary)
        return
    console.print(f"run dir: {result.run_dir}")
    console.print(
        f"{result.env_steps:,} env steps in {result.wall_s:.0f} s "
        f"({result.steps_per_s / 1e3:.1f}k env-steps/s in the loop); "
        f"last mean episode length {result.final_mean_length_s:.1f} s"
    )
    if "play" in summary:
        _print_play(summary["play"])


@friendly_errors
def play(
    checkpoint: Annotated[
        Path | None, typer.Option(help="Policy checkpoint (default: the shipped walking policy).")
    ] = None,
    episodes: Annotated[
        int, typer.Option("--episodes", "-e", help="Episodes to evaluate (one per env).")
    ] = 16,
    device: DeviceOpt = "cpu",
    backend: BackendOpt = "auto",
    seed: SeedOpt = 0,
    faults: Annotated[
        bool, typer.Option("--faults", help="Evaluate under the default fault model.")
    ] = False,
    video: Annotated[
        Path | None,
        typer.Option(
            help="Render env 0's first episode to this .gif, .webp or .mp4 (needs ffmpeg)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Deterministic rollout of a policy: episode length, falls, velocity tracking per command range.

    Rendering needs an offscreen GL: MUJOCO_GL=egl on GPU machines, MUJOCO_GL=osmesa (apt
    install libosmesa6) on CPU machines.

    Example: h1fault play --episodes 256 --device cuda --json
    """
    from h1fault.rl.play import play as run
    from h1fault.rl.policy import load_policy

    policy = load_policy(checkpoint, device=device)
    report = run(policy, episodes=episodes, device=device, backend=backend, seed=seed,
                 faults=faults, video=video)  # fmt: skip
    import dataclasses

    data = dataclasses.asdict(report) | {"walks": report.walks()}
    if as_json:
        print_json(data)
        return
    _print_play(data)
    if video:
        err_console.print(f"video: {video}")


def _print_play(d: dict) -> None:
    console.print(
        f"{d['episodes']} episodes: mean length {d['mean_episode_length_s']:.1f}/"
        f"{d['max_episode_length_s']:.0f} s ({100 * d['episode_length_ratio']:.1f}%), "
        f"fall rate {100 * d['fall_rate']:.1f}%, lin vel error {d['lin_vel_error']:.3f} m/s, "
        f"ang vel error {d['ang_vel_error']:.3f} rad/s -> "
        + ("[green]walks[/]" if d.get("walks") else "[red]does not meet the walking bar[/]")
    )
    if d.get("faults"):
        ffr = d["fault_fall_rate"]
        console.print(
            f"faulted episodes: {d['fault_episodes']}, their fall rate "
            + (f"{100 * ffr:.1f}%" if ffr is not None else "n/a")
        )
    table = Table(title="tracking per forward-command range")
    for col in ("vx command (m/s)", "steps", "lin vel err (m/s)", "ang vel err (rad/s)"):
        table.add_column(col, justify="right")
    for row in d["per_command"]:
        lo, hi = row["vx_range"]
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        table.add_row(f"{lo:.2f}-{hi:.2f}", str(row["steps"]), fmt(row["lin_vel_error"]),
                      fmt(row["ang_vel_error"]))  # fmt: skip
    console.print(table)
