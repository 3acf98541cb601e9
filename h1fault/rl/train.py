"""PPO training loop shared by ``train-healthy`` and ``train-failure``, in one readable loop.

The agent is :class:`~h1fault.rl.ppo.PPO` (skrl's math and checkpoint layout, our own hot
loop: see that module for why). This module owns the loop, the rich progress bar with live
episode statistics, TensorBoard, checkpoints and the run directory users of Isaac Lab + skrl
expect (``logs/skrl/<experiment>/<time>_ppo_torch/``).

A :class:`Takeover` lets a frozen policy drive some envs on some steps (the failure bank trains
only after the fault has been detected); the PPO then learns from the other steps only.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from h1fault.config import dump_yaml
from h1fault.console import err_console, make_progress
from h1fault.dist import Dist
from h1fault.errors import H1FaultError
from h1fault.provenance import new_run_dir, save_code_state
from h1fault.rl.config import AgentConfig, TrainRunConfig
from h1fault.rl.ppo import PPO, GaussianActor, ValueNet
from h1fault.sim.vec_env import H1VecEnv


@dataclasses.dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    """The run directory."""
    final_checkpoint: Path
    """``checkpoints/agent_<timesteps>.pt``."""
    best_checkpoint: Path | None
    """``checkpoints/best_agent.pt`` (best mean return at a checkpoint), if written."""
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
    world_size: int = 1
    """Processes that trained together (torchrun); env_steps and steps_per_s count them all."""
    startup_s: float = 0.0
    """Wall-clock from the call to the first training step: env (kernel compile, CUDA graphs),
    agent, run dir."""
    env_build_s: float = 0.0
    """Of the start-up: building the env (model, physics kernels, CUDA graphs)."""
    kernel_compile_s: float | None = None
    """Of the env build: the parallel compile of the physics kernels (None on MuJoCo C)."""


_LIN = H1VecEnv.log_names.index("Episode/lin_vel_error")
assert H1VecEnv.log_names[_LIN + 1] == "Episode/yaw_rate_error"
_LIN_ERROR_COLUMN = 1 + _LIN  # totals start with the episode count
# a slice, not a list: indexing a CUDA tensor with a list copies the index from pageable host
# memory, which waits for the GPU on every step
_ERROR_COLUMNS = slice(_LIN_ERROR_COLUMN, _LIN_ERROR_COLUMN + 2)
"""Where the episode tracking errors (lin, yaw) sit in an :class:`EpisodeLog`'s totals."""


class Takeover(Protocol):
    """Who drives each env this step, for training a learner that takes over from another policy.

    Shapes: N envs. Called once per step, in this order: :meth:`control`, :meth:`executed`,
    :meth:`after_step`.
    """

    def control(self) -> tuple[torch.Tensor, torch.Tensor]:
        """mask (N,) bool: the learner drives this env now; cond (N,) int64: its group id."""
        ...

    def executed(self, learner_actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """The actions actually applied (N, 19): the learner's where it drives, else another's."""
        ...

    def after_step(self, done: torch.Tensor) -> None:
        """Episodes that ended (N,) bool (new episodes start in those envs)."""
        ...


def build_ppo(
    num_obs: int, num_actions: int, num_envs: int, agent: AgentConfig, device: torch.device
) -> PPO:
    """PPO with the configured Gaussian MLP policy and MLP value function."""
    m = agent.models
    actor = GaussianActor(num_obs, num_actions, m.policy_hidden, m.activation, m.initial_log_std)
    critic = ValueNet(num_obs, m.value_hidden, m.activation)
    return PPO(actor, critic, num_obs, num_actions, num_envs, agent.ppo, device)


def load_agent_checkpoint(ppo: PPO, path: Path) -> None:
    """Resume: load every module of a skrl-layout checkpoint (weights only, never code)."""
    if not path.exists():
        raise H1FaultError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=ppo.device, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise H1FaultError(
            f"cannot read checkpoint {path}: {str(exc).splitlines()[0][:200]}"
        ) from None
    if not isinstance(data, dict) or "policy" not in data:
        raise H1FaultError(f"{path} is not a skrl agent checkpoint (no 'policy' entry)")
    try:
        ppo.load_state_dict(data)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise H1FaultError(f"checkpoint {path} does not match this agent: {first}") from None


def prepare_run_dir(cfg, log_root: str | Path, experiment: str) -> Path:
    """New run dir with params/*.yaml (every config section) and the code state."""
    run_dir = new_run_dir(log_root, experiment, suffix="ppo_torch")
    for f in dataclasses.fields(cfg):
        dump_yaml(getattr(cfg, f.name), run_dir / "params" / f"{f.name}.yaml")
    save_code_state(run_dir / "params")
    return run_dir


def start_run(
    cfg,
    num_envs: int,
    device: str,
    seed: int,
    backend: str,
    log_root: str | Path,
    dist: Dist | None,
) -> tuple[H1VecEnv, Path, Dist]:
    """What every training run does first: this rank's device and seed (under torchrun), torch
    and numpy seeded, the env built from ``cfg.env``, and the run directory (made by rank 0,
    its path shared with every rank). Returns (env, run_dir, dist)."""
    d = dist or Dist(None, torch.device(device))
    if d.active:
        device, seed = str(d.device), d.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    env = H1VecEnv(cfg.env, num_envs=num_envs, device=device, backend=backend, seed=seed)
    run_dir = d.broadcast_object(
        prepare_run_dir(cfg, log_root, cfg.agent.experiment) if d.is_rank0 else None
    )
    return env, run_dir, d


def train_healthy(
    cfg: TrainRunConfig,
    num_envs: int,
    device: str,
    seed: int = 0,
    backend: str = "auto",
    checkpoint: str | Path | None = None,
    log_root: str | Path = "logs/skrl",
    show_progress: bool = True,
    dist: Dist | None = None,
) -> TrainResult:
    """Train a PPO walking policy; returns where everything went and headline numbers.

    dist: under torchrun (:func:`h1fault.dist.init`) every rank trains ``num_envs`` envs on its
    own device with its own seed, one replica of the policy (see :func:`distribute`); rank 0
    alone writes the run directory.
    """
    t_start = time.perf_counter()
    env, run_dir, d = start_run(cfg, num_envs, device, seed, backend, log_root, dist)
    ppo = build_ppo(env.num_obs, env.num_actions, num_envs, cfg.agent, env.device)
    if checkpoint is not None:
        load_agent_checkpoint(ppo, Path(checkpoint))
    distribute(ppo, d)
    return run_training(env, ppo, cfg.agent, run_dir, t_start, show_progress=show_progress,
                        dist=d)  # fmt: skip


def distribute(ppo: PPO, dist: Dist) -> None:
    """Make ``ppo`` one replica of a data-parallel run (a no-op for one process).

    Rank 0's weights and normaliser statistics are copied to every rank now; at every update the
    gradients are averaged over the ranks (before clipping), the KL that drives the adaptive
    learning rate is averaged (so every rank picks the same rate), and each batch the
    observation and value normalisers see is reduced exactly (their statistics stay those of
    one process over all ranks' samples). Replicas thus stay identical, bit for bit.
    """
    if dist.world_size == 1:
        return
    for module in (ppo.actor, ppo.critic, ppo.obs_norm, ppo.value_norm):
        dist.broadcast_module(module)
    ppo.reduce_grads, ppo.reduce_mean = dist.allreduce_grads, dist.allreduce_mean
    ppo.obs_norm.reduce_moments = ppo.value_norm.reduce_moments = dist.reduce_moments


def run_training(
    env: H1VecEnv,
    ppo: PPO,
    agent: AgentConfig,
    run_dir: Path,
    t_start: float,
    takeover: Takeover | None = None,
    show_progress: bool = True,
    on_update=None,
    dist: Dist | None = None,
) -> TrainResult:
    """The loop: act, step, record; update every ``rollouts`` steps; log, checkpoint.

    on_update(iteration) is called before each update (e.g. to end a critic warm-up).
    dist: several ranks (``ppo`` already :func:`distribute`-d): episode statistics and env-step
    counts cover all ranks, all stop together, and only rank 0 writes (``run_dir`` is rank 0's).
    """
    from torch.utils.tensorboard import SummaryWriter

    d = dist or Dist(None, torch.device(env.device))
    write = d.is_rank0
    trainer, rollouts = agent.trainer, agent.ppo.rollouts
    timesteps = trainer.timesteps
    writer = SummaryWriter(str(run_dir)) if write else None
    n, world = env.num_envs, d.world_size
    obs, _ = env.reset()
    if trainer.spread_first_episodes:
        env.spread_first_episodes()
    ep_return = torch.zeros(n, device=env.device)  # return so far at the start of the rollout
    ret_sum = torch.zeros(3, device=env.device)  # finished episodes: count, return sum, length
    step_in_episode = torch.zeros(rollouts, n, dtype=torch.long, device=env.device)
    to_seconds = torch.tensor([1.0, 1.0, env.control_dt], device=env.device)
    # finished episodes' mean tracking errors (lin m/s, yaw rad/s), summed: what play measures
    err_sum = torch.zeros(2, device=env.device)
    recent: list[tuple[float, float, float, float]] = []  # (return, length s, lin, yaw) means
    curve = []
    episode_log = None  # EpisodeLog since the last write
    best_return = -float("inf")
    max_s = trainer.max_minutes * 60.0
    ckpt_dir = run_dir / "checkpoints"
    show_progress = show_progress and write
    if write:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    progress = make_progress(show_progress, fields=("stats",), elapsed=True)
    t_loop = time.perf_counter()
    t = 0
    with progress:
        task = progress.add_task("train", total=timesteps, stats="")
        for t in range(timesteps):
            cond = mask = None
            if takeover is not None:
                mask, cond = takeover.control()
            actions = ppo.act(obs, cond)
            executed = actions if takeover is None else takeover.executed(actions, obs)
            obs, reward, terminated, truncated, info = env.step(executed)
            k = ppo.step
            ppo.record(reward, terminated, truncated, mask, cond if mask is not None else None)
            if takeover is not None:
                takeover.after_step(ppo.dones[k])
            # episode statistics: one copy per step, the sums once per rollout (no host sync)
            step_in_episode[k] = info["step_in_episode"]
            log = info["log"]
            episode_log = log if episode_log is None else episode_log + log
            if log.totals is not None:
                err_sum += log.totals[_ERROR_COLUMNS]
            if not ppo.full and t != timesteps - 1:
                continue
            totals, ep_return = episode_totals(ppo.rewards[: k + 1], ppo.dones[: k + 1],
                                               step_in_episode[: k + 1], ep_return)  # fmt: skip
            ret_sum += totals * to_seconds
            iteration = (t + 1) // rollouts
            if on_update is not None:
                on_update(iteration)
            next_cond = takeover.control()[1] if takeover is not None else None
            ppo.anneal_learning_rate((t + 1 - ppo.step) / timesteps)  # share before this rollout
            stats = ppo.update(obs, next_cond)
            elapsed = time.perf_counter() - t_loop
            over = float(max_s > 0 and elapsed > max_s)
            # episodes of every rank, and one decision to stop (a rank stopping alone would hang)
            count, rsum, lsum, lin_sum, yaw_sum, over = d.allreduce_sum(
                torch.cat([ret_sum, err_sum, ret_sum.new_tensor([over])])
            ).tolist()
            if count > 0:
                recent.append((rsum / count, lsum / count, lin_sum / count, yaw_sum / count))
                ret_sum.zero_()
                err_sum.zero_()
            mean_ret, mean_len, lin_err, yaw_err = recent[-1] if recent else (0.0,) * 4
            sps = (t + 1) * n * world / max(elapsed, 1e-9)
            curve.append(
                (t + 1, (t + 1) * n * world, elapsed, mean_ret, mean_len, lin_err, yaw_err, sps)
            )
            if not write:
                if over:
                    break
                continue
            if (t + 1) % trainer.write_interval < rollouts or t == timesteps - 1:
                _write_scalars(writer, t + 1, stats, episode_log, mean_ret, mean_len, sps)
                episode_log = None
            interval = trainer.checkpoint_interval if trainer.checkpoint_interval > 0 else timesteps
            if (t + 1) % interval < rollouts and t + 1 >= rollouts:
                torch.save(ppo.state_dict(), ckpt_dir / f"agent_{t + 1}.pt")
                if recent and mean_ret > best_return:
                    best_return = mean_ret
                    torch.save(ppo.state_dict(), ckpt_dir / "best_agent.pt")
            text = (
                f"return {mean_ret:7.2f}  ep len {mean_len:5.1f}s  "
                f"err lin {lin_err:4.2f} yaw {yaw_err:4.2f}  {sps / 1e3:6.1f}k st/s"
            )
            progress.update(task, completed=t + 1, stats=text)
            if show_progress and not err_console.is_terminal and len(curve) % 10 == 1:
                # batch jobs and log files get a plain line instead of a live bar
                err_console.print(f"t={t + 1}/{timesteps} {elapsed:6.0f}s {text}")
            if over:
                err_console.print(f"time budget of {max_s / 60:.1f} min reached at t={t + 1}")
                break
    timesteps_done = t + 1
    loop_s = time.perf_counter() - t_loop
    report = getattr(env.backend, "precompile_report", None)
    final = ckpt_dir / f"agent_{timesteps_done}.pt"
    best = ckpt_dir / "best_agent.pt"
    if write:
        torch.save(ppo.state_dict(), final)
        if not best.exists():
            torch.save(ppo.state_dict(), best)
        writer.close()
        _write_curve(run_dir, curve)
    return TrainResult(
        run_dir=run_dir,
        final_checkpoint=final,
        best_checkpoint=best,
        env_steps=timesteps_done * n * world,
        wall_s=time.perf_counter() - t_start,
        steps_per_s=timesteps_done * n * world / max(loop_s, 1e-9),
        final_mean_length_s=curve[-1][4] if curve else 0.0,
        final_mean_return=curve[-1][3] if curve else 0.0,
        world_size=world,
        startup_s=t_loop - t_start,
        env_build_s=env.build_s,
        kernel_compile_s=report.compile_s if report is not None else None,
    )


def episode_totals(
    rewards: torch.Tensor, dones: torch.Tensor, step_in_episode: torch.Tensor, carry: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Episodes that ended during a rollout, in ~20 ops instead of a dozen per step.

    rewards (T, N) float32; dones (T, N) bool; step_in_episode (T, N) int64 (the env's counter
    at each step, so the length of an episode ending at t is step_in_episode[t] + 1); carry (N,)
    float32 return accumulated before the rollout. Returns totals (3,) float32 = [episodes,
    sum of their returns, sum of their lengths in steps] and the carry (N,) for the next rollout.
    """
    T = rewards.shape[0]
    running = carry + rewards.cumsum(0)  # return since the carry began, ignoring resets
    t = torch.arange(T, device=rewards.device)[:, None]
    last = torch.where(dones, t, -1).cummax(0).values  # last episode end at or before t
    before = torch.cat([torch.full_like(last[:1], -1), last[:-1]])  # ... strictly before t
    # an episode ending at t earned running[t] minus the running return where the previous ended
    base = torch.where(before >= 0, running.gather(0, before.clamp(min=0)), 0.0)
    d = dones.float()
    totals = torch.stack(
        [d.sum(), ((running - base) * d).sum(), ((step_in_episode + 1).float() * d).sum()]
    )
    end = last[-1:]
    new_carry = running[-1] - torch.where(end >= 0, running.gather(0, end.clamp(min=0)), 0.0)[0]
    return totals, new_carry


def _write_scalars(writer, step, stats, episode_log, mean_ret, mean_len, sps) -> None:
    """TensorBoard scalars under skrl's tag names plus Isaac Lab's per-term episode rewards."""
    values = {
        "Loss / Policy loss": stats.policy_loss,
        "Loss / Value loss": stats.value_loss,
        "Loss / Entropy loss": stats.entropy_loss,
        "Policy / Standard deviation": stats.action_std,
        "Policy / KL": stats.kl,
    }
    for k, v in zip(values, torch.stack(list(values.values())).tolist(), strict=True):
        writer.add_scalar(k, v, step)
    writer.add_scalar("Learning / Learning rate", stats.learning_rate, step)
    writer.add_scalar("Reward / Total reward (mean)", mean_ret, step)
    writer.add_scalar("Episode / Total timesteps (mean)", mean_len, step)
    writer.add_scalar("Stats / Env steps per second", sps, step)
    if episode_log is not None:
        for k, v in episode_log.floats().items():
            writer.add_scalar(k, v, step)


def _write_curve(run_dir: Path, curve: list[tuple]) -> None:
    """``curve.csv`` and ``curve.png`` (mean return and episode length vs env steps)."""
    path = run_dir / "curve.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["timestep", "env_steps", "wall_s", "mean_return", "mean_episode_length_s",
             "lin_vel_error", "yaw_rate_error", "steps_per_s"]
        )  # fmt: skip
        w.writerows(curve)
    if not curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = np.array(curve)
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.5))
    steps = arr[:, 1] / 1e6
    ax[0].plot(steps, arr[:, 3])
    ax[0].set(xlabel="env steps (M)", ylabel="mean episode return", title="return")
    ax[1].plot(steps, arr[:, 4])
    ax[1].set(xlabel="env steps (M)", ylabel="mean episode length (s)", title="episode length")
    ax[2].plot(steps, arr[:, 5], label="lin vel (m/s)")
    ax[2].plot(steps, arr[:, 6], label="yaw rate (rad/s)")
    ax[2].set(xlabel="env steps (M)", ylabel="mean |command - actual|", title="tracking error")
    ax[2].legend()
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "curve.png", dpi=100)
    plt.close(fig)
