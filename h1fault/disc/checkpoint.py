"""Discriminator checkpoints: a plain dict of tensors + JSON-able metadata, never pickled objects.

Layout (``torch.save``; read back with ``torch.load(..., weights_only=True)``)::

    {"format": "h1fault-disc", "format_version": 1,
     "state_dict": {...},            # DiscriminatorNet weights + obs_mean/obs_std buffers
     "meta": {"obs_dim": 88, "hidden_size": ..., "num_layers": ...,
              "class_joints": [-1, j1, ...], "class_names": ["healthy", ...],
              "control_dt": 0.02, "fault_threshold": 0.0, "train_labels": "saturation",
              "persistence": 1, "latch": false,      # decision rule (absent in old files: 1, false)
              "features": "pd",                      # derived inputs (absent in old files: raw)
              "config": {...DiscConfig...}, "dataset": "...", "epoch": ..., "val": {...},
              "calibration": {...}}}                 # only after ``disc calibrate``
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import NamedTuple

import torch

from h1fault.console import resolve_device
from h1fault.disc.dataset import DiscDataset, SplitData
from h1fault.disc.meta import DiscMeta
from h1fault.disc.model import DiscriminatorNet
from h1fault.errors import H1FaultError
from h1fault.fileio import write_bytes_atomic

CKPT_FORMAT = "h1fault-disc"
CKPT_FORMAT_VERSION = 1
META_KEYS = (
    "obs_dim",
    "hidden_size",
    "num_layers",
    "class_joints",
    "class_names",
    "control_dt",
    "fault_threshold",
    "train_labels",
)
RULE_KEYS = ("persistence", "latch", "features")
"""Meta keys added later: optional on load (defaults 1, false and "raw")."""


def save_checkpoint(path: str | Path, net: DiscriminatorNet, meta: DiscMeta) -> Path:
    """Write ``net`` and ``meta`` to ``path`` atomically (a crash or a full disk mid-write never
    leaves a half checkpoint, nor a temp file; the disk error is one line). The folder must exist.
    """
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    blob = {
        "format": CKPT_FORMAT,
        "format_version": CKPT_FORMAT_VERSION,
        "state_dict": state,
        "meta": meta.to_dict(),
    }
    buf = io.BytesIO()  # serialise in memory: the file itself is written by plain Python I/O
    torch.save(blob, buf)
    return write_bytes_atomic(path, buf.getbuffer())


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[DiscriminatorNet, DiscMeta]:
    """Load a checkpoint written by :func:`save_checkpoint`; anything else is a one-line error."""
    path = Path(path)
    if path.is_dir():
        raise H1FaultError(f"{path} is a directory, expected a checkpoint file (.pt)")
    if not path.is_file():
        raise H1FaultError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise H1FaultError(f"{path} is not a discriminator checkpoint (not a torch.save archive)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise H1FaultError(
            f"{path} is not a discriminator checkpoint: it holds pickled objects besides tensors "
            "and plain containers, and h1fault never unpickles those"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile):
        raise H1FaultError(f"{path}: damaged or truncated checkpoint archive") from None
    if not isinstance(blob, dict) or blob.get("format") != CKPT_FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise H1FaultError(f"{path}: not a discriminator checkpoint (format {got!r})")
    if blob.get("format_version") != CKPT_FORMAT_VERSION:
        raise H1FaultError(
            f"{path}: checkpoint format_version {blob.get('format_version')} is not supported "
            f"(this h1fault reads {CKPT_FORMAT_VERSION})"
        )
    for key in ("state_dict", "meta"):
        if not isinstance(blob.get(key), dict):
            raise H1FaultError(f"{path}: checkpoint is missing '{key}'")
    raw = blob["meta"]
    missing = [k for k in META_KEYS if k not in raw]
    if missing:
        raise H1FaultError(f"{path}: checkpoint meta is missing {missing}")
    meta = DiscMeta(
        obs_dim=int(raw["obs_dim"]),
        hidden_size=int(raw["hidden_size"]),
        num_layers=int(raw["num_layers"]),
        class_joints=tuple(int(j) for j in raw["class_joints"]),
        class_names=tuple(str(n) for n in raw["class_names"]),
        control_dt=float(raw["control_dt"]),
        fault_threshold=float(raw["fault_threshold"]),
        train_labels=str(raw["train_labels"]),
        persistence=int(raw.get("persistence", 1)),
        latch=bool(raw.get("latch", False)),
        features=str(raw.get("features", "raw")),
        extra={k: v for k, v in raw.items() if k not in (*META_KEYS, *RULE_KEYS)},
    )
    try:
        meta.rule  # noqa: B018  (validates threshold and persistence)
    except H1FaultError as exc:
        raise H1FaultError(f"{path}: bad decision rule in checkpoint meta ({exc})") from None
    if len(meta.class_joints) != len(meta.class_names) or meta.class_joints[:1] != (-1,):
        raise H1FaultError(f"{path}: inconsistent class list in checkpoint meta")
    try:
        net = DiscriminatorNet(
            meta.obs_dim,
            len(meta.class_joints),
            meta.hidden_size,
            meta.num_layers,
            features=meta.features,
        )
    except H1FaultError as exc:
        raise H1FaultError(f"{path}: {exc}") from None
    state = blob["state_dict"]
    expected = net.state_dict()
    missing_w = sorted(set(expected) - set(state))
    if missing_w:
        raise H1FaultError(f"{path}: checkpoint weights missing {missing_w[:4]}")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise H1FaultError(
                f"{path}: weight '{k}' has shape {tuple(state[k].shape)}, meta implies "
                f"{tuple(v.shape)}"
            )
    bad = [k for k in expected if state[k].is_floating_point() and not state[k].isfinite().all()]
    if bad:
        raise H1FaultError(
            f"{path}: weights contain NaN or Inf ({', '.join(bad[:3])}); training diverged?"
        )
    net.load_state_dict({k: state[k] for k in expected})
    return net.to(device).eval(), meta


def check_compatible(meta: DiscMeta, dataset: DiscDataset, ckpt_path: str | Path = "") -> None:
    """One-line error unless ``dataset`` has the checkpoint's obs width and class list."""
    where = f"{ckpt_path}: " if ckpt_path else ""
    if dataset.obs_dim != meta.obs_dim:
        raise H1FaultError(
            f"{where}checkpoint expects obs width {meta.obs_dim}, dataset {dataset.path} has "
            f"{dataset.obs_dim}"
        )
    if tuple(dataset.classes.joints) != meta.class_joints:
        raise H1FaultError(
            f"{where}checkpoint classes (candidate joints {list(meta.class_joints[1:])}) differ "
            f"from dataset {dataset.path} (candidate joints {list(dataset.classes.joints[1:])})"
        )


class CheckedSplit(NamedTuple):
    """A checkpoint and the dataset split it is about to stream, checked against each other."""

    net: DiscriminatorNet
    """The network, on ``device``."""
    meta: DiscMeta
    """Its metadata (classes, decision rule, ...)."""
    dataset: DiscDataset
    """The dataset (classes, control_dt)."""
    split: SplitData
    """The loaded split, with at least one episode."""
    device: torch.device
    """The resolved device."""


def load_split_for_checkpoint(
    checkpoint: str | Path, dataset: str | Path, split: str, device: str = "auto"
) -> CheckedSplit:
    """Load ``checkpoint`` on ``device`` and ``split`` of ``dataset``; one-line errors if they do
    not fit (:func:`check_compatible`) or the split has no episodes."""
    dev = resolve_device(device)
    net, meta = load_checkpoint(checkpoint, dev)
    ds = DiscDataset(dataset)
    check_compatible(meta, ds, checkpoint)
    data = ds.load_split(split)
    if data.num_episodes == 0:
        raise H1FaultError(f"{dataset}: the {split} split has no episodes")
    return CheckedSplit(net, meta, ds, data, dev)
