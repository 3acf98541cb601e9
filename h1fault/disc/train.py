"""``disc train``: TBPTT over whole episodes, weighted cross-entropy, best-on-val checkpointing.

Batches are ``batch_lanes`` lanes × ``chunk_len`` steps (see :mod:`h1fault.disc.lanes`). A lane's
hidden state is carried (detached) from one chunk to the next of the same episode and zeroed
where it starts a new one, so nothing flows across episodes. The split lives in memory on the
training device and each batch is one index gather.

Run directory: ``<log_root>/<experiment>/<YYYY-MM-DD_HH-MM-SS>/`` with ``params/disc.yaml``,
``params/git.txt``, ``checkpoints/best.pt`` and ``checkpoints/last.pt``, TensorBoard events.
With ``calibrate`` the decision rule is then picked on val
(:func:`~h1fault.disc.calibrate.pick_on_probs`) and written into ``best.pt``; the scored grid goes
to ``params/calibration_grid.yaml``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import Progress, TaskID

from h1fault.console import err_console, make_progress, resolve_device
from h1fault.disc.calibrate import write_calibrated
from h1fault.disc.checkpoint import DiscMeta, load_checkpoint, save_checkpoint
from h1fault.disc.config import DiscConfig
from h1fault.disc.dataset import ClassSpec, DiscDataset, SplitData
from h1fault.disc.decision import DecisionRule, declare
from h1fault.disc.features import (
    feature_dim,
    feature_stats,
    make_feature_map,
    pd_constants,
    phys_constants,
)
from h1fault.disc.lanes import LaneSchedule, lane_schedule
from h1fault.disc.metrics import evaluate_predictions
from h1fault.disc.model import DiscriminatorNet
from h1fault.disc.scoring import RuleScorer, pick_on_probs, pick_rule, rule_of
from h1fault.errors import H1FaultError, Interrupted
from h1fault.fileio import io_error_text
from h1fault.provenance import new_run_dir, package_versions, save_code_state

IGNORE = -100
"""Target value of padded steps (ignored by the loss)."""


def class_weights(counts: np.ndarray, mode: str) -> np.ndarray:
    """Cross-entropy weights from per-class sample counts (C,) → (C,) float32.

    ``inverse``: ``N / (C_present * n_c)``, so every present class carries the same total weight.
    ``sqrt``: proportional to ``1 / sqrt(n_c)``. Both scaled so the mean weight per train sample
    is 1. ``none``: all ones. Absent classes get weight 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    if mode == "none":
        return np.ones_like(counts, dtype=np.float32)
    raw = np.zeros_like(counts)
    power = 1.0 if mode == "inverse" else 0.5
    raw[present] = counts[present] ** -power
    raw *= counts.sum() / max((raw * counts).sum(), 1e-12)
    return raw.astype(np.float32)


def lane_batches(
    obs: torch.Tensor, targets: torch.Tensor | None, sched: LaneSchedule
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield every iteration of ``sched`` as ``(x, y, first, idx)``.

    x: (B, T, 88) gathered obs; y: (B, T) targets, ``IGNORE`` on padding (-1s if ``targets`` is
    None); first: (B,) lanes whose hidden must be zeroed before this chunk; idx: (B, T) rows, the
    padding pointing one past the split (row S).
    """
    n = obs.shape[0]
    for i in range(sched.num_iters):
        idx, valid = sched.rows(i)
        x = obs[idx]
        y = torch.full_like(idx, IGNORE) if targets is None else targets[idx]
        y = torch.where(valid, y, torch.full_like(idx, IGNORE))
        yield x, y, sched.first[i], torch.where(valid, idx, torch.full_like(idx, n))


def reset_hidden(h: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """Zero the lanes that start a new episode. h: (L, B, H), first: (B,) bool."""
    return h * torch.logical_not(first).to(h.dtype).view(1, -1, 1)


def train_step(
    net: DiscriminatorNet,
    opt: torch.optim.Optimizer,
    obs: torch.Tensor,
    target: torch.Tensor,
    hidden: torch.Tensor,
    weight: torch.Tensor,
    grad_clip: float,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One TBPTT update. obs (B, T, 88), target (B, T), hidden (L, B, H) already reset.

    Returns the detached loss (scalar tensor, no host sync) and the detached final hidden.
    """
    logits, h = net(obs, hidden)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        target.reshape(-1),
        weight=weight,
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    opt.step()
    return loss.detach(), h.detach()


@torch.no_grad()
def predict_chunks(net: DiscriminatorNet, obs: torch.Tensor, sched: LaneSchedule) -> torch.Tensor:
    """Logits for every row scheduled in ``sched`` (chunked forward, hidden carried as in training).

    obs: (S, 88) on the net's device. Returns (S, C) float32 on the same device.
    """
    n = obs.shape[0]
    out = torch.zeros(n + 1, net.num_classes, device=obs.device)  # row n absorbs padding
    h = net.initial_state(sched.num_lanes, obs.device)
    for x, _, first, write in lane_batches(obs, None, sched):
        logits, h = net(x, reset_hidden(h, first))
        out.index_copy_(0, write.reshape(-1), logits.reshape(-1, logits.shape[-1]))
    return out[:n]


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    best_val: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    """The decision rule picked on val and written into best.pt (``calibrate``), without the
    grid; None when not calibrated."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "best_checkpoint": str(self.best_checkpoint),
            "last_checkpoint": str(self.last_checkpoint),
            "best_epoch": self.best_epoch,
            "best_val": self.best_val,
            "calibration": self.calibration,
            "history": self.history,
        }


def val_metrics(
    net: DiscriminatorNet,
    split: SplitData,
    targets: torch.Tensor,
    classes: ClassSpec,
    cfg: DiscConfig,
    weight: torch.Tensor,
    control_dt: float,
) -> dict[str, Any]:
    """Loss and the headline eval metrics on a split (chunked forward; equals streaming)."""
    sched = lane_schedule(split.ep_start, split.ep_length, cfg.batch_lanes, cfg.chunk_len)
    logits = predict_chunks(net, split.obs, sched.to(split.obs.device))
    loss = F.cross_entropy(logits, targets, weight=weight).item()
    rule = DecisionRule(cfg.fault_threshold, cfg.persistence, cfg.latch)
    probs = torch.softmax(logits, -1).cpu()
    pred = declare(probs, split.ep_start, split.ep_length, rule)
    rep, _ = evaluate_predictions(
        pred, split, classes, target_labels=cfg.train_labels, control_dt=control_dt
    )
    scorer = RuleScorer(probs, split, classes, control_dt=control_dt)
    pick, feasible = pick_rule(scorer.grid(*SELECT_GRID))
    return {
        # identification under the best rule of a small grid with < 1 % healthy-episode alarms
        "calibrated_identified": pick["identified_within_window_of_saturation"] if feasible else 0,
        "calibrated_rule": rule_of(pick).describe() if feasible else None,
        "loss": loss,
        "balanced_accuracy": rep["balanced_accuracy"],
        "step_accuracy": rep["step_accuracy"],
        "identified_within_window_of_saturation": rep["detection"]["overall"][
            "identified_within_window_of_saturation"
        ],
        "healthy_step_false_alarm_rate": rep["false_alarms"]["healthy_step_rate"],
        "healthy_episode_false_alarm_rate": rep["false_alarms"]["healthy_episode_rate"],
    }


SELECT_GRID = ((0.9, 0.95, 0.98, 0.99, 0.995, 0.999), (1, 2, 3, 5, 8, 12), (True,))
"""The (thresholds, persistences, latches) grid scored on val after every epoch."""


def _better(cfg: DiscConfig, new: dict[str, Any], best: dict[str, Any] | None) -> bool:
    if best is None:
        return True
    if cfg.select_metric == "loss":
        return new["loss"] < best["loss"]
    if cfg.select_metric == "calibrated":  # ties (e.g. all 0 early on) by balanced accuracy
        a = (new["calibrated_identified"] or 0.0, new["balanced_accuracy"] or 0.0)
        b = (best["calibrated_identified"] or 0.0, best["balanced_accuracy"] or 0.0)
        return a > b
    return (new["balanced_accuracy"] or 0.0) > (best["balanced_accuracy"] or 0.0)


@dataclass
class _TrainData:
    """A run's splits, targets and class weights (tensors on the training device)."""

    dataset: DiscDataset
    train: SplitData
    val: SplitData
    train_targets: torch.Tensor
    """(S_train,) int64 class per train row."""
    val_targets: torch.Tensor
    """(S_val,) int64 class per val row."""
    counts: np.ndarray
    """(C,) train rows per class."""
    weights: np.ndarray
    """(C,) float32 loss weight per class."""
    absent: list[str]
    """Classes with no train rows (weight 0)."""


def _load_data(dataset: str | Path, cfg: DiscConfig, dev: torch.device) -> _TrainData:
    """Load the train and val splits (one-line error if either is empty) and weigh the classes."""
    ds = DiscDataset(dataset)
    classes = ds.classes
    train_split = ds.load_split("train", dev)
    val_split = ds.load_split("val", dev)
    for s in (train_split, val_split):
        if s.num_episodes == 0:
            raise H1FaultError(f"{dataset}: the {s.name} split has no episodes")
    train_t = train_split.targets(classes, cfg.train_labels)
    val_t = val_split.targets(classes, cfg.train_labels)
    counts = np.bincount(train_t, minlength=classes.num_classes)
    weights = class_weights(counts, cfg.class_weighting)
    weights[0] *= cfg.healthy_weight
    absent = [classes.names[k] for k in range(classes.num_classes) if counts[k] == 0]
    return _TrainData(
        ds, train_split, val_split, torch.from_numpy(train_t).to(dev),
        torch.from_numpy(val_t).to(dev), counts, weights, absent,
    )  # fmt: skip


def _build_net(data: _TrainData, cfg: DiscConfig, dev: torch.device) -> DiscriminatorNet:
    """A fresh network whose input normalisation comes from the train split."""
    ds = data.dataset
    mean, std = ds.normalisation(data.train, cfg.std_floor)
    constants = {"pd": pd_constants, "phys": phys_constants}.get(cfg.features, lambda: None)()
    if cfg.features == "phys":  # already scaled by physics constants: no dataset z-scores
        width = feature_dim("phys")
        mean, std = np.zeros(width, np.float32), np.ones(width, np.float32)
    elif cfg.features != "raw":  # the derived inputs' stats, from the train split
        fmap = make_feature_map(cfg.features, constants).to(dev)
        m2, s2 = feature_stats(fmap, data.train.obs, ds.obs_dim)
        mean = np.concatenate([mean, m2]).astype(np.float32)
        std = np.concatenate([std, np.maximum(s2, cfg.std_floor)]).astype(np.float32)
    return DiscriminatorNet(
        ds.obs_dim,
        ds.classes.num_classes,
        cfg.hidden_size,
        cfg.num_layers,
        torch.from_numpy(mean),
        torch.from_numpy(std),
        features=cfg.features,
        feature_constants=constants,
    ).to(dev)


def _write_params(
    run_dir: Path, dataset: str | Path, cfg: DiscConfig, dev: torch.device, data: _TrainData
) -> None:
    """``params/disc.yaml`` (config, data, classes, weights, versions) and the code state."""
    import yaml

    ds, classes = data.dataset, data.dataset.classes
    params = {
        "config": cfg.to_dict(),
        "device": str(dev),
        "dataset": {
            "path": str(Path(dataset).resolve()),
            "train_episodes": data.train.num_episodes,
            "train_samples": data.train.num_samples,
            "val_episodes": data.val.num_episodes,
            "val_samples": data.val.num_samples,
            "control_dt": ds.control_dt,
            "fault_config": ds.fault_config,
        },
        "classes": {
            "names": list(classes.names),
            "joints": list(classes.joints),
            "train_counts": data.counts.tolist(),
            "absent_in_train": data.absent,
        },
        "class_weighting": {
            "mode": cfg.class_weighting,
            "weights": [round(float(w), 6) for w in data.weights],
        },
        "versions": package_versions(),
    }
    (run_dir / "params" / "disc.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    save_code_state(run_dir / "params")


def _train_epoch(
    net: DiscriminatorNet,
    opt: torch.optim.Optimizer,
    data: _TrainData,
    weight: torch.Tensor,
    cfg: DiscConfig,
    rng: np.random.Generator,
    bar: Progress,
    task: TaskID,
) -> tuple[float, float]:
    """One pass over the train split in shuffled lanes, advancing ``task`` of ``bar`` per batch.

    Returns the mean loss and the seconds it took.
    """
    net.train()
    t0 = time.perf_counter()
    dev = data.train_targets.device
    split = data.train
    sched = lane_schedule(split.ep_start, split.ep_length, cfg.batch_lanes, cfg.chunk_len, rng)
    sched = sched.to(dev)
    bar.reset(task, total=sched.num_iters)
    h = net.initial_state(sched.num_lanes, dev)
    loss_sum = torch.zeros((), device=dev)
    for x, y, first, _ in lane_batches(split.obs, data.train_targets, sched):
        loss, h = train_step(
            net, opt, x, y, reset_hidden(h, first), weight, cfg.grad_clip, cfg.label_smoothing
        )
        loss_sum += loss
        bar.advance(task)
    train_loss = (loss_sum / max(sched.num_iters, 1)).item()  # one sync per epoch
    return train_loss, time.perf_counter() - t0


def _log_epoch(writer: Any, row: dict[str, Any], val: dict[str, Any]) -> None:
    """One epoch's TensorBoard scalars."""
    epoch = row["epoch"]
    writer.add_scalar("train/loss", row["train_loss"], epoch)
    writer.add_scalar("train/lr", row["lr"], epoch)
    writer.add_scalar("perf/samples_per_s", row["samples_per_s"], epoch)
    for k, v in val.items():
        if isinstance(v, int | float):
            writer.add_scalar(f"val/{k}", v, epoch)


def _calibrate_best(
    best_path: Path, data: _TrainData, cfg: DiscConfig, run_dir: Path
) -> dict[str, Any]:
    """Pick the decision rule on val for ``best_path`` and write it in; the grid goes to
    ``params/calibration_grid.yaml``. Returns the pick without the grid."""
    import yaml

    dev = data.train_targets.device
    best_net, best_meta = load_checkpoint(best_path, dev)
    val = data.val
    sched = lane_schedule(val.ep_start, val.ep_length, cfg.batch_lanes, cfg.chunk_len)
    logits = predict_chunks(best_net, val.obs, sched.to(dev))  # chunked forward == streaming
    cal = pick_on_probs(
        torch.softmax(logits, -1).cpu(), val, data.dataset.classes,
        control_dt=data.dataset.control_dt,
    )  # fmt: skip
    write_calibrated(best_path, best_net, best_meta, cal)
    grid_path = run_dir / "params" / "calibration_grid.yaml"
    grid_path.write_text(yaml.safe_dump(cal["grid"], sort_keys=False))
    return {k: v for k, v in cal.items() if k != "grid"}


def train(
    dataset: str | Path,
    cfg: DiscConfig | None = None,
    *,
    experiment: str = "default",
    log_root: str | Path = "logs/disc",
    progress: bool = True,
    tensorboard: bool = True,
) -> TrainResult:
    """Train a discriminator on ``dataset``'s train split, selecting on its val split."""
    cfg = cfg or DiscConfig()
    dev = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = _load_data(dataset, cfg, dev)
    ds = data.dataset
    net = _build_net(data, cfg, dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched_lr = None
    if cfg.lr_schedule == "cosine" and cfg.epochs > 1:
        sched_lr = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=cfg.epochs - 1, eta_min=0.05 * cfg.lr
        )
    weight = torch.from_numpy(data.weights).to(dev)

    try:
        run_dir = new_run_dir(log_root, experiment)
    except OSError as exc:
        raise H1FaultError(
            f"cannot create a run folder under --log-root {log_root}: {io_error_text(exc)}"
        ) from None
    _write_params(run_dir, dataset, cfg, dev, data)
    if data.absent:
        err_console.print(
            f"[yellow]warning:[/] classes absent from the train split (weight 0): {data.absent}"
        )
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir))

    meta_base = dict(
        obs_dim=ds.obs_dim,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        class_joints=ds.classes.joints,
        class_names=ds.classes.names,
        control_dt=ds.control_dt,
        fault_threshold=cfg.fault_threshold,
        train_labels=cfg.train_labels,
        persistence=cfg.persistence,
        latch=cfg.latch,
        features=cfg.features,
    )
    best: dict[str, Any] | None = None
    best_epoch = -1
    history: list[dict[str, Any]] = []
    best_path = run_dir / "checkpoints" / "best.pt"
    last_path = run_dir / "checkpoints" / "last.pt"
    epoch = 0
    try:
        with make_progress(progress, fields=("info",)) as bar, writer or nullcontext():
            task = bar.add_task("disc train", total=None, info="")
            for epoch in range(1, cfg.epochs + 1):
                bar.update(task, description=f"epoch {epoch}/{cfg.epochs}")
                train_loss, train_time = _train_epoch(net, opt, data, weight, cfg, rng, bar, task)
                if not math.isfinite(train_loss):  # never save (or select) diverged weights
                    raise H1FaultError(
                        f"training diverged in epoch {epoch} (train loss {train_loss}); try a "
                        f"lower lr (now {cfg.lr:g})"
                    )
                lr_now = opt.param_groups[0]["lr"]
                if sched_lr is not None:
                    sched_lr.step()
                net.eval()
                val = val_metrics(
                    net, data.val, data.val_targets, ds.classes, cfg, weight, ds.control_dt
                )
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "lr": lr_now,
                    "samples_per_s": data.train.num_samples / max(train_time, 1e-9),
                    **{f"val_{k}": v for k, v in val.items()},
                }
                history.append(row)
                is_best = _better(cfg, val, best)
                extra = {
                    "config": cfg.to_dict(),
                    "dataset": str(dataset),
                    "epoch": epoch,
                    "val": val,
                }
                meta = DiscMeta(**meta_base, extra=extra)
                save_checkpoint(last_path, net, meta)
                if is_best:
                    best, best_epoch = val, epoch
                    save_checkpoint(best_path, net, meta)
                if writer is not None:
                    _log_epoch(writer, row, val)
                bal = val["balanced_accuracy"] or 0.0
                cal = val["calibrated_identified"] or 0.0
                bar.update(
                    task,
                    info=f"epoch {epoch} val bal.acc {bal:.3f} id@FA<1% {cal:.3f}"
                    + (" *" if is_best else ""),
                )
    except KeyboardInterrupt:
        kept = f"best so far: {best_path} (epoch {best_epoch})" if best else "no checkpoint yet"
        raise Interrupted(f"disc train stopped in epoch {epoch}; {kept}") from None
    assert best is not None
    calibration = _calibrate_best(best_path, data, cfg, run_dir) if cfg.calibrate else None
    return TrainResult(run_dir, best_path, last_path, best_epoch, best, history, calibration)
