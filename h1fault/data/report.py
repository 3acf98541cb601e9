"""The ``dataset stats`` report (what ``--json`` prints), its one-line failure summary and the
per-joint PNG.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from h1fault.data.checks import (
    P_THRESHOLD,
    Check,
    expected_fault_samples,
    onset_window_steps,
    recorded_p_fault,
)
from h1fault.data.schema import SPLIT_NAMES
from h1fault.data.summary import Summary
from h1fault.sim.model import JOINT_NAMES, MODEL_TO_ISAACLAB, NUM_JOINTS


def report(s: Summary, checks: list[Check], threshold: float = P_THRESHOLD) -> dict[str, Any]:
    """Machine-readable report (what ``--json`` prints)."""
    ep = s.episodes
    m = max(s.num_samples, 1)
    names = s.joint_names or list(JOINT_NAMES)
    cand = set(s.candidate_joints)
    faulted = ep["fault_joint"] >= 0
    ep_counts = np.bincount(ep["fault_joint"][faulted].astype(np.int64), minlength=NUM_JOINTS)
    n_faulted = int(faulted.sum())
    p = recorded_p_fault(s.fault_config)
    win = onset_window_steps(s.fault_config, s.control_dt)
    if p is not None and win is not None:
        exp_faulted = float(expected_fault_samples(ep["length"], p, *win).sum())
        basis = "fault model"
    else:
        exp_faulted = float(s.label_counts.sum())
        basis = "observed faulted share, uniform over candidates"
    joints = []
    for j in range(NUM_JOINTS):
        if j not in cand and not ep_counts[j] and not s.label_counts[j]:
            continue
        joints.append({
            "model_index": j, "isaaclab_index": int(MODEL_TO_ISAACLAB[j]), "name": names[j],
            "candidate": j in cand, "episodes": int(ep_counts[j]),
            "episode_share": float(ep_counts[j] / n_faulted) if n_faulted else 0.0,
            "samples": int(s.label_counts[j]), "share": float(s.label_counts[j] / m),
            "expected_share": float(exp_faulted / len(cand) / m) if j in cand and cand else 0.0,
        })  # fmt: skip
    lengths = ep["length"].astype(np.int64)
    length = {"episodes": len(ep)}
    if len(ep):
        length.update({
            "min": int(lengths.min()), "median": float(np.median(lengths)),
            "mean": float(lengths.mean()), "max": int(lengths.max()),
            "mean_s": float(lengths.mean() * s.control_dt),
            "terminated": int(ep["terminated"].sum()),
            "timed_out": int((ep["ended"] & ~ep["terminated"]).sum()),
            "cut_by_end_of_collection": int((~ep["ended"]).sum()),
        })  # fmt: skip
    coverage = []
    for si, src in enumerate(s.sources):
        sel = ep["source"] == si
        n_env = s.source_num_envs[si] if si < len(s.source_num_envs) else None
        per_env = np.bincount(ep["env"][sel].astype(np.int64) - s.env_offset(si),
                              weights=lengths[sel],
                              minlength=n_env or 0)  # fmt: skip
        coverage.append({
            "source": src, "num_envs": n_env, "envs_with_samples": int((per_env > 0).sum()),
            "samples_per_env": {"min": int(per_env.min()) if len(per_env) else 0,
                                "median": float(np.median(per_env)) if len(per_env) else 0.0,
                                "max": int(per_env.max()) if len(per_env) else 0},
            "missing_envs": [int(e) for e in np.flatnonzero(per_env == 0)[:50]],
        })  # fmt: skip
    out: dict[str, Any] = {
        "path": str(s.path), "kind": s.kind, "samples": s.num_samples, "episodes": len(ep),
        "faulted_episodes": n_faulted, "obs_dtype": s.obs_dtype,
        "candidate_joints": sorted(cand),
        "healthy": {"samples": s.healthy_samples, "share": s.healthy_samples / m,
                    "expected_share": 1.0 - exp_faulted / m},
        "expected_basis": basis,
        "saturated_samples": s.saturated_samples,
        "joints": joints, "episode_length": length, "coverage": coverage,
        "crosscheck": s.crosscheck, "dropped_episodes": s.dropped_episodes,
        "threshold": threshold,
        "checks": [asdict(c) for c in checks],
        "ok": not any(c.status == "fail" for c in checks),
    }  # fmt: skip
    if s.kind == "dataset" and "split" in (ep.dtype.names or ()):
        out["splits"] = {name: {"episodes": int((ep["split"] == i).sum()),
                                "samples": int(lengths[ep["split"] == i].sum())}
                         for i, name in enumerate(SPLIT_NAMES)}  # fmt: skip
    return out


def failed_summary(rep: dict[str, Any]) -> str:
    """One line naming the failed checks (the CLI's error message)."""
    failed = [c for c in rep["checks"] if c["status"] == "fail"]
    first = failed[0]
    more = f" (and {', '.join(c['name'] for c in failed[1:])})" if len(failed) > 1 else ""
    return f"check '{first['name']}' failed: {first['message']}{more}"


def plot_report(rep: dict[str, Any], out: str | Path) -> Path:
    """Bar chart of per-joint fault episodes (vs expected) and sample shares, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = rep["joints"]
    labels = [f"{j['name']}\n({j['model_index']}/IL{j['isaaclab_index']})" for j in joints]
    x = np.arange(len(joints))
    n_faulted = max(rep["faulted_episodes"], 1)
    n_cand = max(len(rep["candidate_joints"]), 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.6 * len(joints) + 3), 8))
    colors = ["tab:blue" if j["candidate"] else "tab:red" for j in joints]
    axes[0].bar(x, [j["episodes"] for j in joints], color=colors)
    axes[0].axhline(n_faulted / n_cand, color="k", ls="--", lw=1, label="expected (uniform)")
    axes[0].set_ylabel("faulted episodes")
    axes[0].legend()
    share = [j["share"] for j in joints] + [rep["healthy"]["share"]]
    exp = [j["expected_share"] for j in joints] + [rep["healthy"]["expected_share"]]
    x2 = np.arange(len(share))
    axes[1].bar(x2 - 0.2, share, 0.4, label="observed", color=colors + ["tab:green"])
    axes[1].bar(x2 + 0.2, exp, 0.4, label="expected", color="lightgray")
    axes[1].set_ylabel("share of samples")
    axes[1].legend()
    for ax, xs, lab in ((axes[0], x, labels), (axes[1], x2, [*labels, "healthy"])):
        ax.set_xticks(xs)
        ax.set_xticklabels(lab, rotation=60, ha="right", fontsize=7)
    failed = [c["name"] for c in rep["checks"] if c["status"] == "fail"]
    title = f"{Path(rep['path']).name}: {rep['samples']:,} samples, {rep['episodes']:,} episodes"
    fig.suptitle(title + ("\nFAILED: " + ", ".join(failed) if failed else "\nall checks pass"),
                 color="red" if failed else "black")  # fmt: skip
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
