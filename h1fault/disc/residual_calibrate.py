"""``disc calibrate residual DATASET``: tune the residual detector on a val split.

For every (gate, smoothing) of a small grid the split is streamed as deployed and every decision
rule (z threshold x persistence x latch) is scored with the eval definitions; the pick is the
calibration pick of :mod:`h1fault.disc.calibrate` (max identification within the window with the
healthy-episode and pooled false-alarm rates below the target), over all of them. The result is a
residual JSON with the picked params and rule and the calibration summary (with the Clopper-
Pearson bound of its false-alarm rate).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from h1fault.console import resolve_device
from h1fault.disc.calibrate import calibrate
from h1fault.disc.dataset import DiscDataset, SplitData
from h1fault.disc.metrics import FALSE_ALARM_TARGET
from h1fault.disc.residual import (
    ResidualDetector,
    is_residual_file,
    load_residual,
    new_residual,
    offline_scores,
    save_residual,
    score_threshold,
)
from h1fault.disc.scoring import (
    LATCHES,
    PERSISTENCES,
    RuleScorer,
    pick_on_probs,
    pick_rule,
    rule_of,
)
from h1fault.errors import H1FaultError

Z_THRESHOLDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)
"""z thresholds of the grid (shortfall in units of the noise bound)."""
GATES = (0.4, 0.5, 0.6, 0.8)
"""Gate values of the grid (share of the nominal limit under which a joint counts)."""
SMOOTHINGS = (1.0, 0.6, 0.35)
"""EMA weights of the grid (1 = no smoothing)."""
PARAM_PERSISTENCES = (1, 2, 3, 4, 6, 8, 12)
"""Persistences scored per (gate, smoothing), latched only (latched rules win everywhere, and
scoring every rule of every parameter set is the slow part on big splits); the picked
parameters then get the full rule grid."""


def load_splits(ds: DiscDataset, split: str) -> SplitData:
    """One split, or several joined by ``+`` (``train+val``: the residual detector learns nothing
    from the train split, so it may calibrate on it too; more healthy episodes, a tighter bound).
    """
    parts = [ds.load_split(name) for name in split.split("+")]
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.num_samples for p in parts[:-1]])
    cat = np.concatenate
    return SplitData(
        name=split, obs=torch.cat([p.obs for p in parts]),
        label=cat([p.label for p in parts]), saturated=cat([p.saturated for p in parts]),
        ep_start=cat([p.ep_start + o for p, o in zip(parts, offsets, strict=True)]),
        ep_length=cat([p.ep_length for p in parts]),
        ep_fault_joint=cat([p.ep_fault_joint for p in parts]),
        ep_onset=cat([p.ep_onset for p in parts]),
        ep_first_saturation=cat([p.ep_first_saturation for p in parts]),
        ep_terminated=cat([p.ep_terminated for p in parts]),
    )  # fmt: skip


def calibrate_residual(
    dataset: str | Path,
    *,
    start: str | Path | None = None,
    split: str = "val",
    fa_target: float = FALSE_ALARM_TARGET,
    window_s: float = 0.5,
    device: str = "auto",
    num_envs: int = 4096,
    gates: tuple[float, ...] = GATES,
    smoothings: tuple[float, ...] = SMOOTHINGS,
    z_thresholds: tuple[float, ...] = Z_THRESHOLDS,
    out: str | Path | None = None,
    cuda_graph: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Pick gate, smoothing and rule on ``split``; write the detector to ``out`` if given.

    ``split``: a split or ``train+val`` (see :func:`load_splits`); never the test split you
    report. ``start``: a residual JSON whose constants are kept (default: fresh from the model
    and the default env config). Returns the calibration report (JSON-able, as :func:`calibrate`'s
    plus ``params_grid``: the best row per (gate, smoothing)).
    """
    from h1fault.disc.streaming import stream_split

    if not 0.0 < fa_target <= 1.0:
        raise H1FaultError(f"false-alarm target must be in (0, 1], got {fa_target}")
    dev = resolve_device(device)
    ds = DiscDataset(dataset)
    data = load_splits(ds, split)
    if data.num_episodes == 0:
        raise H1FaultError(f"{dataset}: the {split} split has no episodes")
    if start is not None:
        det0, meta0 = load_residual(start)
        if tuple(meta0.class_joints) != tuple(ds.classes.joints):
            det0 = ResidualDetector(det0.params, tuple(ds.classes.joints))
            meta0 = replace(
                meta0, class_joints=tuple(ds.classes.joints), class_names=tuple(ds.classes.names)
            )
    else:
        det0, meta0 = new_residual(ds.classes, ds.control_dt)
    thresholds = [score_threshold(z) for z in z_thresholds]
    rows: list[dict[str, Any]] = []
    best_probs, best_row, best_params = None, None, None
    for gate in gates:
        for smoothing in smoothings:
            params = replace(det0.params, gate=gate, smoothing=smoothing)
            det = ResidualDetector(params, tuple(ds.classes.joints)).to(dev)
            # vectorised (equal to streaming up to float32 rounding of the EMA); the picked
            # detector is streamed as deployed below
            probs = offline_scores(det, data.obs.to(dev), data.ep_start, data.ep_length)
            scorer = RuleScorer(probs, data, ds.classes, control_dt=ds.control_dt,
                                window_s=window_s)  # fmt: skip
            grid = scorer.grid(thresholds, PARAM_PERSISTENCES, (True,))
            row, ok = pick_rule(grid, fa_target)
            row = {**row, "gate": gate, "smoothing": smoothing, "feasible": ok}
            rows.append(row)
            if best_row is None or pick_rule([best_row, row], fa_target)[0] is row:
                best_probs, best_row, best_params = probs, row, params
    assert best_probs is not None and best_params is not None
    best_det = ResidualDetector(best_params, tuple(ds.classes.joints)).to(dev)
    best_probs = stream_split(
        best_det, data, num_envs=num_envs, device=dev, cuda_graph=cuda_graph, progress=progress
    )
    cal = pick_on_probs(
        best_probs, data, ds.classes, control_dt=ds.control_dt, fa_target=fa_target,
        window_s=window_s, thresholds=thresholds, persistences=PERSISTENCES, latches=LATCHES,
    )  # fmt: skip
    rule = rule_of(cal["pick"])
    report: dict[str, Any] = {
        "checkpoint": str(start) if start is not None else "residual",
        "dataset": str(dataset),
        **cal,
        "z_threshold": round(rule.fault_threshold / (1.0 - rule.fault_threshold), 4),
        "params": {"gate": best_params.gate, "smoothing": best_params.smoothing},
        "params_grid": rows,
    }
    if out is not None:
        det = ResidualDetector(best_params, tuple(ds.classes.joints))
        meta = replace(
            meta0, fault_threshold=rule.fault_threshold, persistence=rule.persistence,
            latch=rule.latch, control_dt=ds.control_dt,
        )  # fmt: skip
        summary = {k: v for k, v in report.items() if k not in ("grid", "params_grid")}
        report["out"] = str(save_residual(out, det, meta, {"calibration": summary}))
    return report


def calibrate_any(checkpoint: str | Path, dataset: str | Path, **kw: Any) -> dict[str, Any]:
    """``disc calibrate``: :func:`calibrate_residual` for the word ``residual`` (a fresh detector
    from the model) or a residual JSON, else :func:`~h1fault.disc.calibrate.calibrate` (GRU).
    ``force``: replace an existing ``out``."""
    if str(checkpoint) != "residual" and not is_residual_file(checkpoint):
        return calibrate(checkpoint, dataset, **kw)
    out, force = kw.pop("out", None), kw.pop("force", False)
    for name in ("thresholds", "persistences", "latches"):
        kw.pop(name, None)  # the residual's grid is its own
    if out is not None:
        if Path(out).exists() and not force:
            raise H1FaultError(f"{out} exists; pass --force to replace it")
        if str(checkpoint) != "residual" and Path(out).resolve() == Path(checkpoint).resolve():
            raise H1FaultError(f"--out {out} is the input detector; write to another file")
    start = None if str(checkpoint) == "residual" else checkpoint
    return calibrate_residual(dataset, start=start, out=out, **kw)
