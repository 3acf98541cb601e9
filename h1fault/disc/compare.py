"""``disc eval --heldout``/baseline: one detector against another, in distribution and held out.

The learned model's report is the usual :func:`~h1fault.disc.eval.evaluate` report; beside it
come the residual baseline on the same split and, with a held-out dataset (collected with a
policy the model never saw), both again on that dataset. :func:`group_summary` folds the per-joint
rows into the issue's joint groups (hip yaw/roll, hip pitch/knee, torso, arms) so the columns can
be read side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from h1fault.disc.metrics import certification

JOINT_GROUPS: dict[str, tuple[str, ...]] = {
    "hip yaw/roll": ("left_hip_yaw", "left_hip_roll", "right_hip_yaw", "right_hip_roll"),
    "hip pitch/knee": ("left_hip_pitch", "left_knee", "right_hip_pitch", "right_knee"),
    "torso": ("torso",),
    "arms": tuple(
        f"{side}_{j}"
        for side in ("left", "right")
        for j in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow")
    ),
}
"""Joint groups of the comparison table (model joint names)."""
_DROP = ("rule_grid", "threshold_sweep", "confusion_matrix", "per_class_accuracy")
"""Keys left out of the nested reports (the main report keeps them)."""


def group_summary(report: dict[str, Any]) -> dict[str, Any]:
    """Identification per joint group and the false alarms of one eval report (JSON-able)."""
    rows = report["detection"]["per_joint"]
    groups = []
    for name, joints in (*JOINT_GROUPS.items(), ("all", None)):
        sel = [r for r in rows if joints is None or r["joint"] in joints]
        sat = sum(r["saturating_episodes"] for r in sel)
        ident = sum(
            round((r["identified_within_window_of_saturation"] or 0.0) * r["saturating_episodes"])
            for r in sel
        )
        groups.append({
            "group": name, "episodes": sum(r["episodes"] for r in sel),
            "saturating_episodes": sat, "identified": ident,
            "identified_within_window_of_saturation": ident / sat if sat else None,
        })  # fmt: skip
    fa = report["false_alarms"]
    return {
        "groups": groups,
        "healthy_episodes": fa["healthy_episodes"],
        "healthy_episodes_with_alarm": fa["healthy_episodes_with_alarm"],
        "healthy_episode_false_alarm_rate": fa["healthy_episode_rate"],
        **certification(fa["healthy_episodes_with_alarm"], fa["healthy_episodes"]),
    }


def _slim(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in _DROP}


def evaluate_with_context(
    checkpoint: str | Path,
    dataset: str | Path,
    *,
    baseline: str | Path | None = None,
    heldout: str | Path | None = None,
    heldout_split: str = "test",
    **kw: Any,
) -> dict[str, Any]:
    """:func:`evaluate` on ``dataset`` plus, if given, the ``baseline`` detector on the same
    split and both on ``heldout``'s ``heldout_split``.

    Returns the main report with ``baseline``, ``heldout``, ``heldout_baseline`` (slim reports)
    and ``comparison``: column name -> :func:`group_summary`.
    """
    from h1fault.disc.eval import evaluate

    plots = kw.pop("plots_dir", None)
    report = evaluate(checkpoint, dataset, plots_dir=plots, **kw)
    columns = {"model": group_summary(report)}
    rule_kw = {k: v for k, v in kw.items() if k not in ("fault_threshold", "persistence", "latch",
                                                       "pick_on", "fa_target")}  # fmt: skip
    if baseline is not None:
        base = evaluate(baseline, dataset, **rule_kw)
        report["baseline"] = _slim(base)
        columns["baseline"] = group_summary(base)
    if heldout is not None:
        h_kw = {**kw, "split": heldout_split}
        if kw.get("pick_on"):
            h_kw["pick_on"] = None  # the rule picked on the in-distribution val split
            h_kw.update(report["decision_rule"])
            h_kw.pop("text")
        held = evaluate(checkpoint, heldout, **h_kw)
        report["heldout"] = _slim(held)
        columns["heldout model"] = group_summary(held)
        if baseline is not None:
            held_b = evaluate(baseline, heldout, **{**rule_kw, "split": heldout_split})
            report["heldout_baseline"] = _slim(held_b)
            columns["heldout baseline"] = group_summary(held_b)
    report["comparison"] = columns
    return report
