"""The VecEnv contract: H1VecEnv implements it, its step result is typed and still a 5-tuple."""

from __future__ import annotations

import torch

from h1fault.sim.contract import STEP_INFO_KEYS, StepResult, VecEnv
from h1fault.sim.task import EnvConfig
from h1fault.sim.vec_env import H1VecEnv

N = 4


def test_h1vecenv_implements_the_contract() -> None:
    env = H1VecEnv(EnvConfig(), num_envs=N, device="cpu", backend="mujoco", seed=0)
    assert isinstance(env, VecEnv)
    assert env.backend_name == "CpuBackend"
    assert env.nominal_limits.shape == (env.num_actions,)
    assert env.commands.shape == (N, 3)
    result = env.step(torch.zeros(N, env.num_actions))
    assert isinstance(result, StepResult)
    obs, reward, terminated, truncated, info = result  # still Gymnasium's 5-tuple
    assert result.obs is obs and result.info is info and result[1] is reward
    assert obs.shape == (N, env.num_obs) and reward.shape == (N,)
    assert terminated.dtype == torch.bool and truncated.shape == (N,)
    assert set(STEP_INFO_KEYS) <= set(info)
    assert info["disc_obs"].shape == (N, env.num_disc_obs)


def test_an_object_without_step_is_not_a_vecenv() -> None:
    class Half:
        num_envs = num_obs = num_disc_obs = num_actions = max_episode_steps = seed = 1
        device, control_dt, cfg, backend_name = torch.device("cpu"), 0.02, EnvConfig(), "x"
        nominal_limits = commands = torch.zeros(1)

        def reset(self) -> tuple[torch.Tensor, dict]:
            return torch.zeros(1, 69), {}

    assert not isinstance(Half(), VecEnv)
    Half.step = lambda self, actions: None  # type: ignore[attr-defined]
    assert isinstance(Half(), VecEnv)
