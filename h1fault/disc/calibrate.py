"""Pick the decision rule (threshold, persistence, latch) on a split: the calibration step.

Every rule of a grid is scored on one split's streamed probabilities with the eval definitions
(:mod:`h1fault.disc.metrics`); the pick maximises identification within the window of first
saturation subject to false alarms below a target (the issue's quality bar: < 1 % of healthy
episodes), counted twice: the share of healthy episodes with an alarm, and the *pooled* rate, alarm
onsets on all healthy steps (healthy episodes and the pre-onset part of fault episodes) per
full-length episode's worth of healthy steps. The pooled rate sees more healthy time, so it
catches a rule that is only alarm-free on the healthy episodes by luck (a val pick at exactly
zero healthy-episode alarms otherwise generalises poorly). Ties go to fewer false alarms, then
to the shorter median latency. Pick on ``val`` and report ``test`` with the picked rule, so the test
numbers are not tuned on the test set.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from h1fault.disc.checkpoint import DiscMeta, load_split_for_checkpoint, save_checkpoint
from h1fault.disc.dataset import ClassSpec, SplitData
from h1fault.disc.decision import DecisionRule
from h1fault.disc.metrics import FALSE_ALARM_TARGET, IDENTIFY_TARGET, certification
from h1fault.disc.scoring import LATCHES, PERSISTENCES, THRESHOLDS, RuleScorer
from h1fault.disc.streaming import stream_split
from h1fault.errors import H1FaultError
from h1fault.fileio import check_output_file
from h1fault.validate import at_least, number_in


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


def write_calibrated(
    out: str | Path, net: Any, meta: DiscMeta, calibration: dict[str, Any]
) -> Path:
    """Save ``net`` with ``meta``'s rule replaced by the picked one and the calibration summary
    (everything but the grid) in its meta."""
    rule = rule_of(calibration["pick"])
    summary = {k: v for k, v in calibration.items() if k != "grid"}
    new_meta = replace(
        meta,
        fault_threshold=rule.fault_threshold,
        persistence=rule.persistence,
        latch=rule.latch,
        extra={**meta.extra, "calibration": summary},
    )
    return save_checkpoint(out, net, new_meta)


def calibrate(
    checkpoint: str | Path,
    dataset: str | Path,
    *,
    split: str = "val",
    fa_target: float = FALSE_ALARM_TARGET,
    window_s: float = 0.5,
    device: str = "auto",
    num_envs: int = 4096,
    thresholds: tuple[float, ...] | list[float] = THRESHOLDS,
    persistences: tuple[int, ...] | list[int] = PERSISTENCES,
    latches: tuple[bool, ...] | list[bool] = LATCHES,
    out: str | Path | None = None,
    cuda_graph: bool = False,
    progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Stream ``split``, score the rule grid, pick a rule; write it into a copy of the checkpoint
    at ``out`` if given (never over ``checkpoint`` itself; an existing file only with ``force``).
    Returns ``{"pick", "feasible", "grid", ...}`` (JSON-able).

    ``checkpoint`` may also be a residual-detector JSON or the word ``residual`` (a fresh one from
    the model): :func:`~h1fault.disc.residual_calibrate.calibrate_residual` then also tunes its
    gate and smoothing."""
    from h1fault.disc.residual import is_residual_file

    if str(checkpoint) == "residual" or is_residual_file(checkpoint):
        from h1fault.disc.residual_calibrate import calibrate_residual

        start = None if str(checkpoint) == "residual" else checkpoint
        return calibrate_residual(
            dataset, start=start, split=split, fa_target=fa_target, window_s=window_s,
            device=device, num_envs=num_envs, out=out, cuda_graph=cuda_graph, progress=progress,
        )  # fmt: skip
    if not 0.0 < fa_target <= 1.0:
        raise H1FaultError(f"false-alarm target must be in (0, 1], got {fa_target}")
    at_least("--envs", num_envs)
    number_in("--window", window_s, 0.0, lo_open=True)
    if out is not None:
        if Path(out).resolve() == Path(checkpoint).resolve():
            raise H1FaultError(
                f"--out {out} is the input checkpoint; write the calibrated copy to another file"
            )
        check_output_file(out, force)
    net, meta, ds, data, dev = load_split_for_checkpoint(checkpoint, dataset, split, device)
    probs = stream_split(
        net, data, num_envs=num_envs, device=dev, cuda_graph=cuda_graph, progress=progress
    )
    cal = pick_on_probs(
        probs, data, ds.classes, control_dt=ds.control_dt, fa_target=fa_target,
        window_s=window_s, thresholds=thresholds, persistences=persistences, latches=latches,
    )  # fmt: skip
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": str(dataset),
        **cal,
        "previous_rule": meta.rule.to_dict(),
    }
    if out is not None:
        report["out"] = str(write_calibrated(out, net, meta, report))
    return report
