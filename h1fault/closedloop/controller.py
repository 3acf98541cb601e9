"""One controller of the closed loop: a base policy, optionally switched to a bank expert.

Per env, the base policy acts until the controller's switch source names a joint the bank has an
expert for; from the action computed on that very observation on, the env's actions come from
that expert, until the env's episode ends (the first observation of the next episode is acted
on by the base policy again). The first served proposal of an episode stands (latched): a torque
cut lasts until the reset, and flipping experts mid-fall helps nobody.
"""

from __future__ import annotations

import torch
from torch import nn

from h1fault.closedloop.sources import SwitchSource
from h1fault.sim.contract import Policy
from h1fault.sim.model import NUM_JOINTS


class Controller:
    """policy: obs (N, 69) -> actions (N, 19). bank: ``forward(obs (N, 69), joint (N,) int64)
    -> actions (N, 19)`` with ``joints`` (the model joints it has experts for), or None for a
    controller that never switches. source: the :class:`SwitchSource` (None: never switches)."""

    def __init__(
        self,
        name: str,
        policy: Policy,
        num_envs: int,
        device: str | torch.device,
        bank: nn.Module | None = None,
        source: SwitchSource | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.bank = bank if source is not None else None
        self.source = source if bank is not None else None
        self.device = torch.device(device)
        served = torch.zeros(NUM_JOINTS + 1, dtype=torch.bool, device=self.device)
        if self.bank is not None:
            served[torch.tensor(list(self.bank.joints), dtype=torch.long, device=self.device)] = (
                True
            )
        self._served = served
        """(20,) bool: served[j] for model joint j; the last entry (index -1) stays false."""
        self.joint = torch.full((num_envs,), -1, dtype=torch.long, device=self.device)
        """(num_envs,) int64: the expert acting in each env, -1 = the base policy."""
        self.switch_step = torch.full_like(self.joint, -1)
        """(num_envs,) int64: step in episode of the first expert action, -1 = not switched."""
        self.unserved = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        """(num_envs,) bool: this episode, the source named a joint the bank has no expert for."""

    @property
    def switches(self) -> bool:
        """Whether this controller can switch at all."""
        return self.source is not None

    def reset(self) -> None:
        """Every env back on the base policy; the source starts afresh."""
        self.joint.fill_(-1)
        self.switch_step.fill_(-1)
        self.unserved.zero_()
        if self.source is not None:
            self.source.reset()

    @torch.no_grad()
    def act(
        self,
        obs: torch.Tensor,
        disc_obs: torch.Tensor,
        episode_start: torch.Tensor,
        step_in_episode: torch.Tensor,
        info: dict | None,
    ) -> torch.Tensor:
        """Actions (num_envs, 19) for obs (num_envs, 69).

        disc_obs: (num_envs, 88) the same observation with torques, for the source;
        episode_start: (num_envs,) bool, first observation of an episode (switched back here);
        step_in_episode: (num_envs,) int64 index of the step these actions will drive; info: the
        env's info of the step that produced ``obs`` (None right after reset).
        """
        base = self.policy(obs)
        if self.source is None:
            return base
        self.joint.masked_fill_(episode_start, -1)
        self.switch_step.masked_fill_(episode_start, -1)
        self.unserved.masked_fill_(episode_start, False)
        proposed = self.source.propose(disc_obs, episode_start, info)
        ok = self._served[proposed]  # -1 reads the last entry: never served
        self.unserved |= (proposed >= 0) & ~ok
        new = (self.joint < 0) & ok
        torch.where(new, proposed, self.joint, out=self.joint)
        torch.where(new, step_in_episode, self.switch_step, out=self.switch_step)
        switched = self.joint >= 0
        # on the CPU a host read costs nothing: skip the bank when no env is switched
        if self.device.type == "cpu" and not bool(switched.any()):
            return base
        expert = self.bank(obs, self.joint)
        return torch.where(switched[:, None], expert, base)
