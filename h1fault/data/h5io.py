"""Opening raw and built files with one-line errors, and reading their attrs."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from h1fault.data.schema import (
    DATASET_FORMAT,
    EPISODE_DTYPE,
    FORMAT_VERSION,
    OBS_DIM,
    RAW_FORMAT,
    RAW_STEP_DATASETS,
)
from h1fault.errors import H1FaultError
from h1fault.fileio import io_error_text


def open_h5(path: str | Path) -> h5py.File:
    """Open an HDF5 file read-only; missing, non-HDF5 and corrupt files are one-line errors.

    File locking is off so a file still being written by ``collect`` can be inspected.
    """
    p = Path(path)
    if not p.exists():
        raise H1FaultError(f"file not found: {p}")
    if p.is_dir():
        raise H1FaultError(f"{p} is a directory, expected an HDF5 file")
    if p.stat().st_size == 0:
        raise H1FaultError(f"{p} is empty (0 bytes), not an HDF5 file")
    try:
        is_h5 = h5py.is_hdf5(str(p))
    except OSError:
        is_h5 = False
    if not is_h5:
        raise H1FaultError(f"{p} is not an HDF5 file")
    try:
        try:
            return h5py.File(p, "r", locking=False)
        except OSError as exc:
            if "locking flag" not in str(exc):
                raise
            return h5py.File(p, "r")  # already open in this process with locking on
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise H1FaultError(f"cannot open {p} (truncated or corrupt HDF5 file?): {first}") from None


def first_line(exc: BaseException) -> str:
    """First line of an exception's message (or its type name)."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def is_checksum_error(exc: BaseException) -> bool:
    """HDF5's report of a chunk whose fletcher32 checksum does not match (or whose filter failed
    otherwise: the stored bytes are not what was written)."""
    text = str(exc)
    return "filter returned failure during read" in text or "checksum" in text.lower()


def read_error_text(exc: BaseException) -> str:
    """One line for a failed read: corrupt chunks named as such, else :func:`io_error_text`."""
    if is_checksum_error(exc):
        return "checksum mismatch: the data on disk was corrupted after it was written"
    return io_error_text(exc)


def json_attr(f: h5py.File, key: str, path: Path, default: Any = ...) -> Any:
    """Decode a JSON-valued attr; a missing or unparsable one is a one-line error."""
    if key not in f.attrs:
        if default is not ...:
            return default
        raise H1FaultError(f"{path}: attr '{key}' is missing")
    value = f.attrs[key]
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return json.loads(str(value))
    except json.JSONDecodeError:
        raise H1FaultError(f"{path}: attr '{key}' is not valid JSON") from None


def file_format(f: h5py.File) -> str:
    """The ``format`` attr ("" when absent)."""
    value = f.attrs.get("format", "")
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class RawInfo:
    """What build and stats need to know about one raw collect file."""

    path: Path
    """Where it is."""
    num_envs: int
    """N, envs stepped in parallel."""
    num_steps: int
    """T, steps written and flushed (``num_steps_written``)."""
    num_steps_planned: int
    """Steps the collect run was asked for."""
    complete: bool
    """The ``complete`` attr: the run ended cleanly."""
    obs_dtype: np.dtype
    """Stored observation dtype (float32 or float16)."""
    joint_names: list[str]
    """Joint names, model order."""
    candidate_joints: list[int]
    """Model indices the fault model may pick."""
    fault_config: dict
    """The recorded fault distribution."""
    control_dt: float
    """Seconds per env step."""
    derived_fault_state: bool = False
    """Per-step fault state was derived from the events (legacy import), not logged by the env."""
    attrs: dict = field(default_factory=dict)
    """Every attr, JSON ones decoded."""


def read_raw_info(f: h5py.File, path: str | Path) -> RawInfo:
    """Validate a raw file's layout and read its attrs; one-line error naming what is wrong
    (also for HDF5 structures that cannot be read: a damaged header, heap or B-tree)."""
    try:
        return _read_raw_info(f, Path(path))
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise H1FaultError(
            f"cannot read {path} (corrupt HDF5 file?): {read_error_text(exc)}"
        ) from exc


def _read_raw_info(f: h5py.File, path: Path) -> RawInfo:
    fmt = file_format(f)
    if fmt == DATASET_FORMAT:
        raise H1FaultError(f"{path} is a built dataset; expected a raw collect file")
    if fmt != RAW_FORMAT:
        raise H1FaultError(f"{path} is not an h1fault raw file (format attr {fmt!r})")
    version = int(f.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise H1FaultError(f"{path}: raw format version {version}, expected {FORMAT_VERSION}")
    for name in ("obs", "events", *RAW_STEP_DATASETS):
        if name not in f:
            raise H1FaultError(f"{path}: dataset '{name}' is missing")
    obs = f["obs"]
    if obs.ndim != 3:
        raise H1FaultError(f"{path}: obs has shape {obs.shape}, expected [T, N, {OBS_DIM}]")
    check_obs_width(obs.shape[-1], path)
    t_alloc, n = obs.shape[0], obs.shape[1]
    for name in RAW_STEP_DATASETS:
        if f[name].shape != (t_alloc, n):
            raise H1FaultError(
                f"{path}: '{name}' has shape {f[name].shape}, expected {(t_alloc, n)} like obs"
            )
    written = int(f.attrs.get("num_steps_written", -1))
    if not 0 <= written <= t_alloc:
        raise H1FaultError(f"{path}: num_steps_written={written} outside 0..{t_alloc}")
    attrs = {}
    for key, value in f.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        elif isinstance(value, np.generic):
            value = value.item()
        attrs[key] = value
    return RawInfo(
        path=path,
        num_envs=n,
        num_steps=written,
        num_steps_planned=int(f.attrs.get("num_steps_planned", t_alloc)),
        complete=bool(f.attrs.get("complete", False)),
        obs_dtype=obs.dtype,
        joint_names=list(json_attr(f, "joint_names", path)),
        candidate_joints=[int(j) for j in json_attr(f, "candidate_joints", path)],
        fault_config=dict(json_attr(f, "fault_config", path, {})),
        control_dt=float(f.attrs.get("control_dt", 0.02)),
        derived_fault_state=bool(f.attrs.get("derived_fault_state", False)),
        attrs=attrs,
    )


def check_obs_width(width: int, path: Path) -> None:
    """One-line error unless observations are 88 wide."""
    if width != OBS_DIM:
        raise H1FaultError(
            f"{path}: obs width {width}, expected {OBS_DIM} "
            "(69 policy observations + 19 joint torques)"
        )


def check_dataset_layout(
    f: h5py.File,
    path: Path,
    required_fields: tuple[str, ...] = ("start", "length", "fault_joint", "onset", "env", "split"),
) -> int:
    """Validate a built dataset's layout (format, version, array shapes, episode fields).

    Shared by ``dataset stats`` and the discriminator's reader. Returns M, the sample count.
    """
    try:
        return _check_dataset_layout(f, path, required_fields)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise H1FaultError(
            f"cannot read {path} (corrupt HDF5 file?): {read_error_text(exc)}"
        ) from exc


def _check_dataset_layout(f: h5py.File, path: Path, required_fields: tuple[str, ...]) -> int:
    fmt = file_format(f)
    if fmt == RAW_FORMAT:
        raise H1FaultError(
            f"{path} is a raw collect file; build a dataset first "
            f"(h1fault dataset build {path} --out ds.h5)"
        )
    if fmt != DATASET_FORMAT:
        raise H1FaultError(f"{path} is not an h1fault dataset (format attr {fmt!r})")
    version = int(f.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise H1FaultError(
            f"{path}: dataset format_version {version} is not supported "
            f"(this h1fault reads {FORMAT_VERSION})"
        )
    for name in ("obs", "label", "saturated", "episodes"):
        if name not in f:
            raise H1FaultError(f"{path}: dataset '{name}' is missing")
    obs = f["obs"]
    if obs.ndim != 2:
        raise H1FaultError(f"{path}: obs has shape {obs.shape}, expected [M, {OBS_DIM}]")
    check_obs_width(obs.shape[1], path)
    check_obs_width(int(f.attrs.get("obs_dim", OBS_DIM)), path)
    m = obs.shape[0]
    for name in ("label", "saturated"):
        if f[name].shape != (m,):
            raise H1FaultError(f"{path}: '{name}' has shape {f[name].shape}, expected ({m},)")
    fields = f["episodes"].dtype.names or ()
    missing = [k for k in required_fields if k not in fields]
    if missing:
        raise H1FaultError(f"{path}: episodes table lacks fields {missing}")
    return m


def fill_episode_defaults(rows: np.ndarray) -> np.ndarray:
    """Upgrade an episodes table read from a file to :data:`EPISODE_DTYPE` (missing fields get
    neutral defaults), so older or hand-written datasets can be checked."""
    if rows.dtype == EPISODE_DTYPE:
        return rows
    out = np.zeros(len(rows), dtype=EPISODE_DTYPE)
    defaults = {"fault_joint": -1, "onset": -1, "first_saturation": -1, "scale": np.nan,
                "ended": True, "num_events": -1, "mismatches": -1}  # fmt: skip
    for name in EPISODE_DTYPE.names:
        if name in (rows.dtype.names or ()):
            out[name] = rows[name]
        elif name in defaults:
            out[name] = defaults[name]
    if "num_events" not in (rows.dtype.names or ()):
        out["num_events"] = (out["fault_joint"] >= 0).astype(np.int16)
    return out


def remove_if_exists(path: Path, force: bool) -> None:
    """Refuse to clobber ``path`` unless ``force``; with ``force`` delete it."""
    if path.is_dir():
        raise H1FaultError(f"--out {path} is a directory; give a file name")
    if path.exists():
        if not force:
            raise H1FaultError(f"{path} exists; pass --force to overwrite it")
        try:
            os.remove(path)
        except OSError as exc:
            raise H1FaultError(f"cannot replace {path}: {io_error_text(exc)}") from None
