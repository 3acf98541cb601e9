"""Roll controllers out side by side: same seed, same fault draws, one episode per env.

Every controller gets a fresh :class:`~h1fault.sim.vec_env.H1VecEnv` built with the same config
and seed. The env's random stream does not depend on the actions (every env draws its reset,
command and noise numbers every step), so each env's first episode has the same fault plan
(joint, onset step, kept fraction) and the same commands under every controller; only the first
episode of each env is scored (as ``h1fault play`` does), so a falling env is not counted twice.
The plans are compared after the run (:attr:`ClosedLoopRun.identical_fault_draws`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from h1fault.closedloop.controller import Controller
from h1fault.sim.task import EnvConfig
from h1fault.sim.vec_env import H1VecEnv


@dataclasses.dataclass
class EpisodeRecord:
    """The first episode of every env under one controller (numpy, shape (num_envs,) each)."""

    controller: str
    """Controller name."""
    fault_joint: np.ndarray
    """int64: planned faulted joint (model index), -1 for a healthy episode."""
    onset_step: np.ndarray
    """int64: step in episode at which the cut takes effect (meaningless when healthy)."""
    scale: np.ndarray
    """float32: kept fraction of the nominal torque limit (1 when healthy)."""
    length: np.ndarray
    """int64: steps the episode lasted."""
    fell: np.ndarray
    """bool: the episode ended in a fall."""
    switch_step: np.ndarray
    """int64: step in episode of the first expert action, -1 = never switched."""
    switch_joint: np.ndarray
    """int64: joint of the expert switched to, -1 = never switched."""
    unserved: np.ndarray
    """bool: the source named a joint the bank had no expert for (at the episode's end)."""
    post_steps: np.ndarray
    """int64: steps at or after the onset (all steps for a healthy episode)."""
    post_lin_err: np.ndarray
    """float64: sum over those steps of |cmd_xy - v_xy| (m/s)."""
    post_ang_err: np.ndarray
    """float64: sum over those steps of |cmd_wz - w_z| (rad/s)."""
    control_dt: float
    """Seconds per step."""
    max_steps: int
    """Time-out length in steps."""
    trace_env: int = -1
    """Env whose states are in ``trace_qpos`` (-1: none traced)."""
    trace_qpos: np.ndarray | None = None
    """(T, nq) float64: that env's qpos from reset through its first episode (video), or None."""
    trace_command: np.ndarray | None = None
    """(T, 3) float32: that env's velocity command (vx, vy, wz) at the same steps, or None."""


@dataclasses.dataclass
class ClosedLoopRun:
    """Every controller's records and whether their fault draws matched."""

    records: dict[str, EpisodeRecord]
    """Per controller name, in run order."""
    identical_fault_draws: bool
    """All controllers saw the same fault plan (joint, onset, scale) in every env."""


def rollout(
    controller: Controller,
    env: H1VecEnv,
    trace_env: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> EpisodeRecord:
    """Run every env of ``env`` (freshly reset here) for one episode under ``controller``.

    trace_env: record this env's qpos every step of its first episode (for a video).
    advance(steps): progress callback. The loop stops once every env's first episode ended.
    """
    obs, info0 = env.reset()
    disc_obs = info0["disc_obs"]
    n, dev = env.num_envs, env.device
    faults = env.faults
    fault_joint = faults.planned_joint.clone()
    onset = faults.onset_step.clone()
    scale = torch.where(fault_joint >= 0, faults.scale, torch.ones_like(faults.scale))
    controller.reset()
    episode_start = torch.ones(n, dtype=torch.bool, device=dev)
    info: dict | None = None
    running = torch.ones(n, dtype=torch.bool, device=dev)
    length = torch.zeros(n, dtype=torch.long, device=dev)
    fell = torch.zeros(n, dtype=torch.bool, device=dev)
    switch_step = torch.full((n,), -1, dtype=torch.long, device=dev)
    switch_joint = torch.full_like(switch_step, -1)
    unserved = torch.zeros(n, dtype=torch.bool, device=dev)
    post_steps = torch.zeros(n, dtype=torch.long, device=dev)
    post_lin = torch.zeros(n, dtype=torch.float64, device=dev)
    post_ang = torch.zeros(n, dtype=torch.float64, device=dev)
    healthy = fault_joint < 0
    i = trace_env
    trace = None if i is None else [env.backend.qpos[i].double().cpu().numpy().copy()]
    commands = None if i is None else [env.commands[i].cpu().numpy().copy()]
    check_every = 1 if dev.type == "cpu" else 50  # a host read per step is free on the CPU only
    for t in range(env.max_episode_steps):
        step_in_episode = env.step_in_episode.clone()
        actions = controller.act(obs, disc_obs, episode_start, step_in_episode, info)
        new = running & (switch_step < 0) & (controller.switch_step >= 0)
        torch.where(new, controller.switch_step, switch_step, out=switch_step)
        torch.where(new, controller.joint, switch_joint, out=switch_joint)
        unserved |= running & controller.unserved
        obs, _, terminated, truncated, info = env.step(actions)
        disc_obs = info["disc_obs"]
        post = running & (healthy | (info["step_in_episode"] >= onset))
        post_steps += post
        post_lin += post * info["lin_vel_error"].double()
        post_ang += post * info["ang_vel_error"].double()
        length += running
        fell |= running & terminated
        episode_start = terminated | truncated
        if trace is not None and bool(running[i]) and not bool(episode_start[i]):
            trace.append(env.backend.qpos[i].double().cpu().numpy().copy())
            commands.append(env.commands[i].cpu().numpy().copy())
        running &= ~episode_start
        if advance is not None:
            advance(1)
        if t % check_every == 0 and not bool(running.any()):
            if advance is not None:
                advance(env.max_episode_steps - t - 1)
            break

    def host(x: torch.Tensor) -> np.ndarray:
        return x.cpu().numpy()

    return EpisodeRecord(
        controller=controller.name,
        fault_joint=host(fault_joint), onset_step=host(onset), scale=host(scale),
        length=host(length), fell=host(fell), switch_step=host(switch_step),
        switch_joint=host(switch_joint), unserved=host(unserved), post_steps=host(post_steps),
        post_lin_err=host(post_lin), post_ang_err=host(post_ang), control_dt=env.control_dt,
        max_steps=env.max_episode_steps, trace_env=-1 if i is None else i,
        trace_qpos=np.stack(trace) if trace is not None else None,
        trace_command=np.stack(commands) if commands is not None else None,
    )  # fmt: skip


def run_controllers(
    make_controllers: Callable[[int, torch.device], list[Controller]],
    cfg: EnvConfig,
    num_envs: int,
    device: str = "cpu",
    backend: str = "auto",
    seed: int = 0,
    trace: tuple[str, ...] = (),
    trace_env: int = 0,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> ClosedLoopRun:
    """Roll every controller out on a fresh env with the same config and seed.

    make_controllers(num_envs, device): the controllers, built for that many envs (detectors
    keep per-env state). trace: names of the controllers whose env ``trace_env`` is traced for a
    video.
    progress(name, total_steps) -> advance(steps): per-controller progress bars (optional).
    """

    def make_env() -> H1VecEnv:
        return H1VecEnv(cfg, num_envs=num_envs, device=device, backend=backend, seed=seed)

    env: H1VecEnv | None = make_env()  # built first: it checks the device
    controllers = make_controllers(num_envs, env.device)
    records: dict[str, EpisodeRecord] = {}
    for c in controllers:
        env = env or make_env()
        advance = progress(c.name, env.max_episode_steps) if progress else None
        records[c.name] = rollout(c, env, trace_env if c.name in trace else None, advance)
        env = None  # one env at a time on the device
    first = next(iter(records.values()))
    planned = first.fault_joint >= 0  # onset steps of healthy episodes mean nothing
    same = all(
        np.array_equal(r.fault_joint, first.fault_joint)
        and np.array_equal(r.onset_step[planned], first.onset_step[planned])
        and np.array_equal(r.scale, first.scale)
        for r in records.values()
    )
    return ClosedLoopRun(records=records, identical_fault_draws=same)
