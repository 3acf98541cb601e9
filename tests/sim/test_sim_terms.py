"""The task's pure term functions: observations, rewards, terminations, commands."""

from __future__ import annotations

import math

import torch

from h1fault.sim import commands as cmds
from h1fault.sim import rewards as rw
from h1fault.sim.observations import NUM_OBS, obs_noise_amplitudes, policy_obs
from h1fault.sim.quat import quat_to_matrix, yaw_quat
from h1fault.sim.task import CommandConfig, ObsNoiseConfig
from h1fault.sim.terminations import fell, non_finite

N = 4


def upright(yaw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """qpos (N, 26) standing at 1 m with the given yaws, and its rotation matrices."""
    qpos = torch.zeros(len(yaw), 26)
    qpos[:, 2] = 1.0
    qpos[:, 3:7] = yaw_quat(yaw)
    return qpos, quat_to_matrix(qpos[:, 3:7])


def test_policy_obs_columns() -> None:
    yaw = torch.tensor([0.0, 0.5, -1.0, 3.0])
    qpos, rot = upright(yaw)
    qpos[:, 7:] = 0.3
    qvel = torch.zeros(N, 25)
    qvel[:, 0] = torch.cos(yaw)  # 1 m/s along the body x axis, in world coordinates
    qvel[:, 1] = torch.sin(yaw)
    qvel[:, 6:] = 2.0
    commands = torch.tensor([[0.5, 0.0, 0.1]]).expand(N, 3)
    actions = torch.full((N, 19), -1.0)
    obs = policy_obs(qpos, qvel, rot, commands, torch.full((19,), 0.1), actions)
    assert obs.shape == (N, NUM_OBS)
    torch.testing.assert_close(obs[:, 0:3], torch.tensor([[1.0, 0.0, 0.0]]).expand(N, 3))
    torch.testing.assert_close(obs[:, 6:9], torch.tensor([[0.0, 0.0, -1.0]]).expand(N, 3))
    assert torch.equal(obs[:, 9:12], commands)
    torch.testing.assert_close(obs[:, 12:31], torch.full((N, 19), 0.2))
    assert (obs[:, 31:50] == 2.0).all() and (obs[:, 50:69] == -1.0).all()
    noise = torch.tensor(obs_noise_amplitudes(ObsNoiseConfig()))
    assert noise.shape == (NUM_OBS,) and (noise[9:12] == 0).all() and (noise[50:] == 0).all()


def test_tracking_is_perfect_in_the_yaw_frame_at_any_heading() -> None:
    yaw = torch.linspace(-3.0, 3.0, N)
    qpos, rot = upright(yaw)
    qvel = torch.zeros(N, 25)
    qvel[:, 0], qvel[:, 1] = 0.7 * torch.cos(yaw), 0.7 * torch.sin(yaw)  # forward at 0.7 m/s
    qvel[:, 5] = 0.2  # yaw rate (body z = world z when upright)
    commands = torch.tensor([[0.7, 0.0, 0.2]]).expand(N, 3)
    lin, ang = rw.lin_vel_error_sq(commands, qvel, rot), rw.ang_vel_error_sq(commands, qvel, rot)
    torch.testing.assert_close(lin, torch.zeros(N), atol=1e-6, rtol=0)
    torch.testing.assert_close(ang, torch.zeros(N), atol=1e-6, rtol=0)
    assert torch.allclose(rw.tracking_kernel(lin, 0.5), torch.ones(N), atol=1e-5)
    assert math.isclose(
        float(rw.tracking_kernel(torch.tensor([0.25]), 0.5)), math.exp(-1), rel_tol=1e-6
    )


def test_air_time_only_in_single_stance_and_when_moving() -> None:
    contact = torch.tensor([[True, False], [True, True], [False, False], [True, False]])
    contact_time = torch.full((N, 2), 0.4)
    air_time = torch.full((N, 2), 0.3)
    commands = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0.5]])
    air = rw.feet_air_time(contact, contact_time, air_time, commands, threshold=0.35)
    torch.testing.assert_close(air, torch.tensor([0.3, 0.0, 0.0, 0.0]))
    # turning in place (row 3) pays only with when_turning; standing still never does
    commands[2] = torch.tensor([0.0, 0, -0.5])
    contact[2] = torch.tensor([False, True])
    air = rw.feet_air_time(contact, contact_time, air_time, commands, 0.35, when_turning=True)
    torch.testing.assert_close(air, torch.tensor([0.3, 0.0, 0.3, 0.3]))
    commands[3] = 0.0
    air = rw.feet_air_time(contact, contact_time, air_time, commands, 0.35, when_turning=True)
    torch.testing.assert_close(air, torch.tensor([0.3, 0.0, 0.3, 0.0]))


def test_penalties_vanish_at_the_default_pose_at_rest() -> None:
    default = torch.linspace(-0.5, 0.5, 19)
    joint_pos = default.expand(N, 19)
    hips = torch.tensor([0, 1, 5])
    assert (rw.joint_deviation_l1(joint_pos, default, hips) == 0).all()
    moved = joint_pos.clone()
    moved[:, 1] += 0.2
    moved[:, 2] += 5.0  # not a hip: ignored
    torch.testing.assert_close(rw.joint_deviation_l1(moved, default, hips), torch.full((N,), 0.2))
    ankles, mid, half = torch.tensor([4, 9]), torch.zeros(2), torch.full((2,), 0.5)
    pos = torch.zeros(N, 19)
    pos[:, 9] = torch.tensor([0.4, 0.6, -0.7, 0.0])
    torch.testing.assert_close(
        rw.ankle_limits(pos, ankles, mid, half), torch.tensor([0.0, 0.1, 0.2, 0.0])
    )
    a = torch.ones(N, 19)
    assert (rw.action_rate(a, a) == 0).all() and (rw.joint_acc(a, a, 0.02) == 0).all()
    assert torch.equal(rw.termination(torch.tensor([True, False, False, True])),
                       torch.tensor([1.0, 0.0, 0.0, 1.0]))  # fmt: skip


def test_fell_and_non_finite() -> None:
    qpos, rot = upright(torch.zeros(N))
    qpos[1, 2] = 0.5  # pelvis low
    tilted = quat_to_matrix(torch.tensor([[math.cos(0.5), math.sin(0.5), 0.0, 0.0]]))  # 57 deg
    rot[2] = tilted[0]
    qpos[3, 5] = float("nan")
    assert fell(qpos, rot, 0.8, 0.8).tolist() == [False, True, True, False]
    assert non_finite(qpos).tolist() == [False, False, False, True]


def test_commands_within_bounds_standing_and_schedule() -> None:
    lo, hi = cmds.command_bounds(CommandConfig(), torch.device("cpu"))
    u = torch.rand(1000, 4, generator=torch.Generator().manual_seed(0))
    c = cmds.sample_commands(u, lo, hi, standing_fraction=0.1)
    assert ((c >= lo) & (c <= hi)).all()
    standing = u[:, 3] < 0.1
    assert (c[standing] == 0).all() and (c[~standing, 0] > 0).all()
    turning = ~standing & (u[:, 3] < 0.3)
    c = cmds.sample_commands(u, lo, hi, standing_fraction=0.1, turning_fraction=0.2)
    assert (c[standing] == 0).all() and (c[turning, :2] == 0).all()
    assert (c[turning, 2] != 0).all() and (c[~standing & ~turning, 0] > 0).all()
    assert 150 < int(turning.sum()) < 250
    done = torch.tensor([True, False, False, False])
    due = cmds.resample_due(done, torch.tensor([3, 3, 5, 10]), period_steps=5)
    assert due.tolist() == [True, False, True, True]
