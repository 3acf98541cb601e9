"""Per-env torque-limit faults: at most one per episode, restored at every reset.

Per episode, with probability ``p_fault``, one candidate joint is drawn uniformly, an onset step
uniformly in the onset window and a kept-torque fraction uniformly in ``scale_range``. From the
onset step to the end of the episode that joint's symmetric torque limit is
``scale * nominal``; every reset restores all limits to nominal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from h1fault.errors import H1FaultError
from h1fault.sim.model import DEFAULT_FAULT_CANDIDATES, joint_index


@dataclass(frozen=True)
class FaultConfig:
    """The fault distribution (recorded with every dataset)."""

    enabled: bool = True
    """Inject faults at all (train-healthy turns this off)."""
    p_fault: float = 0.75
    """Probability that an episode gets one fault."""
    onset_window_s: tuple[float, float] = (1.0, 10.0)
    """Onset time in the episode (s), drawn uniformly in [lo, hi)."""
    scale_range: tuple[float, float] = (0.0, 0.3)
    """Fraction of the nominal torque limit kept after the fault, drawn uniformly in [lo, hi]."""
    candidates: tuple[str, ...] = field(default=DEFAULT_FAULT_CANDIDATES)
    """Joints the fault may hit (names, model order); default: all but the two ankles."""

    def validate(self, episode_length_s: float) -> None:
        """Raise a one-line :class:`H1FaultError` for an impossible configuration."""
        if not 0.0 <= self.p_fault <= 1.0:
            raise H1FaultError(f"faults.p_fault must be in [0, 1], got {self.p_fault}")
        lo, hi = self.scale_range
        if not (0.0 <= lo <= hi <= 1.0):
            raise H1FaultError(
                f"faults.scale_range must satisfy 0 <= lo <= hi <= 1, got {self.scale_range}"
            )
        t0, t1 = self.onset_window_s
        # the window only has to fit the episode when faults are actually injected
        if self.enabled and not (0.0 <= t0 < t1 <= episode_length_s):
            raise H1FaultError(
                f"faults.onset_window_s must satisfy 0 <= lo < hi <= episode length "
                f"({episode_length_s} s), got {self.onset_window_s}"
            )
        if not self.candidates:
            raise H1FaultError("faults.candidates is empty")
        idx = [joint_index(c) for c in self.candidates]
        if len(set(idx)) != len(idx):
            raise H1FaultError(f"faults.candidates has duplicates: {self.candidates}")

    def candidate_indices(self) -> list[int]:
        """Model indices of the candidate joints, in the given order."""
        return [joint_index(c) for c in self.candidates]


class FaultSchedule:
    """Draws and applies one fault plan per env and episode.

    State (all on the env device, shape (num_envs,)): planned joint (-1 for a healthy episode),
    onset step, scale, and whether the fault is active. :attr:`limits` is the (num_envs, 19)
    torque-limit table handed to the physics backend.
    """

    def __init__(
        self,
        cfg: FaultConfig,
        nominal_limits: torch.Tensor,
        num_envs: int,
        control_dt: float,
        episode_length_s: float,
        generator: torch.Generator,
    ) -> None:
        cfg.validate(episode_length_s)
        self.cfg = cfg
        self.device = nominal_limits.device
        self.nominal = nominal_limits.float()  # (19,)
        self.num_envs = num_envs
        self.generator = generator
        self._candidates = torch.tensor(cfg.candidate_indices(), device=self.device)
        self._joint_ids = torch.arange(len(self.nominal), device=self.device)
        self._onset_lo = round(cfg.onset_window_s[0] / control_dt)
        self._onset_hi = max(self._onset_lo + 1, round(cfg.onset_window_s[1] / control_dt))
        n = num_envs
        self.planned_joint = torch.full((n,), -1, dtype=torch.long, device=self.device)
        """(num_envs,) int64: joint drawn for this episode, -1 if healthy."""
        self.onset_step = torch.zeros(n, dtype=torch.long, device=self.device)
        """(num_envs,) int64: step in episode at which the cut takes effect."""
        self.scale = torch.ones(n, device=self.device)
        """(num_envs,) float32: kept fraction of the nominal limit."""
        self.active = torch.zeros(n, dtype=torch.bool, device=self.device)
        """(num_envs,) bool: the cut is in effect now."""
        self.limits = self.nominal.expand(n, -1).clone()
        """(num_envs, 19) float32: current torque limit per env and joint (N·m)."""

    def resample(self, env_mask: torch.Tensor) -> None:
        """New episode for the masked envs: restore all limits, draw the next plan.

        env_mask: (num_envs,) bool.
        """
        n, dev, g = self.num_envs, self.device, self.generator
        has = torch.rand(n, device=dev, generator=g) < (self.cfg.p_fault if self.cfg.enabled else 0)
        pick = torch.randint(len(self._candidates), (n,), device=dev, generator=g)
        onset = torch.randint(self._onset_lo, self._onset_hi, (n,), device=dev, generator=g)
        lo, hi = self.cfg.scale_range
        scale = lo + (hi - lo) * torch.rand(n, device=dev, generator=g)
        joint = torch.where(has, self._candidates[pick], torch.full_like(pick, -1))
        self.planned_joint = torch.where(env_mask, joint, self.planned_joint)
        self.onset_step = torch.where(env_mask, onset, self.onset_step)
        self.scale = torch.where(env_mask, scale, self.scale)
        self.active = self.active & ~env_mask
        self.limits = torch.where(env_mask[:, None], self.nominal.expand(n, -1), self.limits)

    def apply_onsets(self, step_in_episode: torch.Tensor) -> torch.Tensor:
        """Activate faults whose onset is this step. Returns (num_envs,) bool: onsets now.

        step_in_episode: (num_envs,) int64, the step about to be simulated.
        """
        onset_now = (self.planned_joint >= 0) & (step_in_episode == self.onset_step) & ~self.active
        # masked, not indexed: no host sync on GPUs
        cut = onset_now[:, None] & (self._joint_ids == self.planned_joint[:, None])
        self.limits = torch.where(cut, self.scale[:, None] * self.nominal, self.limits)
        self.active = self.active | onset_now
        return onset_now

    def fault_joint(self) -> torch.Tensor:
        """Joint whose limit is cut now, -1 if none. Shape: (num_envs,) int64."""
        return torch.where(self.active, self.planned_joint, torch.full_like(self.planned_joint, -1))

    def fault_limit(self) -> torch.Tensor:
        """Cut torque limit (N·m) of the faulted joint, NaN if none. Shape: (num_envs,) float32."""
        j = self.planned_joint.clamp(min=0)
        lim = self.limits.gather(1, j[:, None]).squeeze(1)
        return torch.where(self.active, lim, torch.full_like(lim, float("nan")))

    def saturated(self, actuator_force: torch.Tensor) -> torch.Tensor:
        """Faulted joint's applied torque is at its cut limit. Shape: (num_envs,) bool.

        actuator_force: (num_envs, 19) applied torques of the last substep.
        """
        j = self.planned_joint.clamp(min=0)
        force = actuator_force.gather(1, j[:, None]).squeeze(1).abs()
        lim = self.limits.gather(1, j[:, None]).squeeze(1)
        # relative tolerance: float32 state and clamping round-trips lose ~1e-6 relative
        at_limit = force >= lim * (1.0 - 1e-4) - 1e-5
        return self.active & at_limit
