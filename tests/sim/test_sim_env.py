"""The H1VecEnv contract: shapes, determinism, auto-reset, time-outs, counters, config errors."""

from __future__ import annotations

from collections.abc import Mapping

import mujoco
import pytest
import torch

from h1fault.console import resolve_device
from h1fault.errors import H1FaultError
from h1fault.sim.backend_factory import make_backend
from h1fault.sim.faults import FaultConfig
from h1fault.sim.model import load_model
from h1fault.sim.quat import quat_to_matrix
from h1fault.sim.task import EnvConfig, ObsNoiseConfig
from h1fault.sim.torque_sensor import TorqueSensorConfig
from h1fault.sim.vec_env import H1VecEnv

N = 4


def make_env(seed: int = 0, **env_kw) -> H1VecEnv:
    """4 CPU envs; faults early enough to show up in 16 steps."""
    env_kw.setdefault("faults", FaultConfig(p_fault=1.0, onset_window_s=(0.0, 0.1)))
    env_kw.setdefault("torque_sensor", TorqueSensorConfig(enabled=False))  # exact torques
    return H1VecEnv(EnvConfig(**env_kw), num_envs=N, device="cpu", backend="mujoco", seed=seed)


def random_actions(steps: int, seed: int = 123) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(N, 19, generator=g) for _ in range(steps)]


def rollout(env: H1VecEnv, actions: list[torch.Tensor]) -> list[torch.Tensor]:
    """Everything the env returns, flattened to a list of tensors."""
    obs, info = env.reset()
    out = [obs.clone(), info["disc_obs"].clone()]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out += [obs.clone(), reward, terminated, truncated, info["disc_obs"].clone()]
        out += [info[k] for k in ("fault_joint", "saturated", "episode", "step_in_episode")]
        out += list(info["fault_events"].values())
    return out


def test_shapes_and_dtypes() -> None:
    env = make_env()
    obs, info = env.reset()
    assert obs.shape == (N, 69) and obs.dtype == torch.float32
    assert info["disc_obs"].shape == (N, 88) and info["disc_obs"].dtype == torch.float32
    assert (env.num_obs, env.num_disc_obs, env.num_actions) == (69, 88, 19)
    obs, reward, terminated, truncated, info = env.step(torch.zeros(N, 19))
    assert obs.shape == (N, 69) and obs.dtype == torch.float32
    assert reward.shape == (N,) and reward.dtype == torch.float32
    assert torch.isfinite(reward).all() and torch.isfinite(obs).all()
    for flag in (terminated, truncated, info["saturated"]):
        assert flag.shape == (N,) and flag.dtype == torch.bool
    for key in ("fault_joint", "episode", "step_in_episode"):
        assert info[key].shape == (N,) and info[key].dtype == torch.int64
    assert info["fault_limit"].shape == (N,) and info["fault_limit"].dtype == torch.float32
    disc = info["disc_obs"]
    assert disc.shape == (N, 88) and disc.dtype == torch.float32
    # discriminator obs = policy obs + the applied torques
    assert torch.equal(disc[:, :69], obs)
    assert torch.equal(disc[:, 69:], env.backend.actuator_force)
    assert torch.equal(obs, env.obs) and torch.equal(disc, env.disc_obs)
    # last action block is the action just taken
    action = torch.full((N, 19), 0.25)
    obs, *_ = env.step(action)
    assert torch.equal(obs[:, 50:69], action)
    for value in info["fault_events"].values():
        assert value.dim() == 1
    assert isinstance(info["log"], Mapping)  # lazy: built only when read (no per-step sync)


def test_same_seed_same_rollout_different_seed_differs() -> None:
    actions = random_actions(16)
    a = rollout(make_env(seed=7), actions)
    b = rollout(make_env(seed=7), actions)
    c = rollout(make_env(seed=8), actions)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and torch.equal(x, y)
    assert not torch.equal(a[0], c[0])  # initial yaw, joint noise, obs noise
    assert any(x.shape != y.shape or not torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_truncation_at_max_episode_steps() -> None:
    env = make_env(episode_length_s=0.2)
    assert env.max_episode_steps == 10
    env.reset()
    for t in range(10):
        _, reward, terminated, truncated, info = env.step(torch.zeros(N, 19))
        assert not terminated.any()
        assert truncated.all() == (t == 9) and truncated.any() == (t == 9)
        assert (info["step_in_episode"] == t).all() and (info["episode"] == 0).all()
    assert info["log"]["Episode/length_s"].item() == pytest.approx(0.2)
    assert info["log"]["Episode/fall_rate"].item() == 0.0
    assert (env.step_in_episode == 0).all() and (env.episode == 1).all()


def test_spread_first_episodes_cuts_only_the_first_ones_short() -> None:
    env = make_env(episode_length_s=0.2, faults=FaultConfig(enabled=False))
    env.reset()
    limits = env.spread_first_episodes()
    assert limits.dtype == torch.long and int(limits.min()) >= 1 and int(limits.max()) <= 10
    assert len(set(limits.tolist())) > 1
    ends: list[list[int]] = [[] for _ in range(N)]
    lengths = []
    for t in range(20):
        _, _, terminated, truncated, info = env.step(torch.zeros(N, 19))
        assert not terminated.any()
        for i in truncated.nonzero().flatten().tolist():
            ends[i].append(t)
            assert int(info["step_in_episode"][i]) + 1 == (limits[i] if len(ends[i]) == 1 else 10)
        if info["log"].totals is not None:
            lengths.append(info["log"]["Episode/length_s"].item())
    # the first time-out at the drawn limit, then a full 10-step episode
    assert ends == [[int(lim) - 1, int(lim) + 9] for lim in limits]
    assert min(lengths) < 0.2 - 1e-6 and max(lengths) == pytest.approx(0.2)  # true lengths


def test_episode_log_has_the_mean_tracking_errors_of_the_episode() -> None:
    env = make_env(episode_length_s=0.2)
    env.reset()
    lin, ang = torch.zeros(N), torch.zeros(N)
    for _ in range(10):
        _, _, _, _, info = env.step(0.3 * torch.ones(N, 19))
        lin += info["lin_vel_error"]
        ang += info["ang_vel_error"]
    log = info["log"]
    assert ang.mean() > 0.01  # the robot does not turn at its commanded rate from rest
    assert log["Episode/lin_vel_error"].item() == pytest.approx((lin / 10).mean().item(), 1e-5)
    assert log["Episode/yaw_rate_error"].item() == pytest.approx((ang / 10).mean().item(), 1e-5)
    assert (env.episode_errors == 0).all()  # the new episodes start from zero


def test_auto_reset_returns_first_obs_of_new_episode() -> None:
    env = make_env(episode_length_s=0.2, obs_noise=ObsNoiseConfig(enabled=False))
    first_obs, _ = env.reset()
    for _ in range(10):
        obs, _, _, truncated, info = env.step(torch.full((N, 19), 0.3))
    assert truncated.all()
    # a new episode starts standing still with no last action, like the very first one
    assert torch.equal(obs, env.obs)
    assert (obs[:, 0:6] == 0).all()  # base lin/ang vel
    assert torch.allclose(obs[:, 6:9], torch.tensor([0.0, 0.0, -1.0]).expand(N, 3), atol=1e-6)
    assert torch.equal(obs[:, 9:12], env.commands)
    assert obs[:, 12:31].abs().max() <= env.cfg.init_joint_noise + 1e-6
    assert (obs[:, 31:69] == 0).all()  # joint vel, last action
    assert torch.allclose(obs[:, 12:31], env.backend.qpos[:, 7:] - env.default_joint_pos)
    assert not torch.equal(obs, first_obs)  # fresh random start, not a replay
    # the next transition is step 0 of episode 1
    _, _, _, _, info = env.step(torch.zeros(N, 19))
    assert (info["episode"] == 1).all() and (info["step_in_episode"] == 0).all()
    assert (env.step_in_episode == 1).all()


def test_fall_terminates_with_penalty() -> None:
    env = make_env(min_base_height=5.0)  # every step is a "fall"
    env.reset()
    _, reward, terminated, truncated, info = env.step(torch.zeros(N, 19))
    assert terminated.all() and not truncated.any()
    assert (reward < -3.0).all()  # termination penalty -200 * 0.02
    assert info["log"]["Episode/fall_rate"].item() == 1.0
    assert (env.episode == 1).all() and (env.step_in_episode == 0).all()


def test_counters_per_env() -> None:
    env = make_env(episode_length_s=0.2)
    env.reset()
    # desynchronise: push env 0 over so that it falls and restarts on its own clock
    push = torch.zeros(N, 19)
    push[0] = 100.0
    ends = torch.zeros(N, dtype=torch.long)
    last_step = torch.full((N,), -1)
    terminated_once = False
    for _ in range(25):
        _, _, terminated, truncated, info = env.step(push)
        done = terminated | truncated
        terminated_once = terminated_once or bool(terminated[0])
        # step_in_episode counts up by one per step within an episode, from 0
        assert torch.equal(info["step_in_episode"], last_step + 1)
        assert torch.equal(info["episode"], ends)
        ends += done.long()
        last_step = torch.where(done, -1, info["step_in_episode"])
        assert torch.equal(env.episode, ends)
    assert env.global_step == 25
    assert terminated_once and len(set(last_step.tolist())) > 1  # env 0 runs on its own clock


def test_reset_restarts_counters() -> None:
    env = make_env(episode_length_s=0.2)
    env.reset()
    for _ in range(12):
        env.step(torch.zeros(N, 19))
    assert (env.episode == 1).all()
    env.reset()
    assert (env.episode == 0).all() and (env.step_in_episode == 0).all()
    assert env.global_step == 0
    _, _, _, _, info = env.step(torch.zeros(N, 19))
    assert (info["episode"] == 0).all() and (info["step_in_episode"] == 0).all()


def test_commands_in_range() -> None:
    env = make_env()
    env.reset()
    c = env.commands
    assert (c[:, 0] >= 0).all() and (c[:, 0] <= 1).all()
    assert (c[:, 1] == 0).all()
    assert (c[:, 2] >= -1).all() and (c[:, 2] <= 1).all()


# -- config errors --------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_one_line_error() -> None:
    with pytest.raises(H1FaultError, match="CUDA is not available") as exc:
        resolve_device("cuda")
    assert "\n" not in str(exc.value)
    with pytest.raises(H1FaultError, match="CUDA is not available"):
        H1VecEnv(num_envs=2, device="cuda:0")


def test_bad_device_and_backend_names() -> None:
    with pytest.raises(H1FaultError, match="device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(H1FaultError, match="unknown backend 'physx'") as exc:
        H1VecEnv(num_envs=2, backend="physx")
    assert "\n" not in str(exc.value)
    with pytest.raises(H1FaultError, match="unknown backend"):
        make_backend(load_model(), 2, "cpu", 5, backend="MuJoCo ")


def test_quat_to_matrix_matches_mujoco() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(32, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    ref = torch.zeros(32, 9, dtype=torch.float64)
    for i in range(32):
        mujoco.mju_quat2Mat(ref[i].numpy(), q[i].numpy())
    assert torch.allclose(quat_to_matrix(q).reshape(32, 9), ref, atol=1e-12)
    v = torch.randn(32, 3, generator=g, dtype=torch.float64)
    body = torch.zeros(32, 3, dtype=torch.float64)  # world to body: rotate by the conjugate
    for i in range(32):
        conj = q[i].numpy() * [1, -1, -1, -1]
        mujoco.mju_rotVecQuat(body[i].numpy(), v[i].numpy(), conj)
    assert torch.allclose((v[:, None] @ quat_to_matrix(q))[:, 0], body, atol=1e-12)
