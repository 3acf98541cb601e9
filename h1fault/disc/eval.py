"""``disc eval``: stream a split through the discriminator exactly as deployed, then score it.

Each lane is one env of a :class:`~h1fault.disc.model.StreamingDiscriminator`; it plays test
episodes back to back, one step per call, with ``episode_start`` true on each episode's first
step. No chunking, no look-ahead: the same code path a controller would run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from h1fault.disc.checkpoint import check_compatible, load_checkpoint
from h1fault.disc.dataset import ClassSpec, DiscDataset, SplitData
from h1fault.disc.lanes import lane_schedule
from h1fault.disc.metrics import EvalArrays, evaluate_predictions
from h1fault.disc.model import DiscriminatorNet, StreamingDiscriminator, decide
from h1fault.disc.runtime import make_progress, resolve_device
from h1fault.errors import H1FaultError
from h1fault.sim.model import JOINT_NAMES, MODEL_TO_ISAACLAB


def stream_split(
    net: DiscriminatorNet,
    split: SplitData,
    *,
    num_envs: int = 4096,
    device: str | torch.device = "cpu",
    cuda_graph: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Class probabilities for every row of ``split``, streamed step by step.

    Returns (S, C) float32 on the CPU.
    """
    device = torch.device(device)
    sched = lane_schedule(split.ep_start, split.ep_length, num_envs, chunk_len=1)
    lanes = sched.num_lanes
    disc = StreamingDiscriminator(net, lanes, device=device, cuda_graph=cuda_graph)
    obs_all = split.obs.to(device)
    n = split.num_samples
    # One spare row absorbs idle lanes' outputs, so no boolean indexing (and no GPU sync) per step.
    out = torch.zeros(n + 1, net.num_classes, device=device)
    sched = sched.to(device)
    write_idx = torch.where(sched.length > 0, sched.start, torch.full_like(sched.start, n))
    with make_progress(progress) as bar:
        task = bar.add_task(f"streaming {split.name}", total=sched.num_iters, info="")
        for i in range(sched.num_iters):
            probs = disc.step(obs_all.index_select(0, sched.start[i]), sched.first[i])
            out.index_copy_(0, write_idx[i], probs)
            bar.advance(task)
    out = out[:n]
    return out.cpu()


SWEEP = (0.0, 0.5, 0.7, 0.9, 0.95, 0.99)
"""Fault thresholds scored by ``threshold_sweep`` (plus the one in use)."""


def threshold_sweep(
    probs: torch.Tensor,
    data: SplitData,
    classes: ClassSpec,
    target_labels: str,
    control_dt: float,
    window_s: float,
    thresholds: list[float],
) -> list[dict[str, Any]]:
    """Headline metrics for several fault thresholds: the identification/false-alarm trade-off."""
    rows = []
    for th in thresholds:
        rep, _ = evaluate_predictions(
            decide(probs, th).numpy(),
            data,
            classes,
            target_labels=target_labels,
            control_dt=control_dt,
            window_s=window_s,
        )
        det = rep["detection"]["overall"]
        rows.append(
            {
                "fault_threshold": th,
                "identified_within_window_of_saturation": det[
                    "identified_within_window_of_saturation"
                ],
                "latency_from_saturation_median_s": det["latency_from_saturation_median_s"],
                "latency_from_saturation_p90_s": det["latency_from_saturation_p90_s"],
                "healthy_episode_false_alarm_rate": rep["false_alarms"]["healthy_episode_rate"],
                "healthy_step_false_alarm_rate": rep["false_alarms"]["healthy_step_rate"],
            }
        )
    return rows


def evaluate(
    checkpoint: str | Path,
    dataset: str | Path,
    *,
    split: str = "test",
    device: str = "auto",
    num_envs: int = 4096,
    fault_threshold: float | None = None,
    target_labels: str | None = None,
    window_s: float = 0.5,
    cuda_graph: bool = False,
    plots_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on one split of ``dataset``; returns the JSON-able report.

    ``fault_threshold`` and ``target_labels`` default to the checkpoint's own.
    """
    dev = resolve_device(device)
    net, meta = load_checkpoint(checkpoint, dev)
    ds = DiscDataset(dataset)
    check_compatible(meta, ds, checkpoint)
    data = ds.load_split(split)
    if data.num_episodes == 0:
        raise H1FaultError(f"{dataset}: the {split} split has no episodes")
    threshold = meta.fault_threshold if fault_threshold is None else fault_threshold
    if not 0.0 <= threshold <= 1.0:
        raise H1FaultError(f"fault threshold must be in [0, 1], got {threshold}")
    labels = target_labels or meta.train_labels
    probs = stream_split(
        net, data, num_envs=num_envs, device=dev, cuda_graph=cuda_graph, progress=progress
    )
    pred = decide(probs, threshold).numpy()
    report, arrays = evaluate_predictions(
        pred, data, ds.classes, target_labels=labels, control_dt=ds.control_dt, window_s=window_s
    )
    report["fault_threshold"] = threshold
    if tuple(ds.joint_names) == JOINT_NAMES:  # legacy logs and users think in Isaac Lab order too
        for row in report["detection"]["per_joint"]:
            row["isaaclab_index"] = int(MODEL_TO_ISAACLAB[row["joint_index"]])
    report["threshold_sweep"] = threshold_sweep(
        probs, data, ds.classes, labels, ds.control_dt, window_s, sorted({*SWEEP, threshold})
    )
    report["checkpoint"] = str(checkpoint)
    report["dataset"] = str(dataset)
    if plots_dir is not None:
        report["plots"] = [str(p) for p in write_plots(report, arrays, plots_dir)]
    return report


def write_plots(report: dict[str, Any], arrays: EvalArrays, out_dir: str | Path) -> list[Path]:
    """Confusion matrix, latency CDF and per-joint identification PNGs in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
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
