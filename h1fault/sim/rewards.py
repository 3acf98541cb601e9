"""Reward terms of the H1 velocity task (Isaac Lab H1-flat): pure functions -> (N,) float32.

Each term is unweighted; the env multiplies it by its weight in
:class:`~h1fault.sim.task.RewardConfig` and by ``control_dt``, in :data:`REWARD_TERMS` order.

Inputs (``N`` envs): ``qpos`` (N, 26), ``qvel`` (N, 25) in MuJoCo's layout (base lin vel world
0:3, base ang vel body 3:6, joint velocities 6:25); ``rot`` (N, 3, 3) base rotation matrices,
body to world; ``commands`` (N, 3) vx, vy (yaw frame), wz; joint tensors (N, 19) in model order.
"""

from __future__ import annotations

import torch

REWARD_TERMS = (
    "track_lin_vel_xy", "track_ang_vel_z", "feet_air_time", "feet_slide", "termination",
    "ankle_limits", "joint_deviation_hip", "joint_deviation_arms", "joint_deviation_torso",
    "flat_orientation", "lin_vel_z", "ang_vel_xy", "action_rate", "joint_acc", "joint_torque",
)  # fmt: skip
"""The terms, in the order of the env's weight vector and episode sums."""


def lin_vel_error_sq(commands: torch.Tensor, qvel: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """|cmd_xy - v_xy|^2 with the base velocity in the yaw frame (Isaac Lab's
    track_lin_vel_xy_yaw_frame_exp). Returns (N,) (m/s)^2."""
    # rotate the world xy velocity by -yaw; (cos, sin) of yaw is the heading of the body x axis
    heading = rot[:, :2, 0]
    cos_yaw, sin_yaw = (heading / heading.norm(dim=1, keepdim=True).clamp(min=1e-6)).unbind(1)
    vx, vy = qvel[:, 0], qvel[:, 1]
    vel_yaw = torch.stack([cos_yaw * vx + sin_yaw * vy, cos_yaw * vy - sin_yaw * vx], dim=1)
    return (commands[:, :2] - vel_yaw).square().sum(dim=1)


def ang_vel_error_sq(commands: torch.Tensor, qvel: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """(cmd_wz - w_z)^2 with the world yaw rate. Returns (N,) (rad/s)^2."""
    world_wz = (rot[:, 2, :] * qvel[:, 3:6]).sum(dim=1)
    return (commands[:, 2] - world_wz).square()


def tracking_kernel(error_sq: torch.Tensor, std: float) -> torch.Tensor:
    """exp(-error^2 / std^2): 1 when tracking exactly (track_lin_vel_xy, track_ang_vel_z)."""
    return torch.exp(-error_sq / std**2)


def feet_air_time(
    contact: torch.Tensor,
    contact_time: torch.Tensor,
    air_time: torch.Tensor,
    commands: torch.Tensor,
    threshold: float,
    when_turning: bool = False,
) -> torch.Tensor:
    """In single stance, the shorter of the two feet's times in their current mode, capped at
    ``threshold`` (s); zero when the command is to stand (|cmd_xy| <= 0.1 m/s, and with
    ``when_turning`` also |cmd_wz| <= 0.1 rad/s: turning in place then pays for steps too).

    contact: (N, 2) bool; contact_time, air_time: (N, 2) s, already advanced by this step.
    commands: (N, 3) vx, vy, wz. Returns (N,) float32.
    """
    single_stance = contact.sum(dim=1) == 1
    in_mode = torch.where(contact, contact_time, air_time)
    air = torch.where(single_stance[:, None], in_mode, 0.0).amin(dim=1)
    moving = commands[:, :2].norm(dim=1) > 0.1
    if when_turning:
        moving |= commands[:, 2].abs() > 0.1
    return air.clamp(max=threshold) * moving


def feet_slide(foot_vel: torch.Tensor, contact: torch.Tensor) -> torch.Tensor:
    """Horizontal speed of the feet in contact, summed. foot_vel: (N, 2, 3) world m/s."""
    return (foot_vel[:, :, :2].norm(dim=2) * contact).sum(dim=1)


def termination(terminated: torch.Tensor) -> torch.Tensor:
    """1 on a fall (not on a time-out). terminated: (N,) bool."""
    return terminated.float()


def ankle_limits(
    joint_pos: torch.Tensor, ankles: torch.Tensor, mid: torch.Tensor, half: torch.Tensor
) -> torch.Tensor:
    """How far the ankles are beyond 90 % of their range, on either side (rad), summed.

    ankles: (2,) joint indices; mid, half: (2,) centre and 90 % half-width of their ranges.
    """
    ankle_dev = (joint_pos[:, ankles] - mid).abs()
    return (ankle_dev - half).clamp(min=0).sum(dim=1)


def joint_deviation_l1(
    joint_pos: torch.Tensor, default_joint_pos: torch.Tensor, joints: torch.Tensor
) -> torch.Tensor:
    """L1 distance of the ``joints`` (index tensor) from the default pose (rad)."""
    return (joint_pos - default_joint_pos).abs()[:, joints].sum(dim=1)


def flat_orientation(rot: torch.Tensor) -> torch.Tensor:
    """Squared xy of the projected gravity: body tilt."""
    return rot[:, 2, :2].square().sum(dim=1)


def lin_vel_z(qvel: torch.Tensor) -> torch.Tensor:
    """Squared vertical base velocity."""
    return qvel[:, 2].square()


def ang_vel_xy(qvel: torch.Tensor) -> torch.Tensor:
    """Squared roll and pitch rates of the base (body frame)."""
    return qvel[:, 3:5].square().sum(dim=1)


def action_rate(actions: torch.Tensor, last_actions: torch.Tensor) -> torch.Tensor:
    """Squared change of the action since the last step."""
    return (actions - last_actions).square().sum(dim=1)


def joint_acc(joint_vel: torch.Tensor, last_joint_vel: torch.Tensor, dt: float) -> torch.Tensor:
    """Squared joint accelerations, by finite difference over one control step ``dt`` (s)."""
    return ((joint_vel - last_joint_vel) / dt).square().sum(dim=1)


def joint_torque(torque: torch.Tensor) -> torch.Tensor:
    """Squared applied joint torques. torque: (N, 19) N·m."""
    return torque.square().sum(dim=1)
