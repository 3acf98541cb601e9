"""The torque sensor: bounded error, per-episode bias, and the env's random stream untouched."""

from __future__ import annotations

import pytest
import torch

from h1fault.sim.faults import FaultConfig
from h1fault.sim.task import EnvConfig
from h1fault.sim.torque_sensor import TorqueSensor, TorqueSensorConfig
from h1fault.sim.vec_env import H1VecEnv

FAULTS = FaultConfig(p_fault=1.0, onset_window_s=(0.0, 0.1))


def _pair(seed: int = 3, **kw) -> tuple[H1VecEnv, H1VecEnv]:
    on = EnvConfig(episode_length_s=0.2, faults=FAULTS, torque_sensor=TorqueSensorConfig(**kw))
    off = EnvConfig(
        episode_length_s=0.2, faults=FAULTS, torque_sensor=TorqueSensorConfig(enabled=False)
    )
    return (
        H1VecEnv(on, num_envs=4, backend="mujoco", seed=seed),
        H1VecEnv(off, num_envs=4, backend="mujoco", seed=seed),
    )


def test_sensor_changes_only_the_torques_and_stays_within_its_bound() -> None:
    on, off = _pair()
    (_, ia), (_, ib) = on.reset(), off.reset()
    g = torch.Generator().manual_seed(0)
    limits = on.nominal_limits
    cfg = on.cfg.torque_sensor
    for _ in range(25):  # 10-step episodes: crosses resets
        act = 0.3 * torch.randn(4, 19, generator=g)
        oa, ra, *_, ia = on.step(act)
        ob, rb, *_, ib = off.step(act)
        # same physics, same policy obs, same rewards: the env's random stream is unchanged
        assert torch.equal(oa, ob) and torch.equal(ra, rb)
        applied = ib["disc_obs"][:, 69:]
        err = (ia["disc_obs"][:, 69:] - applied).abs()
        bound = (cfg.noise + cfg.bias) * limits + cfg.gain * applied.abs()
        assert (err <= bound + 1e-4).all()
        assert (err > 0).any()


def test_bias_is_drawn_per_episode_and_noise_per_step() -> None:
    limits = torch.tensor([100.0, 10.0])
    s = TorqueSensor(TorqueSensorConfig(noise=0.0), limits, 3, torch.device("cpu"), seed=0)
    zero = torch.zeros(3, 2)
    first = s(zero, torch.zeros(3, dtype=torch.long))
    again = s(zero, torch.tensor([5, 5, 0]))  # env 2 starts a new episode
    assert torch.equal(first[:2], again[:2])  # bias held within the episode
    assert not torch.equal(first[2], again[2])  # redrawn at the episode start
    assert (first.abs() <= 0.03 * limits).all()
    noisy = TorqueSensor(TorqueSensorConfig(bias=0.0, gain=0.0), limits, 3, torch.device("cpu"), 0)
    step = torch.ones(3, dtype=torch.long)
    assert not torch.equal(noisy(zero, step), noisy(zero, step))


@pytest.mark.cuda
def test_sensor_under_cuda_graphs_equals_eager() -> None:
    """The captured sensor draws the same bias, gain and noise as the eager one.

    Physics differs between two GPU worlds by the contact order (atomics), so each step starts
    both from the graph env's state, as tests/sim/test_sim_graph.py does; the torques then agree
    within that test's bound, and the sensor's random stream must agree exactly.
    """
    cfg = EnvConfig(episode_length_s=0.2, faults=FAULTS)
    graph = H1VecEnv(cfg, num_envs=8, device="cuda", seed=3, cuda_graph=True)
    eager = H1VecEnv(cfg, num_envs=8, device="cuda", seed=3, cuda_graph=False)
    graph.reset()
    eager.reset()
    sensors = graph._torque_sensor, eager._torque_sensor
    g = torch.Generator(device="cuda").manual_seed(0)
    for t in range(25):  # 10-step episodes: biases and gains are redrawn twice
        for name in ("_qpos", "_qvel", "_qacc_warmstart"):
            getattr(eager.backend, name).copy_(getattr(graph.backend, name))
        act = 0.3 * torch.randn(8, 19, device="cuda", generator=g)
        *_, ia = graph.step(act)
        *_, ib = eager.step(act)
        torch.testing.assert_close(ia["disc_obs"][:, 69:], ib["disc_obs"][:, 69:], atol=1.0, rtol=0)
        assert torch.equal(sensors[0].bias, sensors[1].bias), t
        assert torch.equal(sensors[0].gain, sensors[1].gain), t
        assert torch.equal(sensors[0].generator.get_state(), sensors[1].generator.get_state()), t
    assert (sensors[0].bias != 0).all()  # the sensor was on and drew biases
