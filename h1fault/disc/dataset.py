"""Reader for built datasets (``docs/data_format.md``, "Built dataset").

The file is validated when opened (format, obs width, index table) so a wrong file is a one-line
error before any training starts. A split is loaded into memory as torch tensors (episodes stay
contiguous) so batches are index gathers, never per-sample Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from h1fault.data.h5io import check_dataset_layout, open_h5
from h1fault.data.schema import OBS_DIM
from h1fault.errors import H1FaultError

SPLITS = {"train": 0, "val": 1, "test": 2}
OBS_LAG = 1
"""Steps between a transition and the observation that shows it: ``obs[t]`` holds the torques
applied during step ``t - 1`` and the state after it, so saturation in step ``s`` is first
visible in ``obs[s + 1]``."""
EPISODE_FIELDS = (
    "start",
    "length",
    "fault_joint",
    "onset",
    "first_saturation",
    "terminated",
    "split",
)
"""Fields of the ``episodes`` table this package reads (the file may hold more)."""


@dataclass(frozen=True)
class ClassSpec:
    """The classifier's classes: 0 is healthy, class ``k >= 1`` is candidate joint ``joints[k]``."""

    joints: tuple[int, ...]
    """Model joint index per class; ``-1`` for class 0 (healthy)."""
    names: tuple[str, ...]
    """Class names: ``healthy`` then the joint names."""

    @classmethod
    def from_candidates(cls, candidates: list[int], joint_names: list[str]) -> ClassSpec:
        """Classes for a dataset's candidate joints (model indices, kept in the file's order)."""
        joints = (-1, *(int(j) for j in candidates))
        names = ("healthy", *(joint_names[j] for j in candidates))
        return cls(joints=joints, names=names)

    @property
    def num_classes(self) -> int:
        return len(self.joints)

    def label_to_class(self, label: np.ndarray) -> np.ndarray:
        """Map joint labels (-1 healthy, else model index) to class indices.

        label: (M,) int. Returns (M,) int64. A label outside the classes is a one-line error.
        """
        table = np.full(256, -1, dtype=np.int64)  # offset by 1 so -1 maps to slot 0
        for k, j in enumerate(self.joints):
            table[j + 1] = k
        label = np.asarray(label, dtype=np.int64)
        bad = (label < -1) | (label > 254)
        cls = np.where(bad, -1, table[np.clip(label + 1, 0, 255)])
        if (cls < 0).any():
            wrong = sorted(set(np.unique(label[cls < 0]).tolist()))
            raise H1FaultError(
                f"labels {wrong} are not healthy (-1) or one of the classes' joints "
                f"{list(self.joints[1:])}"
            )
        return cls


@dataclass
class SplitData:
    """One split in memory; episode ``e`` is rows ``ep_start[e] : ep_start[e] + ep_length[e]``."""

    name: str
    """train, val or test."""
    obs: torch.Tensor
    """Raw (un-normalised) observations. Shape: (S, 88), float32 or float16."""
    label: np.ndarray
    """Dataset labels: -1 healthy, else model joint index. Shape: (S,) int16."""
    saturated: np.ndarray
    """Faulted joint saturated at its cut limit in this step. Shape: (S,) bool."""
    ep_start: np.ndarray
    """Episode first row in this split's arrays. Shape: (E,) int64, ascending, contiguous."""
    ep_length: np.ndarray
    """Episode length in steps (>= 1). Shape: (E,) int64."""
    ep_fault_joint: np.ndarray
    """Faulted joint (model index) or -1. Shape: (E,) int64."""
    ep_onset: np.ndarray
    """Fault onset, step in episode, or -1. Shape: (E,) int64."""
    ep_first_saturation: np.ndarray
    """First saturated step in episode, or -1 if never. Shape: (E,) int64."""
    ep_terminated: np.ndarray
    """Episode ended by a fall (not the time limit). Shape: (E,) bool."""

    @property
    def num_samples(self) -> int:
        return int(self.obs.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(self.ep_start.shape[0])

    def step_in_episode(self) -> np.ndarray:
        """Step index inside its episode for every row. Shape: (S,) int64."""
        first = np.repeat(self.ep_start, self.ep_length)
        return np.arange(self.num_samples, dtype=np.int64) - first

    def targets(self, classes: ClassSpec, mode: str) -> np.ndarray:
        """Per-step class targets. Shape: (S,) int64.

        ``onset``: the dataset labels mapped to classes. ``saturation``: the fault class only from
        the first observation that can show it, ``first_saturation + OBS_LAG`` (before the joint
        saturates the cut changes nothing), so a fault that never saturates is healthy throughout.
        """
        if mode == "onset":
            return classes.label_to_class(self.label)
        if mode != "saturation":
            raise H1FaultError(f"unknown label mode '{mode}' (onset or saturation)")
        ep_cls = classes.label_to_class(self.ep_fault_joint)
        per_step_cls = np.repeat(ep_cls, self.ep_length)
        sat = np.repeat(self.ep_first_saturation, self.ep_length)
        observable = (sat >= 0) & (self.step_in_episode() >= sat + OBS_LAG)
        return np.where(observable, per_step_cls, 0).astype(np.int64)


def _json_attr(attrs: Any, key: str, path: Path) -> Any:
    if key not in attrs:
        raise H1FaultError(f"{path}: attribute '{key}' missing (not a built h1fault dataset?)")
    value = attrs[key]
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise H1FaultError(f"{path}: attribute '{key}' is not valid JSON") from None
    return value.tolist() if hasattr(value, "tolist") else value


class DiscDataset:
    """A validated built dataset. Metadata is read at open; observations per split on demand."""

    def __init__(self, path: str | Path) -> None:

        self.path = Path(path)
        if self.path.is_dir():
            raise H1FaultError(f"{self.path} is a directory, expected a built dataset (.h5)")
        if not self.path.is_file():
            raise H1FaultError(f"dataset not found: {self.path}")
        with open_h5(self.path) as f:
            self.num_samples = check_dataset_layout(f, self.path, EPISODE_FIELDS)
            self.obs_dim = OBS_DIM
            self.episodes = f["episodes"][()]
            self.joint_names: list[str] = list(_json_attr(f.attrs, "joint_names", self.path))
            self.candidate_joints: list[int] = [
                int(j) for j in _json_attr(f.attrs, "candidate_joints", self.path)
            ]
            self.control_dt = float(f.attrs.get("control_dt", 0.02))
            self.fault_config = (
                _json_attr(f.attrs, "fault_config", self.path) if "fault_config" in f.attrs else {}
            )
            if "norm" in f and "mean" in f["norm"] and "std" in f["norm"]:
                self.norm_mean: np.ndarray | None = np.asarray(f["norm/mean"], dtype=np.float32)
                self.norm_std: np.ndarray | None = np.asarray(f["norm/std"], dtype=np.float32)
                if self.norm_mean.shape != (OBS_DIM,) or self.norm_std.shape != (OBS_DIM,):
                    raise H1FaultError(f"{self.path}: norm/mean and norm/std must be [{OBS_DIM}]")
            else:
                self.norm_mean = self.norm_std = None
        self._check_index()
        self.classes = ClassSpec.from_candidates(self.candidate_joints, self.joint_names)

    def _check_index(self) -> None:
        ep = self.episodes
        start = ep["start"].astype(np.int64)
        length = ep["length"].astype(np.int64)
        if (length < 1).any():
            raise H1FaultError(f"{self.path}: episodes with length < 1 in the index table")
        if (start < 0).any() or (start + length > self.num_samples).any():
            raise H1FaultError(f"{self.path}: episode rows outside obs [0, {self.num_samples})")
        bad_split = ~np.isin(ep["split"], list(SPLITS.values()))
        if bad_split.any():
            raise H1FaultError(f"{self.path}: split values other than 0/1/2 in the episodes table")
        bad_joint = (ep["fault_joint"] >= 0) & ~np.isin(ep["fault_joint"], self.candidate_joints)
        if bad_joint.any():
            joints = sorted(set(ep["fault_joint"][bad_joint].tolist()))
            raise H1FaultError(
                f"{self.path}: episodes faulted at non-candidate joints {joints} "
                f"(candidates {self.candidate_joints})"
            )

    def split_episodes(self, split: str) -> np.ndarray:
        """Indices into :attr:`episodes` of one split, ordered by start row."""
        if split not in SPLITS:
            raise H1FaultError(f"unknown split '{split}' (train, val or test)")
        idx = np.flatnonzero(self.episodes["split"] == SPLITS[split])
        return idx[np.argsort(self.episodes["start"][idx], kind="stable")]

    def load_split(self, split: str, device: str | torch.device = "cpu") -> SplitData:
        """Read one split into memory; ``obs`` goes to ``device``, the rest stays numpy."""
        import h5py

        idx = self.split_episodes(split)
        ep = self.episodes[idx]
        start = ep["start"].astype(np.int64)
        length = ep["length"].astype(np.int64)
        total = int(length.sum())
        with h5py.File(self.path, "r") as f:
            obs_ds = f["obs"]
            obs = np.empty((total, self.obs_dim), dtype=obs_ds.dtype)
            label = np.empty(total, dtype=np.int16)
            sat = np.empty(total, dtype=bool)
            # Read contiguous runs of episodes at once: few large h5py reads, not one per episode.
            new_run = np.ones(len(idx), dtype=bool)
            new_run[1:] = start[1:] != start[:-1] + length[:-1]
            first = np.flatnonzero(new_run)
            ends = np.append(first[1:], len(idx)) if len(idx) else first  # empty split
            label_ds, sat_ds = f["label"], f["saturated"]
            pos = 0
            for i0, i1 in zip(first.tolist(), ends.tolist(), strict=True):
                a = int(start[i0])
                n = int(start[i1 - 1] + length[i1 - 1]) - a
                obs[pos : pos + n] = obs_ds[a : a + n]
                label[pos : pos + n] = label_ds[a : a + n]
                sat[pos : pos + n] = sat_ds[a : a + n]
                pos += n
        new_start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
        if not np.isfinite(obs).all():
            raise H1FaultError(f"{self.path}: non-finite values in obs of the {split} split")
        return SplitData(
            name=split,
            obs=torch.from_numpy(obs).to(device),
            label=label,
            saturated=sat,
            ep_start=new_start[: len(idx)],
            ep_length=length,
            ep_fault_joint=ep["fault_joint"].astype(np.int64),
            ep_onset=ep["onset"].astype(np.int64),
            ep_first_saturation=ep["first_saturation"].astype(np.int64),
            ep_terminated=ep["terminated"].astype(bool),
        )

    def normalisation(self, train: SplitData | None, std_floor: float) -> tuple[Any, Any]:
        """Mean and floored std, each (88,) float32: from the file, else from ``train``."""
        if self.norm_mean is not None and self.norm_std is not None:
            mean, std = self.norm_mean, self.norm_std
        else:
            if train is None or train.num_samples == 0:
                raise H1FaultError(f"{self.path}: no norm stats and no train samples for them")
            x = train.obs.float()
            mean, std = x.mean(0).cpu().numpy(), x.std(0).cpu().numpy()
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise H1FaultError(f"{self.path}: non-finite normalisation stats")
        return mean.astype(np.float32), np.maximum(std, std_floor).astype(np.float32)
