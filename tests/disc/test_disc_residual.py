"""The physics-residual detector: commands rebuilt from the observation, the cut joint shows,
healthy episodes stay quiet with noise on, streaming == offline, files load safely."""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from h1fault.disc.dataset import ClassSpec
from h1fault.disc.detector import default_detector_path, load_detector
from h1fault.disc.model import StreamingDiscriminator
from h1fault.disc.residual import (
    ResidualDetector,
    ResidualParams,
    load_residual,
    new_residual,
    offline_scores,
    save_residual,
)
from h1fault.errors import H1FaultError
from h1fault.rl.policy import load_policy
from h1fault.sim.faults import FaultConfig
from h1fault.sim.model import JOINT_NAMES, default_joint_pos, load_model
from h1fault.sim.task import EnvConfig, ObsNoiseConfig
from h1fault.sim.torque_sensor import TorqueSensorConfig
from h1fault.sim.vec_env import H1VecEnv

KNEE = JOINT_NAMES.index("left_knee")
ALL = tuple([-1, *range(19)])


def rollout(cfg: EnvConfig, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shipped policy, 4 CPU envs: disc obs rows (steps, 4, 88) and saturated (steps, 4)."""
    env = H1VecEnv(cfg, num_envs=4, backend="mujoco", seed=seed)
    policy = load_policy()
    obs, info = env.reset()
    rows, sats = [], []
    with torch.no_grad():
        for _ in range(steps):
            rows.append(info["disc_obs"])
            obs, _, _, _, info = env.step(policy(obs))
            sats.append(info["saturated"])
    return torch.stack(rows), torch.stack(sats)


@pytest.fixture(scope="module")
def quiet_knee_cut() -> tuple[EnvConfig, torch.Tensor, torch.Tensor]:
    """No observation or torque noise; the left knee cut to 10 % at 0.2-0.3 s in every env."""
    cfg = EnvConfig(
        obs_noise=ObsNoiseConfig(enabled=False),
        torque_sensor=TorqueSensorConfig(enabled=False),
        faults=FaultConfig(p_fault=1.0, onset_window_s=(0.2, 0.3), scale_range=(0.1, 0.1),
                           candidates=("left_knee",)),
    )  # fmt: skip
    obs, sat = rollout(cfg, 30)
    return cfg, obs, sat


def test_command_is_the_position_actuator_law(quiet_knee_cut) -> None:
    cfg, obs, _ = quiet_knee_cut
    m = load_model()
    det = ResidualDetector(ResidualParams.from_model(cfg), ALL)
    x = obs.reshape(-1, 88).double().numpy()
    kp, kv = m.actuator_gainprm[:, 0], -m.actuator_biasprm[:, 2]
    joints = m.actuator_trnid[:, 0]
    lo, hi = m.jnt_range[joints, 0], m.jnt_range[joints, 1]
    default = default_joint_pos(m)
    h = m.opt.timestep
    q_rel, qd, act = x[:, 12:31], x[:, 31:50], x[:, 50:69]
    # position actuator: kp (ctrl - q) - kv qd, q at the start of the last substep
    by_hand = kp * (np.clip(default + 0.5 * act, lo, hi) - (default + q_rel - h * qd)) - kv * qd
    assert m.actuator_biastype[0] == mujoco.mjtBias.mjBIAS_AFFINE
    np.testing.assert_allclose(det.command(obs.reshape(-1, 88)).numpy(), by_hand, rtol=1e-4,
                               atol=1e-2)  # fmt: skip


def test_residual_is_small_on_healthy_joints_and_positive_on_the_cut_one(quiet_knee_cut) -> None:
    cfg, obs, sat = quiet_knee_cut
    det = ResidualDetector(ResidualParams.from_model(cfg), ALL)
    flat = obs.reshape(-1, 88)
    cmd = det.command(flat).reshape(obs.shape[0], 4, 19)
    tau = obs[..., 69:]
    short = torch.sign(cmd) * (cmd - tau)
    healthy = torch.ones_like(short, dtype=torch.bool)
    healthy[..., KNEE] = False
    healthy[0] = False  # first row: nothing applied yet
    healthy &= cmd.abs() < 0.9 * det.limit  # a healthy joint at its nominal limit falls short too
    healthy_med = short[healthy].abs().median()
    assert healthy_med < 5.0  # N·m; only the substep's velocity change is unmodelled
    # rows showing a saturated knee step (obs[t + 1] shows step t)
    shown = torch.zeros_like(sat)
    shown[1:] = sat[:-1]
    assert shown.sum() >= 8
    knee = short[..., KNEE][shown]
    assert knee.median() > 5 * healthy_med and knee.median() > 0


def test_no_healthy_alarm_with_noise_on() -> None:
    """Default observation and torque noise, no faults: the shipped detector stays quiet."""
    cfg = EnvConfig(faults=FaultConfig(enabled=False))
    obs, _ = rollout(cfg, 120, seed=3)
    det = load_detector(None)
    assert det.kind == "residual"
    stream = det.streaming(4)
    start = torch.ones(4, dtype=torch.bool)
    for t in range(obs.shape[0]):
        declared, scores = stream.step_decision(obs[t], start)
        start = torch.zeros(4, dtype=torch.bool)
        assert declared.shape == (4,) and declared.dtype == torch.int64
        assert scores.shape == (4, len(det.class_joints))
        assert (declared == 0).all(), t


@pytest.mark.parametrize("smoothing", [1.0, 0.5])
def test_streaming_equals_offline(quiet_knee_cut, smoothing: float) -> None:
    _, obs, _ = quiet_knee_cut
    params = ResidualParams.from_model(smoothing=smoothing)
    det = ResidualDetector(params, ALL)
    stream = StreamingDiscriminator(det, num_envs=4)
    start = torch.ones(4, dtype=torch.bool)
    streamed = []
    for t in range(obs.shape[0]):
        streamed.append(stream.step(obs[t], start).clone())
        start = torch.zeros(4, dtype=torch.bool)
    streamed_t = torch.stack(streamed).transpose(0, 1).reshape(-1, 20)  # env-major episodes
    rows = obs.transpose(0, 1).reshape(-1, 88)
    t = obs.shape[0]
    off = offline_scores(det, rows, np.arange(4) * t, np.full(4, t))
    if smoothing == 1.0:
        assert torch.equal(off, streamed_t)
    else:
        torch.testing.assert_close(off, streamed_t, atol=1e-5, rtol=1e-5)


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    classes = ClassSpec.from_candidates([0, 3, 10], list(JOINT_NAMES))
    det, meta = new_residual(classes)
    path = save_residual(tmp_path / "r.json", det, meta, {"note": "x"})
    det2, meta2 = load_residual(path)
    assert meta2.class_joints == (-1, 0, 3, 10) and meta2.rule == meta.rule
    assert det2.params == det.params and meta2.features == "residual"
    obs = torch.randn(5, 88)
    assert torch.equal(det.z(obs), det2.z(obs))
    blob = json.loads(path.read_text())
    for bad, why in (
        ({**blob, "format": "x"}, "not a residual detector"),
        ({**blob, "format_version": 9}, "format_version"),
        ({**blob, "params": {**blob["params"], "gate": 0.0}}, "gate"),
        ({**blob, "params": {**blob["params"], "kp": [1.0]}}, "kp"),
        ({**blob, "class_joints": [-1, 44, 3, 10]}, "outside"),
        ({k: v for k, v in blob.items() if k != "rule"}, "missing"),
    ):
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(bad))
        with pytest.raises(H1FaultError, match=why):
            load_residual(p)
    p.write_text("{not json")
    with pytest.raises(H1FaultError, match="not a readable"):
        load_residual(p)


def test_shipped_detector_and_its_record() -> None:
    path = default_detector_path()
    det = load_detector(path)
    assert det.kind == "residual" and det.rule.latch
    assert det.class_joints[0] == -1 and len(det.class_joints) == 18
    record = json.loads(path.with_name(path.stem + ".meta.json").read_text())
    assert record["command"].startswith("h1fault disc calibrate residual")
