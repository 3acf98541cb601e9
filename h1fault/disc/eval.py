"""``disc eval``: stream a split through the discriminator exactly as deployed
(:mod:`h1fault.disc.streaming`), then score it (:mod:`h1fault.disc.metrics`) and sweep decision
rules on it (:mod:`h1fault.disc.scoring`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from h1fault.console import resolve_device
from h1fault.disc.calibrate import calibrate
from h1fault.disc.checkpoint import check_compatible
from h1fault.disc.dataset import DiscDataset
from h1fault.disc.decision import DecisionRule
from h1fault.disc.detector import load_any
from h1fault.disc.metrics import EvalArrays, evaluate_predictions
from h1fault.disc.residual import for_classes
from h1fault.disc.scoring import LATCHES, PERSISTENCES, THRESHOLDS, RuleScorer, rule_of
from h1fault.disc.streaming import stream_split_decisions
from h1fault.errors import H1FaultError
from h1fault.fileio import io_error_text
from h1fault.sim.model import JOINT_NAMES, MODEL_TO_ISAACLAB
from h1fault.validate import at_least, number_in

SWEEP = (0.0, 0.5, 0.7, 0.9, 0.95, 0.99)
"""Fault thresholds scored by ``threshold_sweep`` (plus the one in use)."""


def check_plots_dir(path: str | Path) -> Path:
    """The ``--plots`` folder: an existing folder, or a new one in an existing folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise H1FaultError(f"--plots {p} is a file; give a folder for the PNGs")
    if not p.parent.is_dir():
        raise H1FaultError(f"--plots: folder {p.parent} does not exist")
    return p


def evaluate(
    checkpoint: str | Path,
    dataset: str | Path,
    *,
    split: str = "test",
    device: str = "auto",
    num_envs: int = 4096,
    fault_threshold: float | None = None,
    persistence: int | None = None,
    latch: bool | None = None,
    pick_on: str | None = None,
    fa_target: float | None = None,
    target_labels: str | None = None,
    window_s: float = 0.5,
    cuda_graph: bool = False,
    plots_dir: str | Path | None = None,
    progress: bool = True,
    grids: bool = True,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on one split of ``dataset``; returns the JSON-able report
    (``grids=False`` skips ``threshold_sweep`` and ``rule_grid``, the slow part on big splits).

    The decision rule is the checkpoint's, with ``fault_threshold``, ``persistence`` and
    ``latch`` overriding its parts; or, with ``pick_on`` (e.g. ``"val"``), the rule
    :func:`~h1fault.disc.calibrate.calibrate` picks on that split (``fa_target``: its
    false-alarm target). ``target_labels`` defaults to the checkpoint's.
    """
    at_least("--envs", num_envs)
    number_in("--window", window_s, 0.0, lo_open=True)
    if plots_dir is not None:
        check_plots_dir(plots_dir)
    dev = resolve_device(device)
    net, meta = load_any(checkpoint, dev)
    ds = DiscDataset(dataset)
    if meta.features == "residual":  # per-joint physics: scores any candidate list
        net, meta = for_classes(net, meta, ds.classes)
    check_compatible(meta, ds, checkpoint)
    data = ds.load_split(split)
    if data.num_episodes == 0:
        raise H1FaultError(f"{dataset}: the {split} split has no episodes")
    calibration = None
    if pick_on is not None and meta.features == "residual":
        raise H1FaultError(
            "--pick-on re-picks a GRU's rule; a residual detector's gate, smoothing and rule are "
            "picked together by `h1fault disc calibrate residual DATASET`"
        )
    if pick_on is not None:
        if (fault_threshold, persistence, latch) != (None, None, None):
            raise H1FaultError(
                "--pick-on picks the whole rule; drop --threshold/--persistence/--latch"
            )
        if pick_on == split:
            raise H1FaultError(f"picking the rule on the evaluated split ({split}) tunes on it")
        kw = {} if fa_target is None else {"fa_target": fa_target}
        calibration = calibrate(
            checkpoint, dataset, split=pick_on, window_s=window_s, device=str(dev),
            num_envs=num_envs, cuda_graph=cuda_graph, progress=progress, **kw,
        )  # fmt: skip
        calibration.pop("grid")
        rule = rule_of(calibration["pick"])
    else:
        base = meta.rule
        rule = DecisionRule(
            base.fault_threshold if fault_threshold is None else fault_threshold,
            base.persistence if persistence is None else persistence,
            base.latch if latch is None else latch,
        )
    labels = target_labels or meta.train_labels
    probs, pred_t = stream_split_decisions(
        net, data, rule, num_envs=num_envs, device=dev, cuda_graph=cuda_graph, progress=progress
    )
    pred = pred_t.numpy()
    scorer = RuleScorer(probs, data, ds.classes, control_dt=ds.control_dt, window_s=window_s)
    if not np.array_equal(scorer.declared(rule), pred):  # streaming rule == offline rule
        raise H1FaultError("internal: streamed decisions differ from the offline decision rule")
    report, arrays = evaluate_predictions(
        pred, data, ds.classes, target_labels=labels, control_dt=ds.control_dt, window_s=window_s
    )
    report["fault_threshold"] = rule.fault_threshold
    report["decision_rule"] = {**rule.to_dict(), "text": rule.describe()}
    if calibration is not None:
        report["calibration"] = calibration
    if tuple(ds.joint_names) == JOINT_NAMES:  # legacy logs and users think in Isaac Lab order too
        for row in report["detection"]["per_joint"]:
            row["isaaclab_index"] = int(MODEL_TO_ISAACLAB[row["joint_index"]])
    if grids:
        report["threshold_sweep"] = scorer.grid(
            sorted({*SWEEP, rule.fault_threshold}), [rule.persistence], [rule.latch]
        )
        report["rule_grid"] = scorer.grid(
            sorted({*THRESHOLDS, rule.fault_threshold}),
            sorted({*PERSISTENCES, rule.persistence}),
            LATCHES,
        )
    report["checkpoint"] = str(checkpoint)
    report["detector"] = "residual" if meta.features == "residual" else "gru"
    report["dataset"] = str(dataset)
    if plots_dir is not None:
        try:
            report["plots"] = [str(p) for p in write_plots(report, arrays, plots_dir)]
        except OSError as exc:
            raise H1FaultError(f"cannot write plots to {plots_dir}: {io_error_text(exc)}") from None
    return report


def write_plots(report: dict[str, Any], arrays: EvalArrays, out_dir: str | Path) -> list[Path]:
    """Confusion matrix, latency CDF and per-joint identification PNGs in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = check_plots_dir(out_dir)
    out_dir.mkdir(exist_ok=True)
    names = report["classes"]
    dt = report["control_dt"]
    paths = []

    cm = np.asarray(report["confusion_matrix"], dtype=np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = 3 + 0.45 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel(f"target ({report['target_labels']} labels)")
    ax.set_title("Confusion matrix (row-normalised)")
    for i in range(len(names)):
        for j in range(len(names)):
            if norm[i, j] >= 0.005:
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    paths.append(out_dir / "confusion_matrix.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for lat, mask, label in (
        (arrays.latency_onset, arrays.ep_class > 0, "from onset"),
        (arrays.latency_saturation, arrays.saturates, "from first saturation"),
    ):
        lat = lat[mask]
        if len(lat) == 0:
            continue
        # Undetected episodes never reach the curve, so its plateau is the detected share.
        x = np.sort(lat[lat >= 0]) * dt
        y = np.arange(1, len(x) + 1) / len(lat)
        ax.step(np.concatenate([[0], x]), np.concatenate([[0], y]), where="post", label=label)
    ax.axvline(report["window_s"], color="gray", ls="--", lw=1, label=f"{report['window_s']} s")
    ax.axhline(0.95, color="gray", ls=":", lw=1)
    ax.set_xlabel("detection latency (s)")
    ax.set_ylabel("share of fault episodes identified")
    ax.set_ylim(0, 1.02)
    ax.set_title("Detection latency CDF (all joints)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    paths.append(out_dir / "latency_cdf.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    rows = report["detection"]["per_joint"]
    if rows:
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(rows) + 2), 4))
        x = np.arange(len(rows))
        ident = [r["identified_within_window_of_saturation"] or 0 for r in rows]
        satf = [r["saturating_fraction"] or 0 for r in rows]
        ax.bar(x - 0.2, ident, 0.4, label=f"identified ≤ {report['window_s']} s after saturation")
        ax.bar(x + 0.2, satf, 0.4, label="episodes that saturate")
        ax.axhline(0.95, color="gray", ls=":", lw=1)
        ax.set_xticks(x, [r["joint"] for r in rows], rotation=90, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
        ax.set_title("Per joint")
        fig.tight_layout()
        paths.append(out_dir / "per_joint.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
