"""The fault event term on the real Isaac Lab H1 task: one env and joint, restored at reset."""

from __future__ import annotations

import torch
from conftest import plan, solver_force_range

from h1fault.sim.model import JOINT_NAMES

ZERO = torch.zeros(4, 19)


def test_fault_cuts_only_its_env_and_joint(rec) -> None:
    """Env 0 loses the left knee (15 N·m of 300), env 2 the right hip pitch; envs 1 and 3 stay
    healthy. The articulation's limits, the solver's per-world force range and the applied torque
    all show the cut in that env and joint only."""
    robot = rec.robot
    names = list(robot.joint_names)
    knee, hip = names.index("left_knee"), names.index("right_hip_pitch")
    plan(rec, ["left_knee", None, "right_hip_pitch", None], [2, 2, 3, 2], [0.05, 0.0, 0.08, 0.0])
    nominal = rec.fault.nominal.clone()
    expected = nominal.clone()
    expected[0, knee] = 0.05 * nominal[0, knee]
    expected[2, hip] = 0.08 * nominal[2, hip]
    peak = torch.zeros(4)
    saturated_steps = 0
    for t in range(12):
        _, _, _, _, info = rec.step(ZERO)
        applied = robot.actuators.applied_effort.torch
        if t >= 2:  # the knee cut is in effect from step 2 on
            assert applied[0, knee].abs() <= expected[0, knee] + 1e-3
            peak = torch.maximum(peak, applied[:, knee].abs())
            saturated_steps += int(info["saturated"][0])
            assert int(info["fault_joint"][0]) == JOINT_NAMES.index("left_knee")
    assert torch.equal(info["fault_joint"], torch.tensor([3, -1, 7, -1]))
    assert torch.allclose(robot.data.joint_effort_limits.torch, expected)
    assert torch.allclose(solver_force_range(names), expected)
    # the falling robot loads its knees: the cut one sits at 15 N·m, healthy knees go far above
    assert saturated_steps >= 3
    assert (peak[[1, 3]] > 2 * expected[0, knee]).all(), peak
    lim = info["fault_limit"]
    assert torch.isclose(lim[0], expected[0, knee]) and torch.isnan(lim[1])


def test_limits_restored_at_reset(rec) -> None:
    """Env 0's episode ends: all its limits are nominal again (articulation and solver), while
    env 2, still in its episode, keeps its cut."""
    robot = rec.robot
    names = list(robot.joint_names)
    hip = names.index("right_hip_pitch")
    plan(rec, ["left_knee", None, "right_hip_pitch", None], [1, 2, 1, 2], [0.0, 0.0, 0.1, 0.0])
    for _ in range(4):
        rec.step(ZERO)
    nominal = rec.fault.nominal
    assert robot.data.joint_effort_limits.torch[0].min() == 0.0  # knee cut to 0
    rec.env.episode_length_buf[0] = rec.env.max_episode_length - 1  # time out env 0 next step
    _, _, terminated, truncated, info = rec.step(ZERO)
    assert bool(truncated[0] or terminated[0])
    assert torch.equal(robot.data.joint_effort_limits.torch[0], nominal[0])
    assert int(rec.fault.fault_joint()[0]) == -1
    rec.step(ZERO)  # the solver takes model changes at its next step
    solver = solver_force_range(names)
    assert torch.equal(solver[0], nominal[0])
    assert torch.isclose(solver[2, hip], 0.1 * nominal[2, hip])


def test_never_two_faults_per_episode(rec) -> None:
    """Many short episodes (forced time-outs) under p_fault = 0.9: per env and step at most one
    limit is below nominal, and each (env, episode) logs at most one onset."""
    plan(rec, [None] * 4, [1] * 4, [0.0] * 4)
    nominal = rec.fault.nominal
    onsets: dict[tuple[int, int], int] = {}
    ends = 0
    for t in range(48):
        if t % 7 == 6:
            rec.env.episode_length_buf[:] = rec.env.max_episode_length - 1
        _, _, term, trunc, info = rec.step(ZERO)
        ends += int((term | trunc).sum())
        cut = (rec.robot.data.joint_effort_limits.torch < nominal - 1e-6).sum(dim=1)
        assert (cut <= 1).all(), cut
        for e in torch.nonzero(info["fault_onset"]).flatten().tolist():
            key = (e, int(info["episode"][e]))
            onsets[key] = onsets.get(key, 0) + 1
    assert ends >= 24 and len(onsets) >= 8
    assert max(onsets.values()) == 1


def test_explicit_actuator_limit_is_cut_and_restored() -> None:
    """With explicit (ideal PD) actuators the model's ``actuator_effort_limit`` is cut in the
    faulted env only, clips the applied torque there, and is restored at reset (own process:
    one Isaac Lab simulation per process)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    proc = subprocess.run([sys.executable, str(here / "explicit_actuator_probe.py")], cwd=here,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["explicit_models"] >= 1 and out["before"] == [300.0, 300.0]
    assert out["cut_limit"][0] == 300.0 and abs(out["cut_limit"][1] - 15.0) < 1e-3
    assert out["restored_limit"] == [300.0, 300.0]
    assert all(abs(a[1]) <= 15.0 + 1e-3 for a in out["applied_knee"][1:])
    assert max(abs(a[0]) for a in out["applied_knee"]) > 15.0  # env 0's knee is not cut
