"""Score decision rules offline on one split's class probabilities and pick one:
:class:`RuleScorer`, the default rule grid, :func:`pick_rule` / :func:`pick_on_probs` (used by
``disc calibrate`` for the GRU and the residual detector, by ``disc eval`` for its sweeps and by
``disc train`` on val). Same definitions as :mod:`h1fault.disc.metrics` (tested).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from h1fault.disc.dataset import ClassSpec, SplitData
from h1fault.disc.decision import DecisionRule, declare_offline, run_lengths
from h1fault.disc.metrics import (
    FALSE_ALARM_TARGET,
    IDENTIFY_TARGET,
    _quantile,
    _rate,
    _scaled,
    alarm_onsets,
    certification,
    detection_step,
    latency,
)
from h1fault.errors import H1FaultError

THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
"""Fault thresholds of the default grid."""
PERSISTENCES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20)
"""Persistence values (steps) of the default grid; the 0.5 s window is 25 steps."""
LATCHES = (False, True)
"""Latch modes of the default grid."""


class RuleScorer:
    """Headline metrics of many decision rules on one split (vectorised; raw decisions and run
    lengths are computed once per threshold). Same definitions as
    :func:`h1fault.disc.metrics.evaluate_predictions` (tested)."""

    def __init__(
        self,
        probs: torch.Tensor,
        split: SplitData,
        classes: ClassSpec,
        *,
        control_dt: float = 0.02,
        window_s: float = 0.5,
    ) -> None:
        p = torch.as_tensor(probs).float().cpu()
        top, cls = p.max(dim=-1)
        self.top = top.numpy()
        self.cls = cls.numpy().astype(np.int64)
        self.split = split
        self.control_dt = control_dt
        self.window_steps = int(math.floor(window_s / control_dt + 1e-9))
        self.ep_cls = classes.label_to_class(split.ep_fault_joint)
        self.fault_ep = self.ep_cls != 0
        self.healthy_ep = ~self.fault_ep
        self.saturates = self.fault_ep & (split.ep_first_saturation >= 0)
        self.healthy_step = classes.label_to_class(split.label) == 0
        self.healthy_hours = float(self.healthy_step.sum()) * control_dt / 3600.0
        self.episode_steps = int(split.ep_length.max()) if split.num_episodes else 0
        """Full episode length (the longest in the split): the unit of the pooled rate."""
        self.healthy_episode_equivalents = (
            float(self.healthy_step.sum()) / self.episode_steps if self.episode_steps else 0.0
        )
        self._cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def _raw(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        if threshold not in self._cache:
            # float32 comparison, like the torch rule on float32 probabilities
            raw = np.where((self.cls != 0) & (self.top < np.float32(threshold)), 0, self.cls)
            runs = run_lengths(raw, self.split.ep_start, self.split.ep_length)
            self._cache[threshold] = (raw, runs)
        return self._cache[threshold]

    def declared(self, rule: DecisionRule) -> np.ndarray:
        """Declared class per step (S,) under ``rule``."""
        raw, runs = self._raw(rule.fault_threshold)
        s = self.split
        return declare_offline(raw, s.ep_start, s.ep_length, rule.persistence, rule.latch, runs)

    def score(self, rule: DecisionRule) -> dict[str, Any]:
        """Headline numbers of one rule (JSON-able)."""
        s = self.split
        pred = self.declared(rule)
        alarm = pred != 0
        ep_alarm = np.add.reduceat(alarm.astype(np.int64), s.ep_start) > 0
        ep_pre = np.add.reduceat((alarm & self.healthy_step).astype(np.int64), s.ep_start) > 0
        detect = detection_step(pred, s.ep_start, s.ep_length, self.ep_cls)
        lat = latency(detect, s.ep_first_saturation, s.ep_length)[self.saturates]
        n_sat = int(self.saturates.sum())
        last = pred[s.ep_start + s.ep_length - 1]
        wrong = (last != self.ep_cls) & (last != 0) & self.fault_ep
        onsets = int(alarm_onsets(pred, s.ep_start, self.healthy_step).sum())
        med, p90 = _quantile(lat, 0.5), _quantile(lat, 0.9)
        return {
            **rule.to_dict(),
            "identified_within_window_of_saturation": _rate(
                int(((lat >= 0) & (lat <= self.window_steps)).sum()), n_sat
            ),
            "healthy_episode_false_alarm_rate": _rate(
                int((ep_alarm & self.healthy_ep).sum()), int(self.healthy_ep.sum())
            ),
            "healthy_step_false_alarm_rate": _rate(
                int((alarm & self.healthy_step).sum()), int(self.healthy_step.sum())
            ),
            "fault_episode_alarm_before_onset_rate": _rate(
                int((ep_pre & self.fault_ep).sum()), int(self.fault_ep.sum())
            ),
            "alarms_per_healthy_hour": _rate(onsets, self.healthy_hours),
            "pooled_false_alarm_rate": _rate(onsets, self.healthy_episode_equivalents),
            "detected_rate_saturating": _rate(int((lat >= 0).sum()), n_sat),
            "final_wrong_joint_rate": _rate(int(wrong.sum()), int(self.fault_ep.sum())),
            "latency_from_saturation_median_s": _scaled(med, self.control_dt),
            "latency_from_saturation_p90_s": _scaled(p90, self.control_dt),
        }

    def grid(
        self,
        thresholds: tuple[float, ...] | list[float] = THRESHOLDS,
        persistences: tuple[int, ...] | list[int] = PERSISTENCES,
        latches: tuple[bool, ...] | list[bool] = LATCHES,
    ) -> list[dict[str, Any]]:
        """:meth:`score` of every (latch, threshold, persistence) combination, in that order."""
        rows = []
        for latch in latches:
            for th in sorted(set(thresholds)):
                for k in sorted(set(persistences)):
                    rows.append(self.score(DecisionRule(th, k, latch)))
        return rows


def _fa(row: dict[str, Any]) -> float:
    """The larger of the two false-alarm rates of a grid row."""
    return max(
        row["healthy_episode_false_alarm_rate"] or 0.0, row["pooled_false_alarm_rate"] or 0.0
    )


def _key(row: dict[str, Any]) -> tuple:
    """Sort key of feasible rows: best first."""
    inf = float("inf")
    return (
        -(row["identified_within_window_of_saturation"] or 0.0),
        _fa(row),
        row["alarms_per_healthy_hour"] or 0.0,
        inf if row["latency_from_saturation_median_s"] is None
        else row["latency_from_saturation_median_s"],
    )  # fmt: skip


def pick_rule(
    rows: list[dict[str, Any]], fa_target: float = FALSE_ALARM_TARGET
) -> tuple[dict[str, Any], bool]:
    """Best grid row: max identification with both the healthy-episode and the pooled
    false-alarm rate < ``fa_target``.

    Returns the row and whether it meets the target; if none does, the row with the fewest
    false alarms (then most identification) and False.
    """
    if not rows:
        raise H1FaultError("empty rule grid")
    feasible = [r for r in rows if _fa(r) < fa_target]
    if feasible:
        return min(feasible, key=_key), True
    fallback = min(
        rows, key=lambda r: (_fa(r), -(r["identified_within_window_of_saturation"] or 0.0))
    )
    return fallback, False


def certification_warnings(cert: dict[str, Any], split: str, fa_target: float) -> list[str]:
    """One line per reason the pick cannot certify the false-alarm target (empty if it can)."""
    if cert["certified"]:
        return []
    n, ub = cert["healthy_episodes"], cert["false_alarm_upper_bound"]
    k = cert["healthy_episodes_with_alarm"]
    if n < cert["min_healthy_episodes_to_certify"]:
        return [
            f"the {split} split has {n} healthy episodes: even with no alarm the "
            f"{cert['confidence']:.0%} upper bound of the false-alarm rate is {ub:.1%}; "
            f"certifying < {fa_target:.0%} needs >= {cert['min_healthy_episodes_to_certify']} "
            "(collect more data or a larger val split)"
        ]
    return [
        f"{k}/{n} healthy {split} episodes alarmed: the {cert['confidence']:.0%} upper bound of "
        f"the false-alarm rate is {ub:.1%}, not < {fa_target:.0%}"
    ]


def rule_of(row: dict[str, Any]) -> DecisionRule:
    return DecisionRule(row["fault_threshold"], row["persistence"], row["latch"])


def pick_on_probs(
    probs: torch.Tensor,
    split: SplitData,
    classes: ClassSpec,
    *,
    control_dt: float = 0.02,
    fa_target: float = FALSE_ALARM_TARGET,
    window_s: float = 0.5,
    thresholds: tuple[float, ...] | list[float] = THRESHOLDS,
    persistences: tuple[int, ...] | list[int] = PERSISTENCES,
    latches: tuple[bool, ...] | list[bool] = LATCHES,
) -> dict[str, Any]:
    """Score the grid on one split's probabilities (S, C) and pick a rule. Returns
    ``{"pick", "feasible", "rule", "rule_text", "best_per_latch_mode", "grid", ...}``."""
    if not 0.0 < fa_target <= 1.0:
        raise H1FaultError(f"false-alarm target must be in (0, 1], got {fa_target}")
    scorer = RuleScorer(probs, split, classes, control_dt=control_dt, window_s=window_s)
    rows = scorer.grid(thresholds, persistences, latches)
    best, feasible = pick_rule(rows, fa_target)
    n_healthy = int(scorer.healthy_ep.sum())
    alarms = round((best["healthy_episode_false_alarm_rate"] or 0.0) * n_healthy)
    cert = certification(alarms, n_healthy, fa_target)
    best_per_latch = {}
    for latch in sorted(set(latches)):
        row, ok = pick_rule([r for r in rows if r["latch"] == latch], fa_target)
        best_per_latch["latched" if latch else "per_step"] = {**row, "feasible": ok}
    return {
        "split": split.name,
        "num_episodes": split.num_episodes,
        "num_healthy_episodes": int(scorer.healthy_ep.sum()),
        "num_saturating_fault_episodes": int(scorer.saturates.sum()),
        "healthy_episode_equivalents": scorer.healthy_episode_equivalents,
        "window_s": window_s,
        "false_alarm_target": fa_target,
        "identify_target": IDENTIFY_TARGET,
        "pick": best,
        "feasible": feasible,
        "certification": cert,
        "warnings": certification_warnings(cert, split.name, fa_target),
        "rule": rule_of(best).to_dict(),
        "rule_text": rule_of(best).describe(),
        "best_per_latch_mode": best_per_latch,
        "grid": rows,
    }
