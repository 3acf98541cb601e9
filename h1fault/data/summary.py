"""Read what ``dataset stats`` needs from a built dataset or a raw file into a :class:`Summary`
(episode table, label counts, attrs, non-finite and label-vs-table counts); streamed in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from h1fault.console import byte_progress
from h1fault.data.h5io import (
    check_dataset_layout,
    file_format,
    fill_episode_defaults,
    json_attr,
    open_h5,
    read_error_text,
    read_raw_info,
)
from h1fault.data.scan import FLAG_BYTES, scan_raw
from h1fault.data.schema import DATASET_FORMAT, OBS_DIM, RAW_FORMAT
from h1fault.errors import H1FaultError
from h1fault.sim.model import JOINT_NAMES, NUM_JOINTS

_ROWS_PER_CHUNK = 1 << 18


@dataclass
class Summary:
    """Everything the checks and the report need about one file."""

    path: Path
    """The file."""
    kind: str
    """``dataset`` or ``raw``."""
    num_samples: int
    """M, kept samples."""
    episodes: np.ndarray
    """(K,) episode table (:data:`~h1fault.data.schema.EPISODE_DTYPE`)."""
    label_counts: np.ndarray
    """(19,) int64 samples labelled with each joint."""
    healthy_samples: int
    """Samples labelled -1."""
    joint_names: list[str]
    """Model order."""
    candidate_joints: list[int]
    """Model indices the fault model may pick."""
    fault_config: dict
    """Recorded fault distribution ({} if unknown)."""
    control_dt: float
    """Seconds per step."""
    sources: list[str]
    """Raw files (one for a raw file)."""
    source_num_envs: list[int]
    """Envs per source ([] if unknown)."""
    source_env_offsets: list[int] = field(default_factory=list)
    """Global id of each source's env 0 (torchrun shards); [] means all 0."""
    obs_dtype: str = "float32"
    """Stored obs dtype."""
    nonfinite_rows: int = -1
    """Samples with non-finite obs (-1: not checked)."""
    first_nonfinite: str = ""
    """Where the first one is."""
    saturated_samples: int = -1
    """Samples flagged saturated (-1: not counted)."""
    label_table_mismatch: int = -1
    """Samples whose label disagrees with the episode table (-1: not checked)."""
    label_table_example: str = ""
    """Where the first one is."""
    crosscheck: dict[str, int] | None = None
    """Cross-check totals (None: unknown)."""
    crosscheck_examples: dict[str, Any] = field(default_factory=dict)
    """Where each category happens first."""
    derived_fault_state: bool = False
    """Per-step fault state was derived from events (legacy import)."""
    dropped_episodes: int = 0
    """Unfinished episodes dropped."""

    def env_offset(self, source: int) -> int:
        """Global id of env 0 of source ``source`` (0 unless sharded)."""
        offs = self.source_env_offsets
        return offs[source] if source < len(offs) else 0


def labels_from_episodes(episodes: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-joint sample counts implied by an episode table. Returns ((19,) counts, healthy)."""
    counts = np.zeros(NUM_JOINTS, np.int64)
    faulted = episodes["fault_joint"] >= 0
    n_fault = (episodes["length"][faulted] - episodes["onset"][faulted]).astype(np.int64)
    np.add.at(counts, episodes["fault_joint"][faulted].astype(np.int64), np.maximum(n_fault, 0))
    total = int(episodes["length"].astype(np.int64).sum())
    return counts, total - int(counts.sum())


def summarize(
    path: str | Path, allow_partial: bool = False, read_arrays: bool = True, progress: bool = False
) -> Summary:
    """Summarise a built dataset or a raw file (detected from its ``format`` attr).

    read_arrays: stream obs/label/saturated of a dataset (finite and label checks); without it
    only the episode table and attrs are read (what ``build`` uses for its warnings).
    """
    path = Path(path)
    f = open_h5(path)
    try:
        fmt = file_format(f)
        if fmt == RAW_FORMAT:
            return _summarize_raw(f, path, allow_partial, progress)
        if fmt == DATASET_FORMAT:
            return _summarize_dataset(f, path, read_arrays, progress)
        raise H1FaultError(f"{path} is neither an h1fault dataset nor a raw file (format {fmt!r})")
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise H1FaultError(f"cannot read {path} (corrupt file?): {read_error_text(exc)}") from exc
    finally:
        f.close()


def _summarize_raw(f: Any, path: Path, allow_partial: bool, progress: bool) -> Summary:
    info = read_raw_info(f, path)
    total = info.num_steps * info.num_envs * (FLAG_BYTES + OBS_DIM * info.obs_dtype.itemsize)
    with byte_progress("stats", total, progress) as advance:
        scan = scan_raw(f, info, allow_partial=allow_partial, check_obs=True, advance=advance)
    counts, healthy = labels_from_episodes(scan.episodes)
    return Summary(
        path=path, kind="raw", num_samples=scan.num_samples, episodes=scan.episodes,
        label_counts=counts, healthy_samples=healthy, joint_names=info.joint_names,
        candidate_joints=info.candidate_joints, fault_config=info.fault_config,
        control_dt=info.control_dt, sources=[str(path)], source_num_envs=[info.num_envs],
        obs_dtype=str(info.obs_dtype), nonfinite_rows=scan.nonfinite_rows,
        first_nonfinite=scan.first_nonfinite, crosscheck=scan.crosscheck,
        crosscheck_examples=scan.examples, derived_fault_state=info.derived_fault_state,
        dropped_episodes=scan.dropped_episodes,
    )  # fmt: skip


def _summarize_dataset(f: Any, path: Path, read_arrays: bool, progress: bool) -> Summary:
    m = check_dataset_layout(f, path)
    episodes = fill_episode_defaults(f["episodes"][()])
    order = np.argsort(episodes["start"], kind="stable")
    episodes = episodes[order]
    cc = json_attr(f, "crosscheck", path, None)
    s = Summary(
        path=path, kind="dataset", num_samples=m, episodes=episodes,
        label_counts=np.zeros(NUM_JOINTS, np.int64), healthy_samples=0,
        joint_names=list(json_attr(f, "joint_names", path, list(JOINT_NAMES))),
        candidate_joints=[int(j) for j in json_attr(f, "candidate_joints", path)],
        fault_config=dict(json_attr(f, "fault_config", path, {})),
        control_dt=float(f.attrs.get("control_dt", 0.02)),
        sources=[str(x) for x in json_attr(f, "sources", path, [])],
        source_num_envs=[int(x) for x in json_attr(f, "source_num_envs", path, [])],
        source_env_offsets=[int(x) for x in json_attr(f, "source_env_offsets", path, [])],
        obs_dtype=str(f["obs"].dtype),
        crosscheck=cc.get("totals") if isinstance(cc, dict) else None,
        crosscheck_examples=cc.get("examples", {}) if isinstance(cc, dict) else {},
        derived_fault_state=bool(f.attrs.get("derived_fault_state", False)),
        dropped_episodes=int(f.attrs.get("dropped_episodes", 0)),
    )  # fmt: skip
    if not read_arrays:
        s.label_counts, s.healthy_samples = labels_from_episodes(episodes)
        return s
    starts = episodes["start"].astype(np.int64)
    ends = starts + episodes["length"].astype(np.int64)
    joint = episodes["fault_joint"].astype(np.int64)
    onset = episodes["onset"].astype(np.int64)
    counts = np.zeros(NUM_JOINTS + 2, np.int64)
    nonfinite = mismatch = saturated = 0
    first_bad = first_mis = ""
    obs, lab_ds, sat_ds = f["obs"], f["label"], f["saturated"]
    with byte_progress("stats", m * obs.dtype.itemsize * OBS_DIM, progress) as advance:
        for r0 in range(0, m, _ROWS_PER_CHUNK):
            r1 = min(r0 + _ROWS_PER_CHUNK, m)
            x = obs[r0:r1]
            advance(x.nbytes)
            lab = lab_ds[r0:r1].astype(np.int64)
            sat = sat_ds[r0:r1]
            bad = ~np.isfinite(x).all(axis=1)
            if bad.any():
                nonfinite += int(bad.sum())
                first_bad = first_bad or _where_sample(r0 + int(np.argmax(bad)), s, starts)
            # bins: joints, then healthy (-1), then out-of-range labels
            bins = np.where(lab == -1, NUM_JOINTS, np.where((lab >= 0) & (lab < NUM_JOINTS), lab,
                                                            NUM_JOINTS + 1))  # fmt: skip
            counts += np.bincount(bins, minlength=NUM_JOINTS + 2)
            saturated += int(sat.sum())
            rows = np.arange(r0, r1, dtype=np.int64)
            e = np.maximum(np.searchsorted(starts, rows, side="right") - 1, 0)
            inside = (rows >= starts[e]) & (rows < ends[e]) if len(starts) else rows < -1
            expected = np.where(inside & (joint[e] >= 0) & (rows - starts[e] >= onset[e]),
                                joint[e], -1)  # fmt: skip
            wrong = ~inside | (lab != expected)
            if wrong.any():
                mismatch += int(wrong.sum())
                first_mis = first_mis or _where_sample(r0 + int(np.argmax(wrong)), s, starts)
    s.label_counts = counts[:NUM_JOINTS]
    s.healthy_samples = int(counts[NUM_JOINTS])
    s.nonfinite_rows, s.first_nonfinite = nonfinite, first_bad
    s.label_table_mismatch, s.label_table_example = mismatch, first_mis
    s.saturated_samples = saturated
    return s


def _where_sample(row: int, s: Summary, starts: np.ndarray) -> str:
    if not len(starts):
        return f"sample {row}"
    i = max(int(np.searchsorted(starts, row, side="right")) - 1, 0)
    ep = s.episodes[i]
    src = s.sources[ep["source"]] if 0 <= ep["source"] < len(s.sources) else "?"
    return (f"sample {row}: {src} env {ep['env']}, episode {ep['episode']}, "
            f"step {row - int(ep['start'])}")  # fmt: skip
