"""H1 flat velocity tracking: configs, observation terms and rewards (Isaac Lab H1-flat style).

Pure torch functions over batched state so that CPU and GPU runs compute the same task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from h1fault.sim.faults import FaultConfig
from h1fault.sim.torque_sensor import TorqueSensorConfig


@dataclass(frozen=True)
class CommandConfig:
    """Velocity command distribution (resampled every ``resample_s``)."""

    lin_vel_x: tuple[float, float] = (0.0, 1.0)
    """Forward velocity range (m/s, yaw frame)."""
    lin_vel_y: tuple[float, float] = (0.0, 0.0)
    """Lateral velocity range (m/s, yaw frame)."""
    ang_vel_z: tuple[float, float] = (-1.0, 1.0)
    """Yaw rate range (rad/s)."""
    resample_s: float = 10.0
    """Seconds between command resamples."""
    standing_fraction: float = 0.02
    """Fraction of resamples that command standing still (all zeros)."""


@dataclass(frozen=True)
class RewardConfig:
    """Reward weights (each term is multiplied by its weight and by control_dt)."""

    track_lin_vel_xy: float = 1.0
    """exp(-|v_xy - cmd_xy|^2 / std^2), velocity in the yaw frame."""
    track_ang_vel_z: float = 1.0
    """exp(-(w_z - cmd_wz)^2 / std^2), world yaw rate."""
    tracking_std: float = 0.5
    """Std of the tracking kernels."""
    feet_air_time: float = 1.0
    """Single-stance time of the feet, capped at ``air_time_threshold`` (only when moving)."""
    air_time_threshold: float = 0.6
    """Cap (s) of the air-time reward."""
    feet_slide: float = -0.25
    """Foot horizontal speed while in contact."""
    termination: float = -200.0
    """Paid once on a fall (not on time-out)."""
    ankle_limits: float = -1.0
    """Ankle angle beyond 90% of its range (rad)."""
    joint_deviation_hip: float = -0.2
    """L1 deviation of hip yaw/roll from default."""
    joint_deviation_arms: float = -0.2
    """L1 deviation of shoulders/elbows from default."""
    joint_deviation_torso: float = -0.1
    """L1 deviation of the torso joint from default."""
    flat_orientation: float = -1.0
    """Squared xy of projected gravity (body tilt)."""
    lin_vel_z: float = 0.0
    """Squared base vertical velocity."""
    ang_vel_xy: float = -0.05
    """Squared base roll/pitch rate."""
    action_rate: float = -0.005
    """Squared change of the action."""
    joint_acc: float = -1.25e-7
    """Squared joint acceleration."""
    joint_torque: float = 0.0
    """Squared joint torque."""


@dataclass(frozen=True)
class ObsNoiseConfig:
    """Uniform noise on the policy observation terms (0 disables a term)."""

    enabled: bool = True
    """Add noise at all."""
    lin_vel: float = 0.1
    """Base linear velocity noise (m/s)."""
    ang_vel: float = 0.2
    """Base angular velocity noise (rad/s)."""
    gravity: float = 0.05
    """Projected gravity noise."""
    joint_pos: float = 0.01
    """Joint position noise (rad)."""
    joint_vel: float = 1.5
    """Joint velocity noise (rad/s)."""


@dataclass(frozen=True)
class EnvConfig:
    """The H1 flat velocity task with torque faults."""

    episode_length_s: float = 20.0
    """Episode length before time-out (s)."""
    substeps: int = 5
    """Physics steps (4 ms each) per control step: 50 Hz policy."""
    action_scale: float = 0.5
    """Joint target = default pose + action_scale * action (rad)."""
    min_base_height: float = 0.8
    """Fall when the pelvis is lower than this (m); standing is ~0.98 m."""
    max_tilt: float = 0.8
    """Fall when |projected gravity xy| exceeds this (sin of tilt)."""
    init_yaw_range: float = 3.14159
    """Initial yaw drawn uniformly in [-range, range] (rad)."""
    init_joint_noise: float = 0.05
    """Uniform noise on initial joint angles (rad)."""
    commands: CommandConfig = field(default_factory=CommandConfig)
    """Velocity commands."""
    rewards: RewardConfig = field(default_factory=RewardConfig)
    """Reward weights."""
    obs_noise: ObsNoiseConfig = field(default_factory=ObsNoiseConfig)
    """Policy observation noise."""
    torque_sensor: TorqueSensorConfig = field(default_factory=TorqueSensorConfig)
    """Measurement error of the torques in the discriminator observation (current-based)."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    """Torque-limit fault distribution."""


# -- quaternion helpers (wxyz, MuJoCo convention) -----------------------------------------------


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate world vectors into the body frame. q: (N, 4) wxyz, v: (N, 3) -> (N, 3)."""
    w, xyz = q[:, :1], q[:, 1:]
    t = 2.0 * torch.linalg.cross(xyz, v, dim=1)
    return v - w * t + torch.linalg.cross(xyz, t, dim=1)


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate body vectors into the world frame. q: (N, 4) wxyz, v: (N, 3) -> (N, 3)."""
    w, xyz = q[:, :1], q[:, 1:]
    t = 2.0 * torch.linalg.cross(xyz, v, dim=1)
    return v + w * t + torch.linalg.cross(xyz, t, dim=1)


def yaw_of(q: torch.Tensor) -> torch.Tensor:
    """Heading angle of wxyz quaternions. q: (N, 4) -> (N,) rad."""
    w, x, y, z = q.unbind(1)
    return torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def yaw_quat(yaw: torch.Tensor) -> torch.Tensor:
    """Quaternion of a pure yaw rotation. yaw: (N,) -> (N, 4) wxyz."""
    zeros = torch.zeros_like(yaw)
    return torch.stack([torch.cos(yaw / 2), zeros, zeros, torch.sin(yaw / 2)], dim=1)


def _quat_to_matrix_table() -> torch.Tensor:
    """(16, 9) table T with ``R.flatten() = (q outer q).flatten() @ T`` for unit wxyz q."""
    # R[i][j] = sum of coefficient * q_a * q_b, written {"ab": coefficient}
    entries = (
        ({"ww": 1, "xx": 1, "yy": -1, "zz": -1}, {"xy": 2, "wz": -2}, {"xz": 2, "wy": 2}),
        ({"xy": 2, "wz": 2}, {"ww": 1, "xx": -1, "yy": 1, "zz": -1}, {"yz": 2, "wx": -2}),
        ({"xz": 2, "wy": -2}, {"yz": 2, "wx": 2}, {"ww": 1, "xx": -1, "yy": -1, "zz": 1}),
    )
    component = {"w": 0, "x": 1, "y": 2, "z": 3}
    table = torch.zeros(16, 9)
    for i, row in enumerate(entries):
        for j, entry in enumerate(row):
            for (a, b), coef in entry.items():
                table[4 * component[a] + component[b], 3 * i + j] = coef
    return table


_QUAT_TO_MATRIX: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
"""The table per device and dtype (copied to a GPU once, not every step)."""


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (body to world) of unit wxyz quaternions. q: (N, 4) -> (N, 3, 3).

    Every entry is a quadratic form in q, so a batch costs an outer product and a weighted sum
    with a constant table: a handful of torch ops instead of dozens (this runs every step).
    Elementwise on purpose: a matmul could run in TF32 on GPUs if a caller allows it.
    """
    table = _QUAT_TO_MATRIX.get((q.device, q.dtype))
    if table is None:
        table = _QUAT_TO_MATRIX[(q.device, q.dtype)] = _quat_to_matrix_table().to(q.device, q.dtype)
    outer = (q[:, :, None] * q[:, None, :]).reshape(-1, 16, 1)
    return (outer * table).sum(dim=1).reshape(-1, 3, 3)
