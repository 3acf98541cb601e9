"""The decision rule: from per-step class probabilities to a declared fault, with persistence.

A step's *raw decision* is the argmax of the probabilities, except that a fault class wins only
if its probability is at least ``fault_threshold`` (else the step is called healthy). A fault is
*declared* only once the same fault class has been the raw decision for ``persistence``
consecutive steps of the episode (1 = every raw decision is declared at once). Then either

* ``latch = False``: the rule is applied afresh at every step: the declared class at step ``t`` is
  ``c`` if the raw decisions ``t - persistence + 1 .. t`` are all ``c != 0``, else healthy; or
* ``latch = True``: the first declaration stands until the episode ends (a torque cut lasts until
  the next reset, and a supervisor acts on the first declaration anyway).

``persistence = 1, latch = False`` is the plain per-step rule. The state per env is the class of
the current run of raw decisions, the run's length (capped at ``persistence``) and the latched
class; all three are zeroed at ``episode_start``. The streaming form (:class:`DecisionStep`, used
by :class:`~h1fault.disc.model.StreamingDiscriminator` and the TorchScript export) and the
offline form over whole episodes (:func:`declare_offline`, used by eval and calibration) give the
same per-step results (tests/disc/test_disc_decision.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from h1fault.errors import H1FaultError


@dataclass(frozen=True)
class DecisionRule:
    """Threshold, persistence and latching: how probabilities become a declared fault."""

    fault_threshold: float = 0.0
    """A fault class is a step's raw decision only if its probability is >= this (0 = argmax)."""
    persistence: int = 1
    """Consecutive steps of the same raw fault decision before it is declared (1 = at once)."""
    latch: bool = False
    """Keep the first declaration until the episode ends (else re-apply the rule every step)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.fault_threshold <= 1.0:
            raise H1FaultError(f"fault threshold must be in [0, 1], got {self.fault_threshold}")
        if int(self.persistence) != self.persistence or self.persistence < 1:
            raise H1FaultError(f"persistence must be an integer >= 1, got {self.persistence}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault_threshold": float(self.fault_threshold),
            "persistence": int(self.persistence),
            "latch": bool(self.latch),
        }

    def describe(self) -> str:
        """Short human form, e.g. ``p >= 0.9 for 5 steps, latched``."""
        th = "argmax" if self.fault_threshold <= 0 else f"p >= {self.fault_threshold:g}"
        k = "" if self.persistence == 1 else f" for {self.persistence} steps"
        return f"{th}{k}, {'latched' if self.latch else 'per step'}"


def raw_decision(probs: torch.Tensor, fault_threshold: float = 0.0) -> torch.Tensor:
    """Argmax, but a fault class only if its probability >= ``fault_threshold``.

    probs: (..., C) with class 0 healthy. Returns (...) int64 class indices.
    """
    prob, cls = probs.max(dim=-1)
    if fault_threshold > 0:
        cls = torch.where((cls != 0) & (prob < fault_threshold), torch.zeros_like(cls), cls)
    return cls


class DecisionStep(nn.Module):
    """One step of the rule for N envs (TorchScript- and CUDA-graph-friendly, no host syncs).

    ``forward(probs (N, C), episode_start (N,) bool, state (3, N) int64)
    -> (declared (N,) int64, new state (3, N))``. State rows: class of the current run of raw
    decisions, its length (capped at ``persistence``), the latched class (latch only).
    """

    def __init__(self, rule: DecisionRule | None = None) -> None:
        super().__init__()
        rule = rule or DecisionRule()
        self.fault_threshold: float = float(rule.fault_threshold)
        self.persistence: int = int(rule.persistence)
        self.latch: bool = bool(rule.latch)

    @torch.jit.export
    def initial_state(self, num_envs: int, device: torch.device) -> torch.Tensor:
        """All-zero state for ``num_envs`` envs. Shape: (3, num_envs) int64."""
        return torch.zeros(3, num_envs, dtype=torch.int64, device=device)

    def forward(
        self, probs: torch.Tensor, episode_start: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prob, raw = probs.max(dim=-1)
        if self.fault_threshold > 0:
            raw = torch.where((raw != 0) & (prob < self.fault_threshold), 0, raw)
        keep = torch.logical_not(episode_start)
        run_cls, run_len, latched = state[0], state[1], state[2]
        same = keep & (raw == run_cls)
        run_len = torch.where(same, (run_len + 1).clamp(max=self.persistence), 1)
        persistent = (raw != 0) & (run_len >= self.persistence)
        if self.latch:
            latched = torch.where(keep, latched, 0)
            latched = torch.where((latched == 0) & persistent, raw, latched)
            declared = latched
        else:
            declared = torch.where(persistent, raw, 0)
        return declared, torch.stack([raw, run_len, latched], 0)


def run_lengths(raw: np.ndarray, ep_start: np.ndarray, ep_length: np.ndarray) -> np.ndarray:
    """Length of the run of equal raw decisions ending at each step, within its episode.

    raw: (S,) int; episodes contiguous from row 0. Returns (S,) int64 (1 at a run's first step).
    """
    s = len(raw)
    pos = np.arange(s, dtype=np.int64)
    new_run = np.ones(s, dtype=bool)
    new_run[1:] = raw[1:] != raw[:-1]
    new_run[ep_start] = True
    run_start = np.maximum.accumulate(np.where(new_run, pos, 0))
    return pos - run_start + 1


def declare_offline(
    raw: np.ndarray,
    ep_start: np.ndarray,
    ep_length: np.ndarray,
    persistence: int,
    latch: bool,
    runs: np.ndarray | None = None,
) -> np.ndarray:
    """The rule over whole episodes at once: declared class per step (S,) int64.

    raw: (S,) raw decisions (:func:`raw_decision`); ``runs``: :func:`run_lengths` of ``raw`` if
    already computed. Same result as stepping :class:`DecisionStep` through every episode.
    """
    raw = np.asarray(raw, dtype=np.int64)
    if runs is None:
        runs = run_lengths(raw, ep_start, ep_length)
    persistent = (raw != 0) & (runs >= persistence)
    if not latch:
        return np.where(persistent, raw, 0)
    s = len(raw)
    if s == 0:
        return raw.copy()
    pos = np.arange(s, dtype=np.int64)
    first = np.minimum.reduceat(np.where(persistent, pos, s), ep_start)  # s = never declared
    first_step = np.repeat(first, ep_length)
    cls = np.append(raw, 0)[first]  # row s is the "never" sentinel
    return np.where(pos >= first_step, np.repeat(cls, ep_length), 0)


def declare(
    probs: torch.Tensor | np.ndarray,
    ep_start: np.ndarray,
    ep_length: np.ndarray,
    rule: DecisionRule,
) -> np.ndarray:
    """Declared class per step (S,) for (S, C) probabilities of whole contiguous episodes."""
    p = torch.as_tensor(probs)
    raw = raw_decision(p, rule.fault_threshold).cpu().numpy()
    return declare_offline(raw, ep_start, ep_length, rule.persistence, rule.latch)
