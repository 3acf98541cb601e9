"""Velocity commands of the H1 velocity task: sampling and the resampling schedule.

Commands are (N, 3) float32: vx, vy (m/s, yaw frame) and wz (rad/s).
"""

from __future__ import annotations

import torch

from h1fault.sim.task import CommandConfig


def command_bounds(cfg: CommandConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds of (vx, vy, wz), each (3,) float32 on ``device``."""
    lo = torch.tensor([cfg.lin_vel_x[0], cfg.lin_vel_y[0], cfg.ang_vel_z[0]], device=device)
    hi = torch.tensor([cfg.lin_vel_x[1], cfg.lin_vel_y[1], cfg.ang_vel_z[1]], device=device)
    return lo, hi


def sample_commands(
    u: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    standing_fraction: float,
    turning_fraction: float = 0.0,
) -> torch.Tensor:
    """Commands from uniform draws. Returns (N, 3).

    u: (N, 4) uniforms in [0, 1): three for the command, uniform in [lo, hi], and one that
    picks its kind: below ``standing_fraction`` all zeros (stand still); below
    ``standing_fraction + turning_fraction`` vx = vy = 0 with the drawn yaw rate (turn in place).
    """
    cmd = lo + (hi - lo) * u[:, 0:3]
    kind = u[:, 3:4]
    if turning_fraction > 0:  # a config constant: the default's step stays as it was
        cmd[:, :2].masked_fill_(kind < standing_fraction + turning_fraction, 0.0)
    return cmd.masked_fill_(kind < standing_fraction, 0.0)


def resample_due(
    done: torch.Tensor, step_in_episode: torch.Tensor, period_steps: int
) -> torch.Tensor:
    """Envs that get a new command: new episodes and every ``period_steps`` inside one.

    done: (N,) bool; step_in_episode: (N,) int64, counted after this step. Returns (N,) bool.
    """
    return done | (step_in_episode % period_steps == 0)
