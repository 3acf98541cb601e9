"""Observation terms of the H1 velocity task: pure functions of batched state.

Policy observation (``NUM_OBS`` = 69 columns), in order: base lin vel body (3), base ang vel body
(3), projected gravity (3), command vx vy wz (3), joint pos - default (19), joint vel (19), last
action (19). The discriminator observation (``NUM_DISC_OBS`` = 88) appends the 19 applied joint
torques (N·m). Joints in model order (:data:`~h1fault.sim.model.JOINT_NAMES`).

Inputs (``N`` envs): ``qpos`` (N, 26) and ``qvel`` (N, 25) in MuJoCo's layout (see
:class:`~h1fault.sim.backend.PhysicsBackend`), ``rot`` (N, 3, 3) the base rotation matrices
(body to world, :func:`~h1fault.sim.quat.quat_to_matrix`).
"""

from __future__ import annotations

import torch

from h1fault.sim.model import NUM_JOINTS
from h1fault.sim.task import ObsNoiseConfig

NUM_OBS = 69
"""Policy observation width."""
NUM_DISC_OBS = 88
"""Discriminator observation width: policy obs + 19 applied torques."""


def base_lin_vel_body(qvel: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Base linear velocity in the body frame, R^T v. Returns (N, 3) m/s."""
    return (qvel[:, 0:3, None] * rot).sum(dim=1)


def projected_gravity(rot: torch.Tensor) -> torch.Tensor:
    """The unit gravity vector in the body frame. Returns (N, 3)."""
    return -rot[:, 2, :]


def policy_obs(
    qpos: torch.Tensor,
    qvel: torch.Tensor,
    rot: torch.Tensor,
    commands: torch.Tensor,
    default_joint_pos: torch.Tensor,
    actions: torch.Tensor,
) -> torch.Tensor:
    """The noiseless policy observation. Returns (N, 69) float32.

    commands: (N, 3) vx, vy, wz. default_joint_pos: (19,) rad. actions: (N, 19) last actions.
    """
    parts = [
        base_lin_vel_body(qvel, rot),
        qvel[:, 3:6],  # MuJoCo's free-joint angular velocity is already in the body frame
        projected_gravity(rot),
        commands,
        qpos[:, 7:] - default_joint_pos,
        qvel[:, 6:],
        actions,
    ]
    return torch.cat(parts, dim=1)


def obs_noise_amplitudes(cfg: ObsNoiseConfig) -> list[float]:
    """Uniform noise amplitude per policy observation column (69; commands and actions: 0)."""
    noise = [cfg.lin_vel] * 3 + [cfg.ang_vel] * 3 + [cfg.gravity] * 3 + [0.0] * 3
    return noise + [cfg.joint_pos] * NUM_JOINTS + [cfg.joint_vel] * NUM_JOINTS + [0.0] * NUM_JOINTS
