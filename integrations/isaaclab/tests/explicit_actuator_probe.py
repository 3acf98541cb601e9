"""Child process of test_explicit_actuators (Isaac Lab allows one simulation per process).

The H1 task with its implicit actuators replaced by explicit ideal-PD models (same gains and
effort limits). Plans a cut of the left knee in env 1, steps, and prints JSON with the explicit
model's ``actuator_effort_limit`` and applied torques, before and after a reset of env 1.
"""

from __future__ import annotations

import contextlib
import json
import sys

import torch
from h1fault_isaaclab.launch import use_local_assets

use_local_assets()


def main() -> None:
    from conftest import plan
    from h1fault_isaaclab.faults import add_fault_event
    from h1fault_isaaclab.launch import make_env, make_env_cfg
    from h1fault_isaaclab.recorder import RecorderEnv
    from isaaclab.actuators import IdealPDActuatorCfg

    from h1fault.sim.faults import FaultConfig

    with contextlib.redirect_stdout(sys.stderr):
        cfg = make_env_cfg("Isaac-Velocity-Flat-H1", 2, seed=1)
        acts = cfg.scene.robot.actuators
        for name, a in list(acts.items()):
            acts[name] = IdealPDActuatorCfg(
                joint_names_expr=a.joint_names_expr, stiffness=a.stiffness, damping=a.damping,
                actuator_effort_limit=a.joint_effort_limit, joint_effort_limit=a.joint_effort_limit,
            )  # fmt: skip
        faults = FaultConfig(p_fault=0.9, onset_window_s=(0.02, 0.2), scale_range=(0.0, 0.1))
        add_fault_event(cfg, faults, seed=1)
        rec = RecorderEnv(make_env(cfg), "Isaac-Velocity-Flat-H1", seed=1)
    names = list(rec.robot.joint_names)
    knee = names.index("left_knee")
    plan(rec, [None, "left_knee"], [1, 1], [0.0, 0.05])
    before = rec.fault.actuator_limits()[:, knee].tolist()
    applied = []
    for _ in range(8):
        rec.step(torch.zeros(2, 19))
        applied.append(rec.robot.actuators.applied_effort.torch[:, knee].tolist())
    cut = rec.fault.actuator_limits()[:, knee].tolist()
    rec.env.episode_length_buf[1] = rec.env.max_episode_length - 1
    rec.step(torch.zeros(2, 19))
    print(json.dumps({
        "explicit_models": len(rec.fault._explicit) + len(rec.fault._native),
        "before": before, "cut_limit": cut,
        "restored_limit": rec.fault.actuator_limits()[:, knee].tolist(), "applied_knee": applied,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
