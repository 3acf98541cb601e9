"""``train-healthy``: skrl PPO on the vectorised H1 env, in one readable loop.

skrl provides the agent (PPO update, GAE, preprocessors, KL-adaptive LR, TensorBoard writer,
checkpoints); this module owns the loop so it can show a rich progress bar with live episode
statistics and write the run directory users of Isaac Lab + skrl expect.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path

import gymnasium
import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from skrl.agents.torch import ExperimentCfg
from skrl.agents.torch.ppo import PPO, PPO_CFG
from skrl.memories.torch import RandomMemory
from skrl.resources.preprocessors.torch import RunningStandardScaler
from skrl.resources.schedulers.torch import KLAdaptiveLR
from skrl.trainers.torch.sequential import SequentialTrainerCfg

from h1fault.config import dump_yaml
from h1fault.console import err_console
from h1fault.errors import H1FaultError
from h1fault.provenance import new_run_dir, save_code_state
from h1fault.rl.config import TrainRunConfig
from h1fault.rl.models import Policy, Value
from h1fault.sim.vec_env import H1VecEnv


@dataclasses.dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    """The run directory."""
    final_checkpoint: Path
    """``checkpoints/agent_<timesteps>.pt``."""
    best_checkpoint: Path | None
    """``checkpoints/best_agent.pt`` if skrl wrote one."""
    env_steps: int
    """Total env steps (timesteps * num_envs)."""
    wall_s: float
    """Wall-clock time including start-up (s)."""
    steps_per_s: float
    """Env steps per second over the training loop."""
    final_mean_length_s: float
    """Mean episode length of the last episodes (s)."""
    final_mean_return: float
    """Mean episode return of the last episodes."""


def build_agent(env: H1VecEnv, cfg: TrainRunConfig, experiment_dir: Path) -> PPO:
    """skrl PPO agent with policy/value MLPs, running obs normaliser and KL-adaptive LR."""
    device = env.device
    obs_space = gymnasium.spaces.Box(-np.inf, np.inf, (env.num_obs,), np.float32)
    act_space = gymnasium.spaces.Box(-100.0, 100.0, (env.num_actions,), np.float32)
    m, p, t = cfg.agent.models, cfg.agent.ppo, cfg.agent.trainer
    models = {
        "policy": Policy(obs_space, act_space, device, m.policy_hidden, m.activation,
                         m.initial_log_std),
        "value": Value(obs_space, act_space, device, m.value_hidden, m.activation),
    }  # fmt: skip
    memory = RandomMemory(memory_size=p.rollouts, num_envs=env.num_envs, device=device)
    agent_cfg = PPO_CFG(
        rollouts=p.rollouts,
        learning_epochs=p.learning_epochs,
        mini_batches=p.mini_batches,
        discount_factor=p.discount_factor,
        gae_lambda=p.gae_lambda,
        learning_rate=p.learning_rate,
        learning_rate_scheduler=KLAdaptiveLR if p.kl_target > 0 else None,
        learning_rate_scheduler_kwargs={"kl_threshold": p.kl_target} if p.kl_target > 0 else {},
        observation_preprocessor=RunningStandardScaler,
        observation_preprocessor_kwargs={"size": obs_space, "device": device},
        value_preprocessor=RunningStandardScaler,
        value_preprocessor_kwargs={"size": 1, "device": device},
        grad_norm_clip=p.grad_norm_clip,
        ratio_clip=p.ratio_clip,
        value_clip=p.value_clip,
        entropy_loss_scale=p.entropy_loss_scale,
        value_loss_scale=p.value_loss_scale,
        time_limit_bootstrap=p.time_limit_bootstrap,
        experiment=ExperimentCfg(
            directory=str(experiment_dir.parent),
            experiment_name=experiment_dir.name,
            write_interval=t.write_interval,
            checkpoint_interval=t.checkpoint_interval if t.checkpoint_interval > 0 else t.timesteps,
        ),
    )
    agent = PPO(
        models=models, memory=memory, observation_space=obs_space, action_space=act_space,
        device=device, cfg=agent_cfg,
    )  # fmt: skip
    return agent


def load_agent_checkpoint(agent: PPO, path: Path) -> None:
    """Resume: load every module of a skrl checkpoint (weights only, never code)."""
    if not path.exists():
        raise H1FaultError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=agent.device, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise H1FaultError(
            f"cannot read checkpoint {path}: {str(exc).splitlines()[0][:200]}"
        ) from None
    if not isinstance(data, dict) or "policy" not in data:
        raise H1FaultError(f"{path} is not a skrl agent checkpoint (no 'policy' entry)")
    for name, module in agent.checkpoint_modules.items():
        if name not in data or module is None:
            continue
        try:
            module.load_state_dict(data[name])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).splitlines()[0][:200]
            raise H1FaultError(
                f"checkpoint {path} does not match this agent ({name}): {first}"
            ) from None


def train_healthy(
    cfg: TrainRunConfig,
    num_envs: int,
    device: str,
    seed: int = 0,
    backend: str = "auto",
    checkpoint: str | Path | None = None,
    log_root: str | Path = "logs/skrl",
    show_progress: bool = True,
) -> TrainResult:
    """Train a PPO walking policy; returns where everything went and headline numbers."""
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)
    env = H1VecEnv(cfg.env, num_envs=num_envs, device=device, backend=backend, seed=seed)
    run_dir = new_run_dir(log_root, cfg.agent.experiment, suffix="ppo_torch")
    dump_yaml(cfg.env, run_dir / "params" / "env.yaml")
    dump_yaml(cfg.agent, run_dir / "params" / "agent.yaml")
    save_code_state(run_dir / "params")
    agent = build_agent(env, cfg, run_dir)
    timesteps = cfg.agent.trainer.timesteps
    agent.init(trainer_cfg=SequentialTrainerCfg(timesteps=timesteps, headless=True))
    if checkpoint is not None:
        load_agent_checkpoint(agent, Path(checkpoint))
    agent.enable_training_mode(True)

    obs, _ = env.reset()
    n = env.num_envs
    ep_return = torch.zeros(n, device=env.device)
    recent_len: list[float] = []
    recent_ret: list[float] = []
    curve = []
    rollouts = cfg.agent.ppo.rollouts
    episode_log = None  # EpisodeLog of the steps since the last tracking
    max_s = cfg.agent.trainer.max_minutes * 60.0
    t_loop = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]train[/]"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err_console, disable=not show_progress, transient=False,
    )  # fmt: skip
    with progress:
        task = progress.add_task("train", total=timesteps, stats="")
        for t in range(timesteps):
            agent.pre_interaction(timestep=t, timesteps=timesteps)
            with torch.no_grad():
                actions, _ = agent.act(obs, None, timestep=t, timesteps=timesteps)
                next_obs, reward, terminated, truncated, info = env.step(actions)
                agent.record_transition(
                    observations=obs, states=None, actions=actions, rewards=reward[:, None],
                    next_observations=next_obs, next_states=None,
                    terminated=terminated[:, None], truncated=truncated[:, None],
                    infos=info, timestep=t, timesteps=timesteps,
                )  # fmt: skip
                # episode statistics are summed on the device and read once per rollout:
                # reading them (as every float()) waits for the GPU
                episode_log = info["log"] if episode_log is None else episode_log + info["log"]
                if (t + 1) % rollouts == 0 or t == timesteps - 1:
                    for k, v in episode_log.floats().items():
                        agent.track_data(k, v)
                    episode_log = None
                ep_return += reward
                done = terminated | truncated
                if bool(done.any()):
                    recent_ret += ep_return[done].tolist()
                    recent_len += (info["step_in_episode"][done] + 1).tolist()
                    ep_return = torch.where(done, 0.0, ep_return)
                    recent_ret, recent_len = recent_ret[-2000:], recent_len[-2000:]
            agent.post_interaction(timestep=t, timesteps=timesteps)
            obs = next_obs
            if (t + 1) % rollouts == 0 or t == timesteps - 1:
                mean_len = float(np.mean(recent_len)) * env.control_dt if recent_len else 0.0
                mean_ret = float(np.mean(recent_ret)) if recent_ret else 0.0
                elapsed = time.perf_counter() - t_loop
                sps = (t + 1) * n / max(elapsed, 1e-9)
                curve.append((t + 1, (t + 1) * n, elapsed, mean_ret, mean_len, sps))
                stats = f"return {mean_ret:7.2f}  ep len {mean_len:5.1f}s  {sps / 1e3:6.1f}k st/s"
                progress.update(task, completed=t + 1, stats=stats)
                if show_progress and not err_console.is_terminal and len(curve) % 10 == 1:
                    # batch jobs and log files get a plain line instead of a live bar
                    err_console.print(f"t={t + 1}/{timesteps} {elapsed:6.0f}s {stats}")
                if max_s > 0 and elapsed > max_s:
                    err_console.print(f"time budget of {max_s / 60:.1f} min reached at t={t + 1}")
                    break
    timesteps_done = curve[-1][0] if curve else timesteps
    loop_s = time.perf_counter() - t_loop
    final = run_dir / "checkpoints" / f"agent_{timesteps_done}.pt"
    agent.save(str(final))
    agent.write_checkpoint(timestep=timesteps_done, timesteps=timesteps)
    _write_curve(run_dir, curve)
    best = run_dir / "checkpoints" / "best_agent.pt"
    return TrainResult(
        run_dir=run_dir,
        final_checkpoint=final,
        best_checkpoint=best if best.exists() else None,
        env_steps=timesteps_done * n,
        wall_s=time.perf_counter() - t_start,
        steps_per_s=timesteps_done * n / max(loop_s, 1e-9),
        final_mean_length_s=curve[-1][4] if curve else 0.0,
        final_mean_return=curve[-1][3] if curve else 0.0,
    )


def _write_curve(run_dir: Path, curve: list[tuple]) -> None:
    """``curve.csv`` and ``curve.png`` (mean return and episode length vs env steps)."""
    path = run_dir / "curve.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "timestep",
                "env_steps",
                "wall_s",
                "mean_return",
                "mean_episode_length_s",
                "steps_per_s",
            ]
        )
        w.writerows(curve)
    if not curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = np.array(curve)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(arr[:, 1] / 1e6, arr[:, 3])
    ax[0].set(xlabel="env steps (M)", ylabel="mean episode return", title="return")
    ax[1].plot(arr[:, 1] / 1e6, arr[:, 4])
    ax[1].set(xlabel="env steps (M)", ylabel="mean episode length (s)", title="episode length")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "curve.png", dpi=100)
    plt.close(fig)
