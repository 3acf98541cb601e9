"""CLI layer for ``train-healthy``, ``train-failure`` and ``play`` (thin: parse, call h1fault.rl, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
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
    resolve_device,
)
from h1fault.validate import at_least

# options shared by train-healthy and train-failure
TrainEnvsOpt = Annotated[
    int | None,
    typer.Option("--envs", "-n", help="Parallel envs (default: 4096 on CUDA, 16 on CPU)."),
]
MaxIterationsOpt = Annotated[
    int | None,
    typer.Option(
        help="PPO iterations (timesteps = iterations * rollouts); overrides agent.trainer.timesteps."
    ),
]
LogRootOpt = Annotated[Path, typer.Option(help="Root of the run directories.")]
CheckpointOpt = Annotated[
    Path | None, typer.Option(help="Resume from a checkpoint of the same command (agent_<t>.pt).")
]


def register(root: typer.Typer) -> None:
    """Attach ``train-healthy`` and ``play`` to the root app."""
    root.command("train-healthy")(train_healthy)
    root.command("play")(play)
    root.command("train-failure")(train_failure)


@friendly_errors
def train_healthy(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides key=value, e.g. agent.trainer.timesteps=64000 "
            "env.faults.enabled=false (see params/*.yaml of any run for keys)."
        ),
    ] = None,
    envs: TrainEnvsOpt = None,
    device: DeviceOpt = "cpu",
    backend: BackendOpt = "auto",
    seed: SeedOpt = 0,
    checkpoint: CheckpointOpt = None,
    max_iterations: MaxIterationsOpt = None,
    log_root: LogRootOpt = Path("logs/skrl"),
    eval_episodes: Annotated[
        int, typer.Option(help="Episodes of a final deterministic play evaluation (0: skip).")
    ] = 0,
    recipe: Annotated[
        str,
        typer.Option(
            help="Named settings applied before the overrides: isaaclab (Isaac Lab's H1-flat "
            "task and PPO, the shipped policy) or fast (about 105 s from a cold start on one "
            "H200, the same quality bar met on 6 of 6 cold seeds; README: Performance)."
        ),
    ] = "isaaclab",
    as_json: JsonOpt = False,
) -> None:
    """Train a healthy H1 walking policy with PPO (skrl's math and checkpoints) on flat ground.

    Writes logs/skrl/<experiment>/<YYYY-MM-DD_HH-MM-SS>_ppo_torch/ with checkpoints/,
    params/env.yaml, params/agent.yaml, TensorBoard events, curve.png, and policy.pt/.json
    (a small deployable copy plus how it was made).

    Under torchrun each rank (GPU) trains --envs envs of one data-parallel run; rank 0 writes
    the run dir; env steps and env-steps/s count all ranks (README: Several GPUs).

    Example: h1fault train-healthy --device cuda --envs 4096 --eval-episodes 256 agent.trainer.timesteps=24000

    Example: h1fault train-healthy --device cuda --recipe fast --eval-episodes 256

    Example: torchrun --standalone --nproc-per-node 2 -m h1fault train-healthy --device cuda --envs 4096
    """
    from h1fault import dist as hdist
    from h1fault.rl.config import TrainRunConfig
    from h1fault.rl.ship import train_healthy_and_ship

    check_train_args(envs, max_iterations, eval_episodes, device)
    cfg, spec = _run_setup(TrainRunConfig(), overrides, max_iterations, envs, device, backend,
                           seed, checkpoint, log_root, eval_episodes, recipe)  # fmt: skip
    with hdist.session(device) as d:
        summary = train_healthy_and_ship(cfg, spec, overrides or [], dist=d)
    if summary is None:  # ranks > 0 of a torchrun run: rank 0 reports
        return
    if as_json:
        print_json(summary)
        return
    _print_run(summary)
    if "play" in summary:
        _print_play(summary["play"])


def check_train_args(
    envs: int | None, max_iterations: int | None, eval_episodes: int, device: str
) -> None:
    """train-healthy's numbers, refused before anything is built: counts >= 1, a real device."""
    if envs is not None:
        at_least("--envs", envs)
    if max_iterations is not None:
        at_least("--max-iterations", max_iterations)
    at_least("--eval-episodes", eval_episodes, 0)
    resolve_device(device)


@friendly_errors
def train_failure(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides key=value, e.g. bank.structure=conditioned "
            "bank.detection_delay_s=[0.1,0.6] agent.trainer.timesteps=12000."
        ),
    ] = None,
    envs: TrainEnvsOpt = None,
    device: DeviceOpt = "cpu",
    backend: BackendOpt = "auto",
    seed: SeedOpt = 0,
    checkpoint: CheckpointOpt = None,
    max_iterations: MaxIterationsOpt = None,
    log_root: LogRootOpt = Path("logs/skrl"),
    as_json: JsonOpt = False,
) -> None:
    """Train the failure-policy bank: one expert per fault-candidate joint, all in one PPO run.

    Every episode gets a fault; the healthy policy drives until the onset plus a detection
    delay (bank.detection_delay_s), then the failed joint's expert takes over. Experts start
    as the healthy policy (bank.healthy_policy, default: the shipped one). Writes the run dir
    like train-healthy, plus bank.pt (deployable: `h1fault closed-loop --bank`) and bank.json.

    Under torchrun each rank (GPU) trains --envs envs of one data-parallel run (as train-healthy).

    Example: h1fault train-failure --device cuda --envs 4096 bank.structure=experts agent.trainer.timesteps=12000
    """
    from h1fault import dist as hdist
    from h1fault.rl.failure import FailureRunConfig
    from h1fault.rl.ship import train_failure_and_ship

    check_train_args(envs, max_iterations, 0, device)
    cfg, spec = _run_setup(FailureRunConfig(), overrides, max_iterations, envs, device, backend,
                           seed, checkpoint, log_root, 0)  # fmt: skip
    with hdist.session(device) as d:
        summary = train_failure_and_ship(cfg, spec, overrides or [], dist=d)
    if summary is None:
        return
    if as_json:
        print_json(summary)
        return
    _print_run(summary)
    console.print(
        f"bank: {summary['bank']} ({summary['structure']}, {len(summary['joints'])} experts)"
    )


def _run_setup(cfg, overrides, max_iterations, envs, device, backend, seed, checkpoint,
               log_root, eval_episodes, recipe="isaaclab"):  # fmt: skip
    """Resolve the recipe, overrides and options into (config, RunSpec)."""
    from h1fault.config import apply_overrides
    from h1fault.rl.config import recipe_overrides
    from h1fault.rl.failure import with_timesteps
    from h1fault.rl.ship import RunSpec, default_num_envs

    cfg = apply_overrides(cfg, [*recipe_overrides(recipe), *(overrides or [])])
    if max_iterations is not None:
        cfg = with_timesteps(cfg, max_iterations * cfg.agent.ppo.rollouts)
    spec = RunSpec(
        num_envs=envs if envs is not None else default_num_envs(device), device=device,
        backend=backend, seed=seed, checkpoint=str(checkpoint) if checkpoint else None,
        log_root=str(log_root), eval_episodes=eval_episodes, recipe=recipe,
    )  # fmt: skip
    return cfg, spec


def _print_run(d: dict) -> None:
    console.print(f"run dir: {escape(str(d['run_dir']))}")
    console.print(
        f"{d['env_steps']:,} env steps in {d['wall_clock_s']:.0f} s "
        f"({d['train_env_steps_per_s'] / 1e3:.1f}k env-steps/s in the loop); "
        f"last mean episode length {d['final_mean_episode_length_s']:.1f} s"
    )


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

    at_least("--episodes", episodes)
    resolve_device(device)
    policy = load_policy(checkpoint, device=device)
    report = run(policy, episodes=episodes, device=device, backend=backend, seed=seed,
                 faults=faults, video=video)  # fmt: skip
    data = report.to_dict()
    if as_json:
        print_json(data)
        return
    _print_play(data)
    if video:
        err_console.print(f"video: {escape(str(video))}")


def _print_play(d: dict) -> None:
    console.print(
        f"{d['episodes']} episodes: mean length {d['mean_episode_length_s']:.1f}/"
        f"{d['max_episode_length_s']:.0f} s ({100 * d['episode_length_ratio']:.1f}%), "
        f"fall rate {100 * d['fall_rate']:.1f}%, lin vel error {d['lin_vel_error']:.3f} m/s, "
        f"ang vel error {d['ang_vel_error']:.3f} rad/s -> "
        + ("[green]walks[/]" if d.get("walks") else "[red]does not meet the walking bar[/]")
    )
    if falls := d["fall_times_s"]:
        times = ", ".join(f"{t:.1f}" for t in falls[:12])
        more = f" (+{len(falls) - 12} more)" if len(falls) > 12 else ""
        console.print(f"falls at {times}{more} s into their episodes; commands change every "
                      f"{d['command_period_s']:g} s")  # fmt: skip
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
