"""Scores of the closed-loop rows: falls, time to fall, tracking, switches, per joint and scale.

Denominators are the same for every controller: *faulted episodes* are the first episodes with
a planned fault (a fall before the onset still counts as a fall, and is reported apart), *healthy
episodes* those without one. Every function takes :class:`~h1fault.closedloop.loop.EpisodeRecord`
arrays and returns plain JSON-able dicts.
"""

from __future__ import annotations

import numpy as np

from h1fault.closedloop.loop import EpisodeRecord
from h1fault.sim.model import JOINT_NAMES

JOINT_GROUPS: dict[str, tuple[str, ...]] = {
    "knee": ("left_knee", "right_knee"),
    "hip_pitch": ("left_hip_pitch", "right_hip_pitch"),
    "hip_roll": ("left_hip_roll", "right_hip_roll"),
    "hip_yaw": ("left_hip_yaw", "right_hip_yaw"),
    "torso": ("torso",),
    "arms": tuple(j for j in JOINT_NAMES if "shoulder" in j or "elbow" in j),
    "ankle": ("left_ankle", "right_ankle"),
}
"""Joint groups of the summary (the targets compare controllers per group)."""


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def _stats(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"n": 0, "median": None, "mean": None}
    return {"n": int(x.size), "median": float(np.median(x)), "mean": float(x.mean())}


def _pooled(err: np.ndarray, steps: np.ndarray, mask: np.ndarray) -> float | None:
    total = int(steps[mask].sum())
    return float(err[mask].sum() / total) if total else None


def scale_edges(scale_range: tuple[float, float], bins: int = 6) -> np.ndarray:
    """Edges of the kept-torque bins over the fault model's scale range ((bins + 1,))."""
    lo, hi = scale_range
    if hi - lo < 1e-9:
        return np.array([lo - 1e-6, hi + 1e-6])
    return np.linspace(lo, hi, bins + 1)


def summarize(rec: EpisodeRecord, edges: np.ndarray, switches: bool) -> dict:
    """One controller's row. edges: kept-torque bin edges (:func:`scale_edges`); switches:
    whether the controller can switch (switch statistics are reported only then)."""
    dt = rec.control_dt
    faulted = rec.fault_joint >= 0
    healthy = ~faulted
    fell = rec.fell
    survived = faulted & ~fell
    before = faulted & fell & (rec.length <= rec.onset_step)
    after_fall = faulted & fell & ~before
    switched = rec.switch_step >= 0
    nf, nh = int(faulted.sum()), int(healthy.sum())
    out: dict = {
        "controller": rec.controller,
        "episodes": int(rec.fault_joint.size),
        "faulted": {
            "episodes": nf,
            "falls": int((faulted & fell).sum()),
            "fall_rate": _rate(int((faulted & fell).sum()), nf),
            "falls_before_onset": int(before.sum()),
            "time_to_fall_s": _stats((rec.length - rec.onset_step)[after_fall] * dt),
            "survivors": int(survived.sum()),
            "lin_vel_error_after_onset": _pooled(rec.post_lin_err, rec.post_steps, survived),
            "ang_vel_error_after_onset": _pooled(rec.post_ang_err, rec.post_steps, survived),
        },
        "healthy": {
            "episodes": nh,
            "falls": int((healthy & fell).sum()),
            "fall_rate": _rate(int((healthy & fell).sum()), nh),
            "lin_vel_error": _pooled(rec.post_lin_err, rec.post_steps, healthy & ~fell),
            "ang_vel_error": _pooled(rec.post_ang_err, rec.post_steps, healthy & ~fell),
        },
    }
    if switches:
        correct = faulted & switched & (rec.switch_joint == rec.fault_joint)
        wrong = faulted & switched & (rec.switch_joint != rec.fault_joint)
        early = faulted & switched & (rec.switch_step <= rec.onset_step)
        out["healthy"]["false_switches"] = int((healthy & switched).sum())
        out["healthy"]["false_switch_rate"] = _rate(int((healthy & switched).sum()), nh)
        out["switches"] = {
            "faulted_switched": int((faulted & switched).sum()),
            "correct_joint": int(correct.sum()),
            "wrong_joint": int(wrong.sum()),
            "before_onset": int(early.sum()),
            "never": int((faulted & ~switched).sum()),
            "unserved": int(rec.unserved.sum()),
            "latency_s": _stats((rec.switch_step - rec.onset_step)[correct & ~early] * dt),
        }
    out["per_joint"] = per_joint(rec, edges)
    out["per_group"] = per_group(rec)
    return out


def per_joint(rec: EpisodeRecord, edges: np.ndarray) -> dict:
    """Per faulted joint name: episodes, falls, fall rate, wrong-joint switches, and episodes /
    falls per kept-torque bin."""
    out = {}
    bins = np.clip(np.digitize(rec.scale, edges) - 1, 0, len(edges) - 2)
    switched = rec.switch_step >= 0
    for j in np.unique(rec.fault_joint[rec.fault_joint >= 0]):
        m = rec.fault_joint == j
        by_scale = []
        for b in range(len(edges) - 1):
            mb = m & (bins == b)
            scale = [float(edges[b]), float(edges[b + 1])]
            falls = int((mb & rec.fell).sum())
            by_scale.append({"scale": scale, "episodes": int(mb.sum()), "falls": falls})
        out[JOINT_NAMES[int(j)]] = {
            "episodes": int(m.sum()),
            "falls": int((m & rec.fell).sum()),
            "fall_rate": float((m & rec.fell).sum() / m.sum()),
            "wrong_joint_switches": int((m & switched & (rec.switch_joint != j)).sum()),
            "by_scale": by_scale,
        }
    return out


def per_group(rec: EpisodeRecord) -> dict:
    """Per joint group with faulted episodes: episodes, falls, fall rate."""
    out = {}
    for group, names in JOINT_GROUPS.items():
        m = np.isin(rec.fault_joint, [JOINT_NAMES.index(n) for n in names])
        if m.any():
            falls = int((m & rec.fell).sum())
            out[group] = {"episodes": int(m.sum()), "falls": falls, "fall_rate": falls / m.sum()}
    return out
