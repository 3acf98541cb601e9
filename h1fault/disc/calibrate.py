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

from h1fault.disc.checkpoint import DiscMeta, load_split_for_checkpoint, save_checkpoint
from h1fault.disc.metrics import FALSE_ALARM_TARGET
from h1fault.disc.scoring import LATCHES, PERSISTENCES, THRESHOLDS, pick_on_probs, rule_of
from h1fault.disc.streaming import stream_split
from h1fault.errors import H1FaultError
from h1fault.fileio import check_output_file
from h1fault.validate import at_least, number_in


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
    Returns ``{"pick", "feasible", "grid", ...}`` (JSON-able). For the residual detector see
    :func:`~h1fault.disc.residual_calibrate.calibrate_any`."""
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
