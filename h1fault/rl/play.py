"""``play``: deterministic evaluation of a walking policy, optionally under faults, with video.

Each env runs exactly one episode (the first), so falling envs are not over-counted by
restarting; metrics are over those episodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from h1fault.console import make_progress
from h1fault.sim.contract import Policy, VecEnv
from h1fault.sim.faults import FaultConfig
from h1fault.sim.task import EnvConfig, ObsNoiseConfig
from h1fault.sim.vec_env import H1VecEnv

VX_BINS = (0.0, 0.25, 0.5, 0.75, 1.0001)
"""Edges of the forward-command bins of the per-range table (m/s)."""


@dataclasses.dataclass
class PlayReport:
    """Evaluation metrics over ``episodes`` first episodes."""

    episodes: int
    """Episodes evaluated (one per env)."""
    max_episode_length_s: float
    """Time-out length (s)."""
    mean_episode_length_s: float
    """Mean episode length (s)."""
    episode_length_ratio: float
    """Mean length / max length."""
    fall_rate: float
    """Fraction of episodes that ended in a fall."""
    lin_vel_error: float
    """Mean |cmd_xy - v_xy| over all steps (m/s, yaw frame)."""
    ang_vel_error: float
    """Mean |cmd_wz - w_z| over all steps (rad/s)."""
    per_command: list[dict]
    """Per forward-command bin: range, steps, lin/ang tracking error."""
    faults: bool
    """Whether the fault model was on."""
    fault_episodes: int
    """Episodes in which a fault took effect."""
    fault_fall_rate: float | None
    """Fall rate of the episodes with a fault (None if none)."""
    fall_times_s: list[float]
    """When each fall happened (s into its episode), ascending."""
    fall_commands: list[list[float]]
    """The (vx, vy, wz) command each fall happened under, in the order of ``fall_times_s``."""
    command_period_s: float
    """Seconds between command resamples: falls just after a multiple of it follow a change."""

    def walks(self, length_ratio: float = 0.95, max_lin_err: float = 0.25) -> bool:
        """The project's walking bar: long episodes and accurate velocity tracking."""
        return self.episode_length_ratio >= length_ratio and self.lin_vel_error < max_lin_err

    def to_dict(self) -> dict:
        """The fields plus ``walks`` (the default bar), JSON-able."""
        return dataclasses.asdict(self) | {"walks": self.walks()}


def evaluation_config(env_cfg: EnvConfig, faults: bool = False) -> EnvConfig:
    """The task ``env_cfg`` is judged on: observation noise off, faults only if ``faults``, and
    the task's own command distribution (no extra turn-in-place share: that is a training aid,
    and evaluating with it would make runs with and without it incomparable)."""
    fault_cfg = (
        dataclasses.replace(env_cfg.faults, enabled=faults)
        if faults
        else FaultConfig(enabled=False)
    )
    return dataclasses.replace(
        env_cfg,
        obs_noise=ObsNoiseConfig(enabled=False),
        faults=fault_cfg,
        commands=dataclasses.replace(env_cfg.commands, turning_fraction=0.0),
    )


def play(
    policy: Policy,
    env_cfg: EnvConfig | None = None,
    episodes: int = 16,
    device: str = "cpu",
    backend: str = "auto",
    seed: int = 0,
    faults: bool = False,
    video: str | Path | None = None,
    show_progress: bool = True,
) -> PlayReport:
    """Roll ``policy`` (obs (N, 69) -> actions (N, 19)) out for one episode in each of
    ``episodes`` envs, in :func:`evaluation_config` of ``env_cfg``."""
    cfg = evaluation_config(env_cfg or EnvConfig(), faults)
    env = H1VecEnv(cfg, num_envs=episodes, device=device, backend=backend, seed=seed)
    recorder = _VideoRecorder(env, video) if video else None
    report = evaluate(env, policy, recorder.capture if recorder else None, show_progress)
    if recorder:
        recorder.close()
    return report


def evaluate(
    env: VecEnv,
    policy: Policy,
    on_step: Callable[[], None] | None = None,
    show_progress: bool = True,
) -> PlayReport:
    """Run the first episode of every env of ``env`` (from a reset) and measure it.

    policy: obs (num_envs, 69) -> actions (num_envs, 19). on_step: called after every step (a
    video frame, say). The fault model is whatever ``env.cfg.faults`` says.
    """
    obs, _ = env.reset()
    n, dev = env.num_envs, env.device
    running = torch.ones(n, dtype=torch.bool, device=dev)
    length = torch.zeros(n, device=dev)
    fell = torch.zeros(n, dtype=torch.bool, device=dev)
    had_fault = torch.zeros(n, dtype=torch.bool, device=dev)
    fall_command = torch.zeros(n, 3, device=dev)
    nbins = len(VX_BINS) - 1
    bin_steps = torch.zeros(nbins, device=dev)
    bin_lin = torch.zeros(nbins, device=dev)
    bin_ang = torch.zeros(nbins, device=dev)
    edges = torch.tensor(VX_BINS, device=dev)
    progress = make_progress(show_progress, elapsed=True)
    with progress, torch.no_grad():
        task = progress.add_task("play", total=env.max_episode_steps)
        for _ in range(env.max_episode_steps):
            commands = env.commands.clone()
            obs, _, terminated, truncated, info = env.step(policy(obs))
            if on_step is not None:
                on_step()
            w = running.float()
            b = (torch.bucketize(commands[:, 0].contiguous(), edges, right=True) - 1).clamp(
                0, nbins - 1
            )
            bin_steps.index_add_(0, b, w)
            bin_lin.index_add_(0, b, w * info["lin_vel_error"])
            bin_ang.index_add_(0, b, w * info["ang_vel_error"])
            had_fault |= running & (info["fault_joint"] >= 0)
            length += w
            done = terminated | truncated
            new_falls = running & terminated
            # where, not a masked assignment: that would wait for the GPU every step
            fall_command = torch.where(new_falls[:, None], commands, fall_command)
            fell |= new_falls
            running &= ~done
            progress.advance(task)
            if not bool(running.any()):
                break
    dt = env.control_dt
    steps = bin_steps.sum().clamp(min=1)
    per = [
        {
            "vx_range": [VX_BINS[i], min(VX_BINS[i + 1], 1.0)],
            "steps": int(bin_steps[i]),
            "lin_vel_error": float(bin_lin[i] / bin_steps[i]) if bin_steps[i] > 0 else None,
            "ang_vel_error": float(bin_ang[i] / bin_steps[i]) if bin_steps[i] > 0 else None,
        }
        for i in range(nbins)
    ]
    nf = int(had_fault.sum())
    fall_times = length[fell] * dt
    order = torch.argsort(fall_times)
    return PlayReport(
        episodes=n,
        max_episode_length_s=env.max_episode_steps * dt,
        mean_episode_length_s=float(length.mean()) * dt,
        episode_length_ratio=float(length.mean()) / env.max_episode_steps,
        fall_rate=float(fell.float().mean()),
        lin_vel_error=float(bin_lin.sum() / steps),
        ang_vel_error=float(bin_ang.sum() / steps),
        per_command=per,
        faults=env.cfg.faults.enabled,
        fault_episodes=nf,
        fault_fall_rate=float((fell & had_fault).sum()) / nf if nf else None,
        fall_times_s=[round(t, 3) for t in fall_times[order].tolist()],
        fall_commands=[[round(c, 3) for c in row] for row in fall_command[fell][order].tolist()],
        command_period_s=env.cfg.commands.resample_s,
    )


class _VideoRecorder:
    """Frames of env 0's first episode at ~30 fps, written at :meth:`close` (offscreen GL:
    MUJOCO_GL=egl on GPU machines, osmesa on CPU machines; see :mod:`h1fault.sim.render`)."""

    def __init__(
        self, env: H1VecEnv, path: str | Path, width: int = 640, height: int = 480
    ) -> None:
        from h1fault.sim.render import FrameRenderer, check_video_path

        self.path = check_video_path(path)
        self.env = env
        self.renderer = FrameRenderer(env.model, width=width, height=height)
        self.frames: list[np.ndarray] = []
        self._every = max(1, round(1 / 30 / env.control_dt))
        self._k = 0
        self._done = False
        self._grab()  # the first frame: the robot as reset

    def _grab(self) -> None:
        self.frames.append(self.renderer.frame(self.env.backend.qpos[0].double().cpu().numpy()))

    def capture(self) -> None:
        """Call after every step. Once env 0's first episode has ended (its step counter is back
        at 0: the env was reset inside the step), the video stops."""
        self._done = self._done or int(self.env.step_in_episode[0]) == 0
        self._k += 1
        if not self._done and self._k % self._every == 0:
            self._grab()

    def close(self) -> None:
        from h1fault.sim.render import write_video

        self.renderer.close()
        write_video(self.frames, self.path, fps=1 / (self._every * self.env.control_dt))
