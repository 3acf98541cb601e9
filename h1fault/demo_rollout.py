"""Step 1 of ``h1fault demo``: a policy rollout under the fault model, summarised."""

from __future__ import annotations

import dataclasses

import torch

from h1fault.sim.contract import Policy, VecEnv
from h1fault.sim.model import JOINT_NAMES
from h1fault.sim.task import EnvConfig
from h1fault.sim.vec_env import H1VecEnv


@dataclasses.dataclass
class RolloutSummary:
    """What happened in a faulted rollout."""

    env_steps: int
    """Env steps simulated (steps * envs)."""
    episodes_ended: int
    """Episodes that ended (fall or time-out)."""
    falls: int
    """Episodes that ended in a fall."""
    faults_injected: int
    """Fault onsets (events)."""
    faults_per_joint: dict[str, int]
    """Onsets per joint name."""
    faulted_steps: int
    """Env steps with a cut limit in effect."""
    saturated_steps: int
    """Of those, steps where the faulted joint's torque sat at its cut limit."""
    falls_after_fault: int
    """Falls in episodes whose fault had started."""


def faulted_rollout(policy: Policy, cfg: EnvConfig, num_envs: int, steps: int,
                    device: str = "cpu", seed: int = 0) -> RolloutSummary:  # fmt: skip
    """Roll ``policy`` (obs (N, 69) -> actions (N, 19)) for ``steps`` steps and count events."""
    env = H1VecEnv(cfg, num_envs=num_envs, device=device, seed=seed)
    return summarise_rollout(env, policy, steps)


def summarise_rollout(env: VecEnv, policy: Policy, steps: int) -> RolloutSummary:
    """Reset ``env``, roll ``policy`` for ``steps`` steps and count falls and fault events."""
    num_envs = env.num_envs
    obs, _ = env.reset()
    per_joint = torch.zeros(len(JOINT_NAMES), dtype=torch.long)
    ended = falls = faulted = saturated = falls_after = 0
    with torch.no_grad():
        for _ in range(steps):
            obs, _, terminated, truncated, info = env.step(policy(obs))
            joints = info["fault_events"]["joint"].cpu()
            per_joint += torch.bincount(joints, minlength=len(JOINT_NAMES))
            active = info["fault_joint"] >= 0
            faulted += int(active.sum())
            saturated += int(info["saturated"].sum())
            ended += int((terminated | truncated).sum())
            falls += int(terminated.sum())
            falls_after += int((terminated & active).sum())
    return RolloutSummary(
        env_steps=steps * num_envs,
        episodes_ended=ended,
        falls=falls,
        faults_injected=int(per_joint.sum()),
        faults_per_joint={JOINT_NAMES[j]: int(c) for j, c in enumerate(per_joint) if c},
        faulted_steps=faulted,
        saturated_steps=saturated,
        falls_after_fault=falls_after,
    )
