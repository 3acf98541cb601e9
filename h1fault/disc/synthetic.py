"""Tiny synthetic built datasets with an obvious per-joint fault signal (tests, benchmarks, demos).

The file follows ``docs/data_format.md`` ("Built dataset") exactly, so everything that reads a
real dataset reads this one. Observations are AR(1) noise with per-feature scale and offset; from
the observation after the first saturated step of a faulted episode on (``obs[t]`` holds the
torques applied in step ``t - 1``), the faulted joint's torque feature (``69 + joint``) is shifted
by ``signal`` feature-stds, which is what a cut limit looks like to the discriminator in the
simplest case.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from h1fault.data.schema import DATASET_FORMAT, OBS_DIM
from h1fault.data.schema import FORMAT_VERSION as DATASET_FORMAT_VERSION
from h1fault.disc.dataset import OBS_LAG
from h1fault.sim.model import JOINT_NAMES

EPISODE_DTYPE = np.dtype(
    [
        ("source", np.int16),
        ("env", np.int32),
        ("episode", np.int32),
        ("start", np.int64),
        ("length", np.int32),
        ("fault_joint", np.int16),
        ("onset", np.int32),
        ("scale", np.float32),
        ("first_saturation", np.int32),
        ("terminated", bool),
        ("split", np.int8),
    ]
)
"""The ``episodes`` compound dtype of the built format."""


def write_synthetic_dataset(
    path: str | Path,
    *,
    num_episodes: int = 60,
    episode_len: int = 120,
    candidate_joints: tuple[int, ...] = (0, 3, 10, 14),
    p_fault: float = 0.6,
    signal: float = 4.0,
    ar: float = 0.5,
    never_saturate: float = 0.0,
    min_len_fraction: float = 0.5,
    obs_dim: int = OBS_DIM,
    obs_dtype: str = "float32",
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    control_dt: float = 0.02,
    seed: int = 0,
) -> Path:
    """Write a small built dataset and return its path.

    Episode lengths are uniform in ``[min_len_fraction * episode_len, episode_len]`` (shorter ones
    are marked terminated). Fault onset is uniform in the first half of the episode, first
    saturation 0-4 steps later, or never with probability ``never_saturate``. ``ar`` is the
    noise's AR(1) coefficient. ``obs_dim`` other than
    88 writes a deliberately wrong file.
    """
    import h5py

    rng = np.random.default_rng(seed)
    n_long = max(1, int(round(min_len_fraction * episode_len)))
    lengths = rng.integers(n_long, episode_len + 1, size=num_episodes)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = int(lengths.sum())
    split = rng.choice(3, size=num_episodes, p=np.asarray(split_fractions) / sum(split_fractions))
    split[:3] = (0, 1, 2)  # every split non-empty, even for a handful of episodes

    scale = rng.uniform(0.2, 5.0, size=obs_dim).astype(np.float32)
    offset = rng.normal(0.0, 3.0, size=obs_dim).astype(np.float32)
    obs = np.empty((total, obs_dim), dtype=np.float32)
    label = np.full(total, -1, dtype=np.int16)
    saturated = np.zeros(total, dtype=bool)
    episodes = np.zeros(num_episodes, dtype=EPISODE_DTYPE)

    for e in range(num_episodes):
        n, a = int(lengths[e]), int(starts[e])
        z = np.empty((n, obs_dim), dtype=np.float32)
        z[0] = rng.normal(size=obs_dim)
        eps = rng.normal(size=(n, obs_dim)).astype(np.float32)
        for t in range(1, n):  # AR(1) with unit stationary variance
            z[t] = ar * z[t - 1] + np.sqrt(1.0 - ar * ar) * eps[t]
        joint, onset, first_sat, cut = -1, -1, -1, np.nan
        if rng.random() < p_fault and candidate_joints:
            joint = int(rng.choice(candidate_joints))
            onset = int(rng.integers(0, max(1, n // 2)))
            cut = float(rng.uniform(0.0, 0.3))
            label[a + onset : a + n] = joint
            if rng.random() >= never_saturate:
                first_sat = min(n - 1, onset + int(rng.integers(0, 5)))
                if joint + 69 < obs_dim:
                    z[first_sat + OBS_LAG :, 69 + joint] += signal  # obs[t] shows step t - 1
                saturated[a + first_sat : a + n] = rng.random(n - first_sat) < 0.7
                saturated[a + first_sat] = True
        obs[a : a + n] = z * scale + offset
        episodes[e] = (
            0,
            e % 4,
            e // 4,
            a,
            n,
            joint,
            onset,
            cut,
            first_sat,
            n < episode_len,
            split[e],
        )

    train_rows = np.concatenate(
        [np.arange(starts[e], starts[e] + lengths[e]) for e in np.flatnonzero(split == 0)]
    )
    mean = obs[train_rows].mean(0).astype(np.float32)
    std = obs[train_rows].std(0).astype(np.float32)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("obs", data=obs.astype(obs_dtype), chunks=(min(total, 4096), obs_dim))
        f.create_dataset("label", data=label)
        f.create_dataset("saturated", data=saturated)
        f.create_dataset("episodes", data=episodes)
        f.create_dataset("norm/mean", data=mean)
        f.create_dataset("norm/std", data=std)
        f.attrs["format"] = DATASET_FORMAT
        f.attrs["format_version"] = DATASET_FORMAT_VERSION
        f.attrs["sources"] = json.dumps(["synthetic"])
        f.attrs["joint_names"] = json.dumps(list(JOINT_NAMES))
        f.attrs["candidate_joints"] = json.dumps([int(j) for j in candidate_joints])
        f.attrs["fault_config"] = json.dumps(
            {"p_fault": p_fault, "candidates": [int(j) for j in candidate_joints], "synth": True}
        )
        f.attrs["obs_dim"] = obs_dim
        f.attrs["split_fractions"] = json.dumps(list(split_fractions))
        f.attrs["seed"] = seed
        f.attrs["control_dt"] = control_dt
    return path
