"""The closed-loop figures, drawn from the JSON report alone (so a saved report can be re-plotted).

- ``fall_rate_per_joint.png``: fall rate of faulted episodes per joint, one bar per controller;
- ``fall_rate_vs_scale.png``: per joint, fall rate against the kept-torque fraction, one line per
  controller (bins with no episode are left out; the unsurvivable low end shows as it is).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from h1fault.sim.model import JOINT_NAMES


def _joints(report: dict) -> list[str]:
    """Joints with faulted episodes, in model order."""
    seen = set()
    for row in report["controllers"].values():
        seen |= set(row["per_joint"])
    return [j for j in JOINT_NAMES if j in seen]


def plot_report(report: dict, out_dir: str | Path) -> list[Path]:
    """Write both figures into ``out_dir`` (created); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = report["controllers"]
    joints = _joints(report)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    paths = []

    fig, ax = plt.subplots(figsize=(max(8.0, 0.7 * len(joints) * max(1, len(rows)) / 2), 4.5))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(joints))
    for k, row in enumerate(rows.values()):
        rates = [row["per_joint"].get(j, {}).get("fall_rate", np.nan) for j in joints]
        overall = row["faulted"]["fall_rate"]
        label = f"{row['label']} ({100 * overall:.1f} %)" if overall is not None else row["label"]
        ax.bar(x - 0.4 + width * (k + 0.5), np.array(rates, dtype=float) * 100, width,
               label=label, color=colors[k % len(colors)])  # fmt: skip
    ax.set_xticks(x, [j.replace("_", "\n", 1) for j in joints], fontsize=7)
    ax.set_ylabel("faulted episodes that fall (%)")
    n = next(iter(rows.values()))["faulted"]["episodes"] if rows else 0
    ax.set_title(f"Fall rate per faulted joint ({n} faulted episodes per controller)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out_dir / "fall_rate_per_joint.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    cols = min(6, max(1, len(joints)))
    nrows = max(1, -(-len(joints) // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(max(6.0, 2.6 * cols), 2.2 * nrows + 1.2),
                             squeeze=False, sharex=True, sharey=True)  # fmt: skip
    edges = report.get("scale_edges") or [0.0, 1.0]
    dodge = (edges[-1] - edges[0]) / max(1, len(edges) - 1) * 0.12  # rows side by side in a bin
    markers = "osD^v"
    for ax, joint in zip(axes.flat, joints, strict=False):
        for k, row in enumerate(rows.values()):
            bins = row["per_joint"].get(joint, {}).get("by_scale", [])
            shift = (k - (len(rows) - 1) / 2) * dodge
            pts = [(np.mean(b["scale"]) + shift, 100 * b["falls"] / b["episodes"])
                   for b in bins if b["episodes"]]  # fmt: skip
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, "-", marker=markers[k % len(markers)], ms=3, lw=1,
                        color=colors[k % len(colors)], label=row["label"])  # fmt: skip
        ax.set_title(joint, fontsize=8)
        ax.set_ylim(-5, 105)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(joints) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("kept torque fraction", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("falls (%)", fontsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, max(1, len(labels))), fontsize=7)
    fig.suptitle("Fall rate against kept torque, per faulted joint", fontsize=10)
    fig.tight_layout(rect=(0, 0.08 + 0.12 / nrows, 1, 1))
    paths.append(out_dir / "fall_rate_vs_scale.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
