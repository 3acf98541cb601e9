"""Synthetic raw files for tests and benchmarks: a cheap per-env episode/fault process (no
physics) written through the real :class:`~h1fault.data.writer.RawWriter`, with switches that
inject the defects ``dataset stats`` must catch.

Observation ``[t, n]`` encodes where it came from so alignment can be checked after a build:
column 0 = raw row ``t``, 1 = env ``n``, 2 = episode, 3 = step in episode; the other columns are a
fixed random pattern per env plus a slow drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from h1fault.data.schema import EVENT_DTYPE, OBS_DIM, RAW_STEP_DATASETS
from h1fault.data.writer import RawWriter, StepBatch, WriterConfig
from h1fault.sim.model import (
    DEFAULT_FAULT_CANDIDATES,
    ISAACLAB_JOINT_NAMES,
    JOINT_NAMES,
    joint_index,
)

NOMINAL_LIMITS = np.array([200, 200, 200, 300, 40, 200, 200, 200, 300, 40, 200,
                           40, 40, 18, 18, 40, 40, 18, 18], dtype=np.float32)  # fmt: skip
"""Nominal torque limits (N·m) used by synthetic files (the H1's, model order)."""


@dataclass(frozen=True)
class SyntheticSpec:
    """A synthetic raw file: episodes, faults and optional defects."""

    num_envs: int = 4
    """N."""
    num_steps: int = 200
    """T planned."""
    episode_steps: int = 50
    """Time-out length of an episode (steps)."""
    fall_prob: float = 0.0
    """Per-step probability that an episode terminates early."""
    fault_fall_prob: float = 0.0
    """Extra per-step fall probability while a fault is active (faults shorten episodes, as
    on the robot)."""
    p_fault: float = 0.75
    """Probability that an episode gets a fault."""
    onset_window_steps: tuple[int, int] = (5, 30)
    """Onset step drawn uniformly in [lo, hi)."""
    scale_range: tuple[float, float] = (0.0, 0.3)
    """Kept fraction of the nominal limit."""
    candidates: tuple[int, ...] = tuple(joint_index(j) for j in DEFAULT_FAULT_CANDIDATES)
    """Joints the fault model may pick (model indices)."""
    sat_prob: float = 0.3
    """Probability that a cut joint is saturated in a step."""
    seed: int = 0
    """Random seed."""
    dtype: str = "float32"
    """Stored obs dtype."""
    control_dt: float = 0.02
    """Seconds per step (recorded)."""
    only_joint: int | None = None
    """Defect: every fault hits this joint (the broken joint-12 dataset)."""
    not_restored_env: int | None = None
    """Defect: this env's cut is never restored at reset (carries on without an event)."""
    double_fault_env: int | None = None
    """Defect: this env's first faulted episode gets a second fault on another joint."""
    nan_at: tuple[int, int] | None = None
    """Defect: obs of (step, env) gets a NaN."""
    stall_env: int | None = None
    """This env never ends its first episode."""
    written_steps: int | None = None
    """Stop after this many steps without the ``complete`` flag (an interrupted run)."""


def synthetic_attrs(spec: SyntheticSpec) -> dict:
    """The raw-file attrs describing the synthetic fault distribution."""
    dt = spec.control_dt
    lo, hi = spec.onset_window_steps
    names = [JOINT_NAMES[j] for j in spec.candidates]
    return {
        "joint_names": list(JOINT_NAMES),
        "isaaclab_joint_names": list(ISAACLAB_JOINT_NAMES),
        "candidate_joints": [int(j) for j in spec.candidates],
        "fault_config": {
            "enabled": True,
            "p_fault": spec.p_fault,
            "onset_window_s": [lo * dt, hi * dt],
            "scale_range": list(spec.scale_range),
            "candidates": names,
            "candidate_indices": [int(j) for j in spec.candidates],
            "p_fault_effective": spec.p_fault,
        },  # fmt: skip
        "env_config": {"synthetic": True, "episode_length_s": spec.episode_steps * dt},
        "control_dt": dt,
        "max_episode_steps": spec.episode_steps,
        "nominal_torque_limits": NOMINAL_LIMITS.tolist(),
        "seed": spec.seed,
        "policy_checkpoint": "synthetic",
        "policy_sha256": "",
        "versions": {"generator": "h1fault.data.synthetic"},
    }


def write_synthetic_raw(
    path: str | Path,
    spec: SyntheticSpec,
    writer: WriterConfig | None = None,
    force: bool = True,
) -> Path:
    """Write a synthetic raw file (see :class:`SyntheticSpec`). Returns its path."""
    rng = np.random.default_rng(spec.seed)
    n, t_total = spec.num_envs, spec.num_steps
    wcfg = writer or WriterConfig(dtype=spec.dtype)
    if wcfg.dtype != spec.dtype:
        raise ValueError("writer dtype and spec dtype differ")
    k_batch = min(wcfg.flush_steps, t_total)
    cands = np.asarray(spec.candidates, np.int64)
    base = rng.standard_normal((n, OBS_DIM)).astype(np.float32)
    drift = rng.standard_normal((1, OBS_DIM)).astype(np.float32) * 0.01
    ep = np.zeros(n, np.int64)
    sie = np.zeros(n, np.int64)
    active = np.zeros(n, bool)
    carried = np.full(n, -1, np.int64)  # not-restored defect: joint still cut after reset
    carried_lim = np.full(n, np.nan, np.float32)
    double_done = False
    planned, onset, scale = _draw(rng, spec, cands, n)
    steps = spec.written_steps if spec.written_steps is not None else t_total
    out = RawWriter(path, n, t_total, synthetic_attrs(spec), wcfg, force=force)
    try:
        for b0 in range(0, steps, k_batch):
            k = min(k_batch, steps - b0)
            obs = np.empty((k, n, OBS_DIM), dtype=spec.dtype)
            flags = {name: np.empty((k, n), dt) for name, dt in RAW_STEP_DATASETS.items()}
            events: dict[str, list] = {f: [] for f in EVENT_DTYPE.names}
            for i in range(k):
                t = b0 + i
                row = base + drift * sie[:, None].astype(np.float32)
                row[:, 0], row[:, 1], row[:, 2], row[:, 3] = t, np.arange(n), ep, sie
                if spec.nan_at is not None and spec.nan_at[0] == t:
                    row[spec.nan_at[1], 10] = np.nan
                obs[i] = row
                onset_now = (planned >= 0) & (sie == onset) & ~active
                for e in np.flatnonzero(onset_now):
                    _event(events, e, ep[e], sie[e], t, planned[e], scale[e])
                active |= onset_now
                if (
                    spec.double_fault_env is not None
                    and not double_done
                    and active[spec.double_fault_env]
                    and sie[spec.double_fault_env] == onset[spec.double_fault_env] + 3
                ):
                    e = spec.double_fault_env
                    other = cands[cands != planned[e]][0]
                    planned[e] = other
                    _event(events, e, ep[e], sie[e], t, other, scale[e])
                    double_done = True  # fmt: skip
                joint = np.where(active, planned, carried)
                lim = np.where(active, scale * NOMINAL_LIMITS[np.maximum(planned, 0)], carried_lim)
                sat = (joint >= 0) & (rng.random(n) < spec.sat_prob)
                fell = rng.random(n) < spec.fall_prob + spec.fault_fall_prob * active
                timeout = sie + 1 >= spec.episode_steps
                term = fell & ~timeout
                trunc = timeout
                if spec.stall_env is not None:
                    term[spec.stall_env] = trunc[spec.stall_env] = False
                done = term | trunc
                for name, val in (
                    ("done", done),
                    ("terminated", term),
                    ("truncated", trunc),
                    ("fault_joint", joint),
                    ("saturated", sat),
                    ("episode", ep),
                    ("step_in_episode", sie),
                    ("torque_limit", lim),
                ):
                    flags[name][i] = val  # fmt: skip
                # resets
                nr = spec.not_restored_env
                if nr is not None and done[nr] and joint[nr] >= 0:
                    carried[nr], carried_lim[nr] = joint[nr], lim[nr]
                ep = ep + done
                sie = np.where(done, 0, sie + 1)
                active &= ~done
                p2, o2, s2 = _draw(rng, spec, cands, n)
                planned = np.where(done, p2, planned)
                onset = np.where(done, o2, onset)
                scale = np.where(done, s2, scale)
            out.put(StepBatch(b0, obs, flags, {f: np.asarray(v) for f, v in events.items()}))
    except BaseException:
        out.close(complete=False)
        raise
    out.close(complete=spec.written_steps is None)
    return Path(path)


def _draw(
    rng: np.random.Generator, spec: SyntheticSpec, cands: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    has = rng.random(n) < spec.p_fault
    joint = cands[rng.integers(0, len(cands), n)]
    if spec.only_joint is not None:
        joint = np.full(n, spec.only_joint)
    lo, hi = spec.onset_window_steps
    onset = rng.integers(lo, hi, n)
    scale = rng.uniform(*spec.scale_range, n).astype(np.float32)
    return np.where(has, joint, -1), onset, scale


def _event(events: dict, env: int, ep: int, sie: int, t: int, joint: int, scale: float) -> None:
    values = (env, ep, sie, t, joint, scale, scale * NOMINAL_LIMITS[joint])
    for key, val in zip(EVENT_DTYPE.names, values, strict=True):
        events[key].append(val)
