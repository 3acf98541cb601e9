"""One real Isaac Lab ``Isaac-Velocity-Flat-H1`` env (4 envs, CPU, Newton + MuJoCo-Warp), shared.

Building it costs ~40-90 s on two cores (Warp kernels are cached after the first run), so every
test uses this one env and puts it back into a known state itself (:func:`restart`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from h1fault_isaaclab.launch import use_local_assets

use_local_assets()  # before anything imports Isaac Lab

REPO = Path(__file__).resolve().parents[3]
TASK = "Isaac-Velocity-Flat-H1"
NUM_ENVS = 4


def main_python() -> str:
    """The interpreter of h1fault's main environment (``H1FAULT_MAIN_PYTHON``, else python3)."""
    exe = os.environ.get("H1FAULT_MAIN_PYTHON") or shutil.which("python3") or sys.executable
    return exe


@pytest.fixture(scope="session")
def rec():
    """A :class:`RecorderEnv` over the real task with the fault term (p_fault 0.9, early onsets)."""
    from h1fault_isaaclab.collect import build

    from h1fault.sim.faults import FaultConfig

    faults = FaultConfig(p_fault=0.9, onset_window_s=(0.02, 0.2), scale_range=(0.0, 0.1))
    env = build(TASK, NUM_ENVS, faults, seed=3)
    yield env
    env.env.close()


def plan(rec, joints: list[str | None], onset_steps: list[int], scales: list[float]) -> None:
    """Reset all envs, then give each env the fault plan named (``None``: a healthy episode).

    Feeds :meth:`FaultSchedule.resample` the uniforms that map to these draws, so the plan goes
    through h1fault's own drawing code.
    """
    rec.reset()
    term = rec.fault
    s = term.schedule
    cfg = s.cfg
    cands = cfg.candidate_indices()
    from h1fault.sim.model import joint_index

    u = torch.zeros(rec.num_envs, 4, device=rec.device)
    lo, hi = cfg.scale_range
    span = s._onset_hi - s._onset_lo
    for e, (j, k, sc) in enumerate(zip(joints, onset_steps, scales, strict=True)):
        u[e, 0] = 0.0 if j is not None else 0.95
        u[e, 1] = (cands.index(joint_index(j)) + 0.5) / len(cands) if j is not None else 0.0
        u[e, 2] = (k - s._onset_lo + 0.5) / span
        u[e, 3] = (sc - lo) / (hi - lo)
    s.resample(torch.ones(rec.num_envs, dtype=torch.bool, device=rec.device), u)
    term.onset_flag.zero_()
    term._write()
    rec._onset = term.take_onsets()


def solver_force_range(robot_joint_names: list[str]) -> torch.Tensor:
    """The MuJoCo-Warp solver's per-world joint force range upper bound, articulation order.

    Returns (num_worlds, num_joints) float32 read from ``mjw_model.jnt_actfrcrange``.
    """
    import mujoco
    from isaaclab_newton.physics import NewtonManager

    solver = NewtonManager._solver
    m = solver.mj_model
    names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, i) or "" for i in range(m.njnt)]
    idx = []
    for j in robot_joint_names:
        hits = [i for i, n in enumerate(names) if n.endswith("_" + j)]
        assert len(hits) == 1, (j, hits)
        idx.append(hits[0])
    rng = torch.from_numpy(solver.mjw_model.jnt_actfrcrange.numpy())  # (worlds, njnt, 2)
    return rng[:, idx, 1]
