"""H1 flat velocity tracking (Isaac Lab H1-flat style): the task's configs.

The terms they configure are pure torch functions over batched state, so CPU and GPU runs
compute the same task: :mod:`~h1fault.sim.observations`, :mod:`~h1fault.sim.rewards`,
:mod:`~h1fault.sim.terminations`, :mod:`~h1fault.sim.commands`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    turning_fraction: float = 0.0
    """Fraction of resamples that command turning in place (vx = vy = 0, the drawn yaw rate); a
    training aid: ``play`` evaluates without it."""


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
    air_time_when_turning: bool = False
    """Also pay air time when only a yaw rate is commanded (|wz| > 0.1 rad/s, turning in place)."""
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
