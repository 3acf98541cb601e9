"""play's evaluation on a scripted env: fall rate, when falls happen and under which command."""

from __future__ import annotations

from dataclasses import replace

import torch

from h1fault.rl.play import evaluate, evaluation_config
from h1fault.sim.contract import StepResult
from h1fault.sim.task import CommandConfig, EnvConfig

FALL_STEP = {1: 7, 3: 3}
"""Env -> the step (1-based) in which it falls; the others time out after 10 steps."""


class _ScriptedEnv:
    """4 envs, 10-step episodes, commands changed after step 5 (resample_s = 5 steps)."""

    num_envs, num_obs, num_disc_obs, num_actions = 4, 69, 88, 19
    control_dt, max_episode_steps, seed = 0.02, 10, 0
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.cfg = EnvConfig(commands=CommandConfig(resample_s=0.1))
        self.commands = torch.zeros(4, 3)
        self.t = 0

    def reset(self):
        self.t = 0
        self.commands = torch.tensor([[0.1, 0.0, 0.5], [0.2, 0.0, -0.5], [0.3, 0, 0], [0.4, 0, 1]])
        return torch.zeros(4, 69), {}

    def step(self, actions: torch.Tensor) -> StepResult:
        self.t += 1
        terminated = torch.tensor([FALL_STEP.get(i) == self.t for i in range(4)])
        truncated = torch.full((4,), self.t >= 10) & ~terminated
        info = {"lin_vel_error": torch.full((4,), 0.1), "ang_vel_error": torch.full((4,), 0.2),
                "fault_joint": torch.full((4,), -1)}  # fmt: skip
        if self.t == 5:  # the next step runs under new commands
            self.commands = self.commands + torch.tensor([1.0, 0.0, 0.0])
        return StepResult(torch.zeros(4, 69), torch.zeros(4), terminated, truncated, info)


def test_falls_are_timed_and_carry_their_command() -> None:
    report = evaluate(_ScriptedEnv(), lambda obs: torch.zeros(obs.shape[0], 19), None, False)
    assert report.fall_rate == 0.5
    assert report.episode_length_ratio == (10 + 7 + 10 + 3) / 40
    assert report.fall_times_s == [0.06, 0.14]  # ascending: env 3 (step 3), then env 1 (step 7)
    # env 3 fell under its first command, env 1 under the one set after step 5
    assert report.fall_commands == [[0.4, 0.0, 1.0], [1.2, 0.0, -0.5]]
    assert report.command_period_s == 0.1
    assert report.to_dict()["fall_times_s"] == [0.06, 0.14]  # JSON-able for policy.json


def test_evaluation_uses_the_tasks_commands_without_noise_or_faults() -> None:
    base = EnvConfig(commands=CommandConfig(turning_fraction=0.3, standing_fraction=0.05))
    cfg = evaluation_config(base)
    assert cfg.commands.turning_fraction == 0.0  # a training aid, not part of the judged task
    assert cfg.commands == replace(base.commands, turning_fraction=0.0)
    assert not cfg.obs_noise.enabled and not cfg.faults.enabled
    assert cfg.rewards == base.rewards
    assert evaluation_config(base, faults=True).faults.enabled
