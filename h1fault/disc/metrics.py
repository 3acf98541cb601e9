"""Evaluation metrics on per-step predictions: accuracy, confusion, detection latency, false alarms.

Definitions (also in docs/commands_disc.md):

* **Detection step** of a fault episode: the first step from which the prediction is the faulted
  joint's class and stays so until the episode ends. No such step (wrong at the last step) means
  the fault was not detected.
* **Latency** from a reference step ``r`` (onset, or first saturation): ``max(detection, r) - r``
  steps, times ``control_dt`` for seconds. Only episodes that saturate have a latency from
  saturation.
* **Identified within the window**: latency from first saturation <= ``window_s``, over episodes
  that saturate.
* Latency quantiles count undetected episodes as infinitely late (null in JSON), nearest-rank.
* **False alarms**: healthy steps (dataset label -1, including steps before a fault's onset)
  predicted as any fault; healthy episodes (no fault) with at least one such step; fault episodes
  with one before the onset; and *alarm onsets* (a healthy step predicted as a fault class other
  than the previous step's prediction) per hour of healthy steps, which pools healthy episodes and
  the pre-onset part of fault episodes; the same pooled count per full-length episode's worth of
  healthy steps (the longest episode of the split) is the *pooled false-alarm rate*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from h1fault.disc.dataset import ClassSpec, SplitData

IDENTIFY_TARGET = 0.95
"""Quality bar: share of saturating faults identified within the window."""
FALSE_ALARM_TARGET = 0.01
"""Quality bar: healthy episodes with any false alarm must stay below this share."""
CONFIDENCE = 0.95
"""One-sided confidence of the Clopper-Pearson upper bound on the false-alarm rate."""


def false_alarm_upper_bound(alarms: int, episodes: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen as ``alarms`` of ``episodes``:
    the ``confidence`` quantile of Beta(alarms + 1, episodes - alarms); 1 without episodes.

    With no alarms it is ``1 - (1 - confidence) ** (1 / episodes)``: 0 alarms in 299 healthy
    episodes certify < 1 % at 95 %, 0 in 20 only < 13.9 %.
    """
    if episodes <= 0 or alarms >= episodes:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, alarms + 1, episodes - alarms))


def episodes_to_certify(target: float, confidence: float = CONFIDENCE) -> int:
    """Fewest healthy episodes whose bound can be < ``target`` (with no alarm at all)."""
    return int(math.floor(math.log(1.0 - confidence) / math.log(1.0 - target))) + 1


def certification(alarms: int, episodes: int, target: float = FALSE_ALARM_TARGET) -> dict:
    """The bound, whether it certifies ``target``, and the episodes needed at best (JSON-able)."""
    ub = false_alarm_upper_bound(alarms, episodes)
    return {
        "false_alarm_upper_bound": ub,
        "confidence": CONFIDENCE,
        "certified": bool(ub < target),
        "healthy_episodes": int(episodes),
        "healthy_episodes_with_alarm": int(alarms),
        "min_healthy_episodes_to_certify": episodes_to_certify(target),
    }


@dataclass
class EvalArrays:
    """Per-episode detection results, kept for plots. Every array has shape (E,)."""

    ep_class: np.ndarray
    """Faulted joint's class, 0 for healthy episodes."""
    latency_onset: np.ndarray
    """Steps from onset to detection; -1 undetected or healthy."""
    latency_saturation: np.ndarray
    """Steps from first saturation to detection; -1 undetected, healthy or never saturated."""
    saturates: np.ndarray
    """Fault episode whose faulted joint saturates at least once (bool)."""


def detection_step(
    pred: np.ndarray, ep_start: np.ndarray, ep_length: np.ndarray, ep_class: np.ndarray
) -> np.ndarray:
    """First step (in episode) from which ``pred`` equals ``ep_class`` until the episode ends.

    pred: (S,) int; episodes contiguous and ascending (``ep_start[0] = 0``, no gaps), each
    length >= 1. Returns (E,) int64; equal to the episode length when the last step is wrong.
    """
    if len(ep_start) == 0:
        return np.zeros(0, dtype=np.int64)
    per_step = np.repeat(ep_class, ep_length)
    pos = np.arange(len(pred), dtype=np.int64) - np.repeat(ep_start, ep_length)
    last_wrong_plus_one = np.where(pred != per_step, pos + 1, 0)
    return np.maximum.reduceat(last_wrong_plus_one, ep_start).astype(np.int64)


def alarm_onsets(pred: np.ndarray, ep_start: np.ndarray, healthy_step: np.ndarray) -> np.ndarray:
    """Healthy steps where an alarm starts: predicted fault class differs from the previous
    step's prediction (or the episode's first step). All (S,); returns bool (S,)."""
    new = np.ones(len(pred), dtype=bool)
    new[1:] = pred[1:] != pred[:-1]
    new[ep_start] = True
    return healthy_step & (pred != 0) & new


def latency(detect: np.ndarray, ref: np.ndarray, ep_length: np.ndarray) -> np.ndarray:
    """Steps from ``ref`` to detection, -1 where undetected or ``ref < 0``. All shapes (E,)."""
    ok = (ref >= 0) & (detect < ep_length)
    return np.where(ok, np.maximum(detect, ref) - ref, -1).astype(np.int64)


def _quantile(lat: np.ndarray, q: float) -> float | None:
    """Nearest-rank quantile with undetected (-1) counted as infinitely late; None if infinite."""
    if len(lat) == 0:
        return None
    vals = np.where(lat >= 0, lat.astype(np.float64), np.inf)
    v = float(np.quantile(vals, q, method="inverted_cdf"))
    return v if math.isfinite(v) else None


def _rate(num: int | np.integer, den: int | np.integer) -> float | None:
    return float(num) / float(den) if den else None


def _scaled(v: float | None, dt: float) -> float | None:
    return None if v is None else v * dt


def evaluate_predictions(
    pred: np.ndarray,
    split: SplitData,
    classes: ClassSpec,
    *,
    target_labels: str = "saturation",
    control_dt: float = 0.02,
    window_s: float = 0.5,
) -> tuple[dict[str, Any], EvalArrays]:
    """All eval metrics for per-step predicted classes ``pred`` (S,) on ``split``.

    Returns the JSON-able report and the per-episode arrays used for plots.
    """
    pred = np.asarray(pred, dtype=np.int64)
    c = classes.num_classes
    target = split.targets(classes, target_labels)
    confusion = np.bincount(target * c + pred, minlength=c * c).reshape(c, c)
    support = confusion.sum(1)
    correct = np.diag(confusion)
    per_class = [_rate(correct[k], support[k]) for k in range(c)]
    present = [a for a in per_class if a is not None]

    arrays = _episode_arrays(pred, split, classes)
    fault_ep = arrays.ep_class != 0
    window_steps = int(math.floor(window_s / control_dt + 1e-9))
    last_pred = pred[split.ep_start + split.ep_length - 1] if split.num_episodes else pred[:0]

    def block(mask: np.ndarray) -> dict[str, Any]:
        return _detection_block(arrays, last_pred, mask, window_steps, control_dt)

    per_joint = []
    for k in range(1, c):
        row = {"joint": classes.names[k], "joint_index": classes.joints[k], "class": k}
        row["step_accuracy"] = per_class[k]
        row.update(block(fault_ep & (arrays.ep_class == k)))
        rate = row["identified_within_window_of_saturation"]
        row["meets_identification_target"] = None if rate is None else rate >= IDENTIFY_TARGET
        per_joint.append(row)
    overall = block(fault_ep)
    false_alarms = _false_alarms(pred, split, classes, arrays.ep_class, control_dt)
    report: dict[str, Any] = {
        "split": split.name,
        "num_samples": split.num_samples,
        "num_episodes": split.num_episodes,
        "num_fault_episodes": int(fault_ep.sum()),
        "num_healthy_episodes": false_alarms["healthy_episodes"],
        "control_dt": control_dt,
        "window_s": window_s,
        "window_steps": window_steps,
        "target_labels": target_labels,
        "classes": list(classes.names),
        "step_accuracy": _rate(int(correct.sum()), int(support.sum())),
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "per_class_accuracy": dict(zip(classes.names, per_class, strict=True)),
        "confusion_matrix": confusion.tolist(),
        "false_alarms": false_alarms,
        "detection": {"overall": overall, "per_joint": per_joint},
        "quality_bar": _quality_bar(overall, per_joint, false_alarms),
    }
    return report, arrays


def _episode_arrays(pred: np.ndarray, split: SplitData, classes: ClassSpec) -> EvalArrays:
    """Per-episode class, saturation and detection latencies from onset and first saturation."""
    ep_cls = classes.label_to_class(split.ep_fault_joint)
    detect = detection_step(pred, split.ep_start, split.ep_length, ep_cls)
    fault_ep = ep_cls != 0
    lat_on = np.where(fault_ep, latency(detect, split.ep_onset, split.ep_length), -1)
    saturates = fault_ep & (split.ep_first_saturation >= 0)
    lat_sat = np.where(saturates, latency(detect, split.ep_first_saturation, split.ep_length), -1)
    return EvalArrays(
        ep_class=ep_cls, latency_onset=lat_on, latency_saturation=lat_sat, saturates=saturates
    )


def _detection_block(
    arrays: EvalArrays,
    last_pred: np.ndarray,
    mask: np.ndarray,
    window_steps: int,
    control_dt: float,
) -> dict[str, Any]:
    """Detection numbers over the fault episodes in ``mask`` (E,) bool: all, or one joint's.

    last_pred: (E,) the prediction at each episode's last step.
    """
    saturates = arrays.saturates
    n = int(mask.sum())
    n_sat = int((mask & saturates).sum())
    lo, ls = arrays.latency_onset[mask], arrays.latency_saturation[mask & saturates]
    out = {
        "episodes": n,
        "saturating_episodes": n_sat,
        "saturating_fraction": _rate(n_sat, n),
        "identified_within_window_of_saturation": _rate(
            int(((ls >= 0) & (ls <= window_steps)).sum()), n_sat
        ),
        "detected_rate": _rate(int((lo >= 0).sum()), n),
        "detected_rate_saturating": _rate(int((ls >= 0).sum()), n_sat),
        "final_wrong_joint_rate": _rate(
            int(((last_pred != arrays.ep_class) & (last_pred != 0) & mask).sum()), n
        ),
        "final_healthy_rate": _rate(int(((last_pred == 0) & mask).sum()), n),
    }
    for name, lat in (("onset", lo), ("saturation", ls)):
        for q, qname in ((0.5, "median"), (0.9, "p90")):
            steps = _quantile(lat, q)
            out[f"latency_from_{name}_{qname}_steps"] = steps
            out[f"latency_from_{name}_{qname}_s"] = _scaled(steps, control_dt)
    return out


def _false_alarms(
    pred: np.ndarray,
    split: SplitData,
    classes: ClassSpec,
    ep_cls: np.ndarray,
    control_dt: float,
) -> dict[str, Any]:
    """The false-alarm block of the report (definitions in the module docstring)."""
    healthy_step = classes.label_to_class(split.label) == 0
    alarm_step = pred != 0
    healthy_ep = ep_cls == 0
    fault_ep = ~healthy_ep
    ep_alarm = np.zeros(split.num_episodes, dtype=bool)
    ep_healthy_alarm = np.zeros(split.num_episodes, dtype=bool)
    if split.num_episodes:
        ep_alarm = np.add.reduceat(alarm_step.astype(np.int64), split.ep_start) > 0
        ep_healthy_alarm = (
            np.add.reduceat((alarm_step & healthy_step).astype(np.int64), split.ep_start) > 0
        )
    onsets = int(alarm_onsets(pred, split.ep_start, healthy_step).sum())
    max_len = int(split.ep_length.max()) if split.num_episodes else 0
    n_healthy_ep = int(healthy_ep.sum())
    return {
        "healthy_steps": int(healthy_step.sum()),
        "healthy_step_alarms": int((healthy_step & alarm_step).sum()),
        "healthy_step_rate": _rate(int((healthy_step & alarm_step).sum()), int(healthy_step.sum())),
        "healthy_episodes": n_healthy_ep,
        "healthy_episodes_with_alarm": int((ep_alarm & healthy_ep).sum()),
        "healthy_episode_rate": _rate(int((ep_alarm & healthy_ep).sum()), n_healthy_ep),
        "fault_episodes_with_alarm_before_onset": int((ep_healthy_alarm & fault_ep).sum()),
        "fault_episode_alarm_before_onset_rate": _rate(
            int((ep_healthy_alarm & fault_ep).sum()), int(fault_ep.sum())
        ),
        "healthy_alarm_onsets": onsets,
        "alarms_per_healthy_hour": _rate(onsets, healthy_step.sum() * control_dt / 3600.0),
        "pooled_false_alarm_rate": _rate(
            onsets * max_len, int(healthy_step.sum()) if max_len else 0
        ),
    }


def _quality_bar(
    overall: dict[str, Any], per_joint: list[dict[str, Any]], false_alarms: dict[str, Any]
) -> dict[str, Any]:
    """Identification and healthy-episode false alarms against the targets; the bar also needs
    the bound: a split too small cannot certify < 1 % however clean it is."""
    ident = overall["identified_within_window_of_saturation"]
    fa_ep = false_alarms["healthy_episode_rate"]
    observed_pass = bool(
        ident is not None
        and ident >= IDENTIFY_TARGET
        and fa_ep is not None
        and fa_ep < FALSE_ALARM_TARGET
    )
    cert = certification(
        false_alarms["healthy_episodes_with_alarm"], false_alarms["healthy_episodes"]
    )
    return {
        "identified_within_window_of_saturation": ident,
        "identify_target": IDENTIFY_TARGET,
        "healthy_episode_false_alarm_rate": fa_ep,
        "false_alarm_target": FALSE_ALARM_TARGET,
        "observed_pass": observed_pass,
        **cert,
        "pass": bool(observed_pass and cert["certified"]),
        "joints_below_identify_target": [
            r["joint"] for r in per_joint if r["meets_identification_target"] is False
        ],
    }
