"""The switch: on exactly the step the rule fires, only in that env, undone at the episode's end."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from h1fault.closedloop import Controller, DetectorSource, closed_loop
from h1fault.closedloop.loop import rollout
from h1fault.sim.vec_env import H1VecEnv
from tests.closedloop.conftest import ConstantBank, ScriptedDetector, expert_action

CLASS_JOINTS = (-1, 3, 8, 2)
"""Class -> model joint of the scripted detector (left knee, right knee, left hip pitch)."""


def _drive(ctrl: Controller, env: H1VecEnv, policy, steps: int):
    """Step ``env`` under ``ctrl``; yields (t, actions, base actions, episode_start)."""
    obs, info0 = env.reset()
    disc_obs, info = info0["disc_obs"], None
    start = torch.ones(env.num_envs, dtype=torch.bool)
    ctrl.reset()
    for t in range(steps):
        actions = ctrl.act(obs, disc_obs, start, env.step_in_episode.clone(), info)
        yield t, actions, policy(obs), start
        obs, _, terminated, truncated, info = env.step(actions)
        disc_obs, start = info["disc_obs"], terminated | truncated


def test_switch_on_the_firing_step_and_only_in_that_env(policy, short_cfg) -> None:
    det = ScriptedDetector(4, {(5, 1): 3})  # call 5: env 1 declares class 3 (joint 2), once
    ctrl = Controller("detector", policy, 4, "cpu", bank=ConstantBank(),
                      source=DetectorSource(det, CLASS_JOINTS, "cpu"))  # fmt: skip
    env = H1VecEnv(short_cfg, num_envs=4, seed=1)
    for t, actions, base, _ in _drive(ctrl, env, policy, 12):
        for e in range(4):
            if e == 1 and t >= 5:  # from the firing step on, latched although it fired once
                assert torch.all(actions[e] == expert_action(2)), (t, e)
            else:
                assert torch.equal(actions[e], base[e]), (t, e)
    assert ctrl.switch_step.tolist() == [-1, 5, -1, -1]
    assert ctrl.joint.tolist() == [-1, 2, -1, -1]


def test_switched_env_goes_back_to_the_base_policy_at_its_reset(policy, short_cfg) -> None:
    det = ScriptedDetector(2, {(3, 0): 1})
    ctrl = Controller("detector", policy, 2, "cpu", bank=ConstantBank(),
                      source=DetectorSource(det, CLASS_JOINTS, "cpu"))  # fmt: skip
    cfg = dataclasses.replace(short_cfg, faults=dataclasses.replace(short_cfg.faults,
                                                                    enabled=False))  # fmt: skip
    env = H1VecEnv(cfg, num_envs=2, seed=0)
    seen_reset = False
    for t, actions, base, start in _drive(ctrl, env, policy, 20):
        if bool(start[0]) and t > 0:
            seen_reset = True  # env 0's second episode: base policy from its first observation
        switched = t >= 3 and not seen_reset
        expected = torch.full((19,), expert_action(3)) if switched else base[0]
        assert torch.equal(actions[0], expected), t
        assert torch.equal(actions[1], base[1]), t
    assert seen_reset, "the 15-step episode should have ended within 20 steps"
    assert ctrl.joint.tolist() == [-1, -1]
    # the detector was told about the reset on that same observation
    assert any(bool(s[0]) for s in det.starts[1:])


def test_rollout_records_the_switch_of_the_first_episode_only(policy, short_cfg) -> None:
    det = ScriptedDetector(3, {(4, 2): 2, (20, 0): 1})  # call 20 is in env 0's 2nd episode
    ctrl = Controller("detector", policy, 3, "cpu", bank=ConstantBank(),
                      source=DetectorSource(det, CLASS_JOINTS, "cpu"))  # fmt: skip
    env = H1VecEnv(short_cfg, num_envs=3, seed=2)
    rec = rollout(ctrl, env)
    assert rec.switch_step.tolist() == [-1, -1, 4]
    assert rec.switch_joint.tolist() == [-1, -1, 8]
    assert rec.length.max() <= env.max_episode_steps


def test_unserved_joint_is_not_switched(policy, short_cfg) -> None:
    det = ScriptedDetector(2, {(2, 1): 1})  # left knee, but the bank only has the right knee
    ctrl = Controller("detector", policy, 2, "cpu", bank=ConstantBank(joints=(8,)),
                      source=DetectorSource(det, CLASS_JOINTS, "cpu"))  # fmt: skip
    env = H1VecEnv(short_cfg, num_envs=2, seed=0)
    for t, actions, base, _ in _drive(ctrl, env, policy, 5):
        assert torch.equal(actions, base), t
    assert ctrl.unserved.tolist() == [False, True]
    assert ctrl.joint.tolist() == [-1, -1]


def test_rows_see_identical_fault_draws(policy, short_cfg) -> None:
    def scripted(n: int) -> DetectorSource:
        return DetectorSource(ScriptedDetector(n, {(9, 0): 2}), CLASS_JOINTS, "cpu")

    threads = torch.get_num_threads()
    report, run = closed_loop(short_cfg, policy, ConstantBank(), detector=scripted, num_envs=4,
                              seed=3)  # fmt: skip
    assert torch.get_num_threads() == threads  # one thread inside the run only
    assert list(run.records) == ["healthy", "oracle_onset", "oracle_saturation", "detector"]
    assert run.identical_fault_draws and report["identical_fault_draws"]
    first = run.records["healthy"]
    assert (first.fault_joint >= 0).all()  # p_fault = 1
    for rec in run.records.values():
        np.testing.assert_array_equal(rec.fault_joint, first.fault_joint)
        np.testing.assert_array_equal(rec.onset_step, first.onset_step)
        np.testing.assert_array_equal(rec.scale, first.scale)
    # the plan is what the env applied: the onset oracle switched every env that lived to see
    # the cut to that very joint, one step after the onset
    oracle = run.records["oracle_onset"]
    lived = oracle.length > oracle.onset_step + 1
    assert lived.any()
    np.testing.assert_array_equal(oracle.switch_joint[lived], first.fault_joint[lived])
    np.testing.assert_array_equal(oracle.switch_step[lived], oracle.onset_step[lived] + 1)
    assert (run.records["healthy"].switch_step == -1).all()
    det = report["controllers"]["detector"]["switches"]
    assert det["faulted_switched"] == 1
    assert det["wrong_joint"] == int(first.fault_joint[0] != 8)
