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
    torque-limit table handed to the physics backend. State tensors are only ever updated in
    place, by masked ops without host syncs (the env's CUDA graphs read these very tensors).
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
        self._candidate_cdf: torch.Tensor | None = None
        """Cumulative draw probabilities (K,) when candidates are weighted; None: uniform."""
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

    def resample(self, env_mask: torch.Tensor, uniforms: torch.Tensor | None = None) -> None:
        """New episode for the masked envs: restore all limits, draw the next plan.

        env_mask: (num_envs,) bool. uniforms: (num_envs, 4) draws in [0, 1) for (has fault, joint,
        onset, scale); drawn from the generator when None. Every env consumes its draws, masked or
        not, so the random stream does not depend on which envs reset (no host sync on GPUs).
        State is updated in place (a captured CUDA graph keeps reading the same tensors).
        """
        n, cfg = self.num_envs, self.cfg
        if uniforms is None:
            uniforms = torch.rand(n, 4, device=self.device, generator=self.generator)
        u_has, u_joint, u_onset, u_scale = uniforms.unbind(1)
        k = len(self._candidates)
        span = self._onset_hi - self._onset_lo
        has = u_has < (cfg.p_fault if cfg.enabled else 0.0)
        # uniform integers by flooring; clamped: float32 u * k can round up to k
        if self._candidate_cdf is None:
            pick = (u_joint * k).long().clamp_(max=k - 1)
        else:
            pick = torch.searchsorted(self._candidate_cdf, u_joint, right=True).clamp_(max=k - 1)
        onset = (u_onset * span).long().clamp_(max=span - 1).add_(self._onset_lo)
        lo, hi = cfg.scale_range
        scale = lo + (hi - lo) * u_scale
        joint = self._candidates[pick].masked_fill_(~has, -1)
        torch.where(env_mask, joint, self.planned_joint, out=self.planned_joint)
        torch.where(env_mask, onset, self.onset_step, out=self.onset_step)
        torch.where(env_mask, scale, self.scale, out=self.scale)
        self.active &= ~env_mask
        torch.where(env_mask[:, None], self.nominal, self.limits, out=self.limits)

    def weight_candidates(self, weights: torch.Tensor | None) -> None:
        """Draw candidate ``i`` with probability ``weights[i] / sum`` from the next resample on
        (training only: ``train-failure`` gives hard joints more episodes; the recorded fault
        model of a dataset is always the uniform one). weights: (K,) >= 0, or None for uniform.
        """
        if weights is None:
            self._candidate_cdf = None
            return
        w = torch.as_tensor(weights, dtype=torch.float32, device=self.device)
        if w.shape != self._candidates.shape or not bool((w >= 0).all()) or float(w.sum()) <= 0:
            raise H1FaultError(
                f"candidate weights must be {len(self._candidates)} non-negative numbers, not all 0"
            )
        self._candidate_cdf = torch.cumsum(w / w.sum(), dim=0)

    def apply_onsets(self, step_in_episode: torch.Tensor) -> torch.Tensor:
        """Activate faults whose onset is this step. Returns (num_envs,) bool: onsets now.

        step_in_episode: (num_envs,) int64, the step about to be simulated. Masked and in place:
        no host sync on GPUs, capturable in a CUDA graph.
        """
        onset_now = (self.planned_joint >= 0) & (step_in_episode == self.onset_step) & ~self.active
        cut = onset_now[:, None] & (self._joint_ids == self.planned_joint[:, None])
        torch.where(cut, self.scale[:, None] * self.nominal, self.limits, out=self.limits)
        self.active |= onset_now
        return onset_now

    def fault_joint(self) -> torch.Tensor:
        """Joint whose limit is cut now, -1 if none. Shape: (num_envs,) int64."""
        return self.planned_joint.masked_fill(~self.active, -1)

    def fault_limit(self) -> torch.Tensor:
        """Cut torque limit (N·m) of the faulted joint, NaN if none. Shape: (num_envs,) float32."""
        return self._planned_limit().masked_fill(~self.active, float("nan"))

    def saturated(self, actuator_force: torch.Tensor) -> torch.Tensor:
        """Faulted joint's applied torque is at its cut limit. Shape: (num_envs,) bool.

        actuator_force: (num_envs, 19) applied torques of the last substep.
        """
        j = self.planned_joint.clamp(min=0)[:, None]
        force = actuator_force.gather(1, j)[:, 0].abs()
        # relative tolerance: float32 state and clamping round-trips lose ~1e-6 relative
        at_limit = force >= self._planned_limit() * (1.0 - 1e-4) - 1e-5
        return self.active & at_limit

    def _planned_limit(self) -> torch.Tensor:
        """Current limit of each env's planned joint (joint 0 for healthy envs). (num_envs,)."""
        return self.limits.gather(1, self.planned_joint.clamp(min=0)[:, None])[:, 0]
