"""Overlay the training curves (curve.csv) of several runs: tracking errors and episode length.

    python scripts/compare_curves.py logs/skrl/h1_flat/*/curve.csv --out curves.png
    python scripts/compare_curves.py a/curve.csv b/curve.csv --labels seed0 seed1 --out c.png

The errors are those of the training rollouts (stochastic actions, observation noise), higher
than a deterministic ``play`` of the same policy; they show when tracking is learnt.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curves", nargs="+", type=Path, help="curve.csv files")
    parser.add_argument("--labels", nargs="*", help="one per file (default: parent folder)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    labels = args.labels or [p.parent.name for p in args.curves]
    if len(labels) != len(args.curves):
        parser.error(f"{len(args.curves)} files but {len(labels)} labels")
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.6))
    for path, label in zip(args.curves, labels, strict=True):
        rows = list(csv.DictReader(path.open()))
        x = [float(r["wall_s"]) for r in rows]
        for a, key in zip(ax, ("lin_vel_error", "yaw_rate_error", "mean_episode_length_s"),
                          strict=True):  # fmt: skip
            a.plot(x, [float(r[key]) for r in rows], label=label, lw=1.2)
    titles = ("lin-vel error (m/s)", "yaw-rate error (rad/s)", "episode length (s)")
    for a, title in zip(ax, titles, strict=True):
        a.set(xlabel="training-loop seconds", title=title)
        a.grid(alpha=0.3)
    ax[0].set_ylim(0, 0.4)
    ax[1].set_ylim(0, 1.5)
    ax[2].legend(fontsize=7)
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
