"""Fakes for the closed-loop tests: a bank whose experts are recognisable, a scripted detector."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from h1fault.rl.policy import load_policy
from h1fault.sim.task import EnvConfig


class ConstantBank(nn.Module):
    """Expert j answers the constant action 0.01 * (j + 1) in every joint: easy to recognise."""

    def __init__(self, joints=tuple(range(19))) -> None:
        super().__init__()
        self.joints = tuple(joints)

    def forward(self, obs: torch.Tensor, joint: torch.Tensor) -> torch.Tensor:
        return (0.01 * (joint.float() + 1))[:, None].expand(-1, 19).clone()


def expert_action(joint: int) -> float:
    return 0.01 * (joint + 1)


class ScriptedDetector:
    """Declares class ``c`` in env ``e`` at call ``t`` for every ``(t, e): c`` of ``script``
    (healthy everywhere else); records the episode_start masks it was given."""

    def __init__(self, num_envs: int, script: dict[tuple[int, int], int]) -> None:
        self.num_envs = num_envs
        self.script = script
        self.calls = 0
        self.starts: list[torch.Tensor] = []

    def reset(self) -> None:
        self.calls = 0
        self.starts = []

    def step_decision(self, obs: torch.Tensor, episode_start: torch.Tensor):
        declared = torch.zeros(self.num_envs, dtype=torch.long)
        for (t, e), c in self.script.items():
            if t == self.calls:
                declared[e] = c
        self.starts.append(episode_start.clone())
        self.calls += 1
        return declared, None


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture
def short_cfg() -> EnvConfig:
    """0.3 s episodes (15 steps), a fault in every episode with its onset in 0.06-0.2 s."""
    base = EnvConfig()
    faults = dataclasses.replace(base.faults, p_fault=1.0, onset_window_s=(0.06, 0.2))
    return dataclasses.replace(base, episode_length_s=0.3, faults=faults)
