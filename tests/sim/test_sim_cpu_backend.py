"""The MuJoCo C backend: per-env clamping, thread-count independence, resets, instability."""

from __future__ import annotations

import mujoco
import pytest
import torch

from h1fault.sim.cpu_backend import CpuBackend
from h1fault.sim.model import load_model, nominal_torque_limits

N = 4
SUBSTEPS = 5


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return load_model()


def read_all(b: CpuBackend) -> list[torch.Tensor]:
    return [b.qpos, b.qvel, b.actuator_force, b.sensordata, b.site_xpos, b.unstable()]


def demanding_ctrl(model: mujoco.MjModel, t: int) -> torch.Tensor:
    """Targets at alternating joint limits: most joints push at their torque limit."""
    rng = torch.tensor(model.jnt_range[1:], dtype=torch.float32)
    return rng[:, t % 2].expand(N, -1)


def cut_limits(model: mujoco.MjModel) -> torch.Tensor:
    """Env 3 (the last chunk on any thread count) has its right knee cut to 10 %."""
    limits = torch.tensor(nominal_torque_limits(model), dtype=torch.float32).repeat(N, 1)
    limits[3, 8] *= 0.1
    return limits


def test_results_do_not_depend_on_thread_count(model: mujoco.MjModel) -> None:
    backends = [CpuBackend(model, N, SUBSTEPS, num_threads=t) for t in (1, 2, 4)]
    assert [b.num_threads for b in backends] == [1, 2, 4]
    for b in backends:
        b.set_torque_limits(cut_limits(model))
    for t in range(16):
        for b in backends:
            b.step(demanding_ctrl(model, t))
        ref = read_all(backends[0])
        for b in backends[1:]:
            for x, y in zip(ref, read_all(b), strict=True):
                assert torch.equal(x, y)
    # the shared model is never written: its limits stay nominal
    assert model.actuator_forcerange[8, 1] == 300.0


def test_each_env_clamped_by_its_own_limits(model: mujoco.MjModel) -> None:
    b = CpuBackend(model, N, SUBSTEPS, num_threads=2)
    limits = cut_limits(model)
    b.set_torque_limits(limits)
    assert torch.equal(b.torque_limits.float(), limits)
    peak = torch.zeros(N, 19)
    for t in range(6):
        b.step(demanding_ctrl(model, t))
        force = b.actuator_force.abs()
        assert (force <= limits).all()
        peak = torch.maximum(peak, force)
    assert peak[3, 8] == limits[3, 8]  # saturated at the cut
    assert (peak[:3, 8] > 2 * limits[3, 8]).all()  # the same joint elsewhere is not cut


def test_reset_touches_only_masked_envs(model: mujoco.MjModel) -> None:
    b = CpuBackend(model, N, SUBSTEPS)
    for t in range(4):
        b.step(demanding_ctrl(model, t))
    before = [x.clone() for x in read_all(b)]
    qpos = torch.tensor(model.key("home").qpos, dtype=torch.float32).repeat(N, 1)
    qpos[:, 2] += 0.1
    qvel = torch.zeros(N, model.nv)
    mask = torch.tensor([False, True, False, False])
    b.reset(mask, qpos, qvel)
    after = read_all(b)
    for x, y in zip(before, after, strict=True):
        assert torch.equal(x[~mask], y[~mask])
    assert torch.allclose(after[0][1], qpos[1]) and (after[1][1] == 0).all()


def test_blown_up_env_is_flagged_and_cleared_by_reset(
    model: mujoco.MjModel, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MuJoCo appends its warning to ./MUJOCO_LOG.TXT
    b = CpuBackend(model, N, SUBSTEPS)
    qpos = torch.tensor(model.key("home").qpos, dtype=torch.float32).repeat(N, 1)
    qvel = torch.zeros(N, model.nv)
    qvel[2, 6:] = 1e12  # MuJoCo rejects this state (mjWARN_BADQVEL) and resets the data
    b.reset(torch.ones(N, dtype=torch.bool), qpos, qvel)
    b.step(qpos[:, 7:])
    assert b.unstable().tolist() == [False, False, True, False]
    assert torch.isfinite(b.qpos).all() and torch.isfinite(b.qvel).all()
    b.reset(torch.tensor([False, False, True, False]), qpos, torch.zeros(N, model.nv))
    b.step(qpos[:, 7:])
    assert not b.unstable().any()
