"""``dataset import``: the legacy Isaac Lab logs -> a raw file that build and stats accept.

Inputs (see ``docs/data_format.md``, "Legacy Isaac Lab logs"):

- ``discriminator_obs.dat``: raw little-endian float32, ``obs_dim`` floats per row, one row per
  env per step, step-major (row ``t * envs + n``). No header.
- ``joint_torque_event_log.dat``: one row per fault event: ``step, env, joint[, scale]``, where
  ``step`` is the global env step (the row group of the obs file), as text (whitespace, comma
  or semicolon separated, optional header naming the columns, ``#`` comments) or as binary
  records (float32, float64, int32 or int64 columns, or int32/int64 triples plus a float scale).
  The layout is detected: every candidate layout that fits the file size is decoded and kept
  only if it is plausible (integral steps in time order, env and joint in range, scale in
  [0, 1]); exactly one distinct decoding must survive, else ``--events-layout`` must say.

The legacy logger recorded no resets, so episodes are fixed windows of ``episode_steps`` steps
per env (time-outs), and the per-step fault state is *derived* from the events (a joint is cut
from its event to the end of that window); the file is marked ``derived_fault_state`` so
``stats`` does not pretend to cross-check it. Saturation and torque limits were not logged
(false / NaN). With ``joint_order="isaaclab"`` joint indices and the four 19-wide joint blocks
of the observation (positions, velocities, last actions, torques) are reordered to model order.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from h1fault.data.h5io import remove_if_exists
from h1fault.data.schema import OBS_DIM, RAW_STEP_DATASETS
from h1fault.data.writer import RawWriter, StepBatch, WriterConfig
from h1fault.errors import H1FaultError
from h1fault.provenance import package_versions
from h1fault.sim.model import (
    DEFAULT_FAULT_CANDIDATES,
    ISAACLAB_JOINT_NAMES,
    ISAACLAB_TO_MODEL,
    JOINT_NAMES,
    MODEL_TO_ISAACLAB,
    NUM_JOINTS,
    joint_index,
)
from h1fault.validate import number_in

JOINT_BLOCKS = (12, 31, 50, 69)
"""First column of the 19-wide joint blocks of the 88-dim observation (pos, vel, action, torque)."""

BINARY_LAYOUTS: dict[str, np.dtype] = {
    "f4x3": np.dtype([("step", "<f4"), ("env", "<f4"), ("joint", "<f4")]),
    "f4x4": np.dtype([("step", "<f4"), ("env", "<f4"), ("joint", "<f4"), ("scale", "<f4")]),
    "f8x3": np.dtype([("step", "<f8"), ("env", "<f8"), ("joint", "<f8")]),
    "f8x4": np.dtype([("step", "<f8"), ("env", "<f8"), ("joint", "<f8"), ("scale", "<f8")]),
    "i4x3": np.dtype([("step", "<i4"), ("env", "<i4"), ("joint", "<i4")]),
    "i8x3": np.dtype([("step", "<i8"), ("env", "<i8"), ("joint", "<i8")]),
    "i4x3+f4": np.dtype([("step", "<i4"), ("env", "<i4"), ("joint", "<i4"), ("scale", "<f4")]),
    "i8x3+f8": np.dtype([("step", "<i8"), ("env", "<i8"), ("joint", "<i8"), ("scale", "<f8")]),
}
"""Binary event record layouts: ``<type><bytes>x<columns>`` (little-endian)."""
EVENT_LAYOUTS = ("auto", "text", *BINARY_LAYOUTS)
_HEADER_NAMES = {
    "step": "step", "global_step": "step", "timestep": "step", "t": "step", "env": "env",
    "env_id": "env", "env_idx": "env", "joint": "joint", "joint_id": "joint", "joint_idx": "joint",
    "scale": "scale", "torque_scale": "scale",
}  # fmt: skip


@dataclass(frozen=True)
class ImportConfig:
    """How ``dataset import`` reads the legacy Isaac Lab logs."""

    num_envs: int = 1
    """Envs logged per step (rows per step in the obs file)."""
    obs_dim: int = OBS_DIM
    """Floats per row of the obs file; must be 88 to build a dataset."""
    joint_order: str = "isaaclab"
    """Order of the logs' joint indices and obs joint columns: ``isaaclab`` or ``model``."""
    episode_steps: int = 1000
    """Steps per episode (no resets were logged): Isaac Lab H1 flat, 20 s at 50 Hz."""
    events_layout: str = "auto"
    """Event file layout: ``auto``, ``text`` or one of :data:`BINARY_LAYOUTS`."""
    control_dt: float = 0.02
    """Seconds per step."""
    p_fault: float | None = None
    """Fault probability per episode of the legacy run, if known (enables the fault-rate check)."""
    onset_window_s: tuple[float, float] | None = None
    """Onset window (s) of the legacy run, if known."""
    scale_range: tuple[float, float] | None = None
    """Kept-torque range of the legacy run, if known."""

    def validate(self) -> None:
        """One-line error for impossible settings."""
        if self.num_envs < 1:
            raise H1FaultError("--envs must be >= 1")
        if self.obs_dim < 1:
            raise H1FaultError("--obs-dim must be >= 1")
        if self.joint_order not in ("isaaclab", "model"):
            raise H1FaultError(f"--joint-order must be isaaclab or model, got {self.joint_order}")
        if self.episode_steps < 1:
            raise H1FaultError("--episode-steps must be >= 1")
        if self.events_layout not in EVENT_LAYOUTS:
            raise H1FaultError(
                f"--events-layout must be one of {', '.join(EVENT_LAYOUTS)}, "
                f"got {self.events_layout}"
            )
        number_in("--control-dt", self.control_dt, 0.0, lo_open=True)
        if self.p_fault is not None:
            number_in("--p-fault", self.p_fault, 0.0, 1.0)
        for name, pair, hi in (("--onset-window", self.onset_window_s, math.inf),
                               ("--scale-range", self.scale_range, 1.0)):  # fmt: skip
            if pair is not None:
                lo_v = number_in(name, pair[0], 0.0, hi)
                if number_in(name, pair[1], 0.0, hi) < lo_v:
                    raise H1FaultError(f"{name} must be low,high with low <= high, got {pair}")


@dataclass(frozen=True)
class LegacyEvents:
    """Decoded legacy events (joint indices still in the log's order)."""

    step: np.ndarray
    """(E,) int64 global step."""
    env: np.ndarray
    """(E,) int64."""
    joint: np.ndarray
    """(E,) int64."""
    scale: np.ndarray | None
    """(E,) float32 kept fraction, or None when the log has no scale column."""
    layout: str
    """Layout used."""


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    path: Path
    """The raw file."""
    num_envs: int
    """N."""
    num_steps: int
    """T."""
    num_events: int
    """Events written."""
    events_ignored: int
    """Events past the end of the obs log."""
    layout: str
    """Event layout used."""
    joint_order: str
    """Joint order of the logs."""


# -- event file ----------------------------------------------------------------------------------


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def read_legacy_events(path: Path, num_envs: int, layout: str = "auto") -> LegacyEvents:
    """Decode a ``joint_torque_event_log.dat`` (layouts: module docstring)."""
    if not path.exists():
        raise H1FaultError(f"file not found: {path}")
    data = path.read_bytes()
    if not data.strip():
        empty = np.zeros(0, np.int64)
        return LegacyEvents(empty, empty, empty, None, "empty")
    if layout == "text" or (layout == "auto" and _looks_like_text(data[:4096])):
        return _read_text_events(path, data, num_envs)
    names = list(BINARY_LAYOUTS) if layout == "auto" else [layout]
    decoded: dict[str, LegacyEvents] = {}
    reasons: dict[str, str] = {}
    for name in names:
        dt = BINARY_LAYOUTS[name]
        if len(data) % dt.itemsize:
            reasons[name] = f"{len(data)} bytes is not a multiple of {dt.itemsize}"
            continue
        rec = np.frombuffer(data, dtype=dt)
        why = _implausible(rec, num_envs)
        if why:
            reasons[name] = why
            continue
        scale = rec["scale"].astype(np.float32) if "scale" in dt.names else None
        decoded[name] = LegacyEvents(rec["step"].astype(np.int64), rec["env"].astype(np.int64),
                                     rec["joint"].astype(np.int64), scale, name)  # fmt: skip
    if not decoded:
        detail = "; ".join(f"{k}: {v}" for k, v in reasons.items())
        raise H1FaultError(
            f"{path}: cannot decode the event log as {'any known layout' if layout == 'auto' else layout} "  # noqa: E501
            f"of rows step, env, joint[, scale] ({detail})"
        )
    distinct: dict[tuple, LegacyEvents] = {}
    for ev in decoded.values():
        key = (ev.step.tobytes(), ev.env.tobytes(), ev.joint.tobytes(),
               None if ev.scale is None else ev.scale.round(6).tobytes())  # fmt: skip
        distinct.setdefault(key, ev)
    if len(distinct) > 1:
        raise H1FaultError(
            f"{path}: the event log fits several layouts ({', '.join(decoded)}); "
            "pass --events-layout to say which"
        )
    return next(iter(distinct.values()))


def _implausible(rec: np.ndarray, num_envs: int) -> str:
    """Why these decoded records cannot be an event log ("" if they can)."""
    cols = {k: rec[k].astype(np.float64) for k in ("step", "env", "joint")}
    for k, v in cols.items():
        if not np.isfinite(v).all() or (v != np.round(v)).any():
            return f"{k} values are not integers"
    if (cols["step"] < 0).any() or (cols["step"] > 1e10).any():
        return "step values out of range"
    if (np.diff(cols["step"]) < 0).any():
        return "steps are not in time order"
    if (cols["env"] < 0).any() or (cols["env"] >= num_envs).any():
        return f"env values outside 0..{num_envs - 1}"
    if (cols["joint"] < 0).any() or (cols["joint"] >= NUM_JOINTS).any():
        return f"joint values outside 0..{NUM_JOINTS - 1}"
    if "scale" in rec.dtype.names:
        sc = rec["scale"].astype(np.float64)
        if not np.isfinite(sc).all() or (sc < 0).any() or (sc > 1).any():
            return "scale values outside [0, 1]"
    return ""


def _read_text_events(path: Path, data: bytes, num_envs: int) -> LegacyEvents:
    rows: list[list[float]] = []
    columns = ["step", "env", "joint", "scale"]
    ncol = None
    for lineno, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = [t for t in re.split(r"[,;\s]+", line) if t]
        if not rows and ncol is None and any(re.search(r"[a-df-zA-DF-Z_]", t) for t in tokens):
            mapped = [_HEADER_NAMES.get(t.lower()) for t in tokens]
            if None in mapped or not {"step", "env", "joint"} <= set(mapped):
                raise H1FaultError(
                    f"{path}:{lineno}: header {tokens} must name step, env, joint[, scale]"
                )
            columns, ncol = mapped, len(mapped)
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise H1FaultError(f"{path}:{lineno}: not a number in {line!r}") from None
        if ncol is None:
            ncol = len(values)
            if ncol not in (3, 4):
                raise H1FaultError(
                    f"{path}:{lineno}: {ncol} columns; expected 3 (step env joint) or "
                    "4 (step env joint scale)"
                )
        elif len(values) != ncol:
            raise H1FaultError(f"{path}:{lineno}: {len(values)} columns, expected {ncol}")
        rows.append(values)
    if not rows:
        empty = np.zeros(0, np.int64)
        return LegacyEvents(empty, empty, empty, None, "text")
    arr = np.asarray(rows, np.float64)
    names = columns[: arr.shape[1]]
    rec = np.zeros(len(arr), dtype=[(n, "<f8") for n in names])
    for i, n in enumerate(names):
        rec[n] = arr[:, i]
    why = _implausible(rec, num_envs)
    if why:
        raise H1FaultError(f"{path}: text event log is not step, env, joint[, scale]: {why}")
    scale = rec["scale"].astype(np.float32) if "scale" in names else None
    return LegacyEvents(rec["step"].astype(np.int64), rec["env"].astype(np.int64),
                        rec["joint"].astype(np.int64), scale, "text")  # fmt: skip


# -- the import -----------------------------------------------------------------------------------


def obs_permutation(joint_order: str) -> np.ndarray:
    """(88,) column order turning a logged observation into model joint order."""
    perm = np.arange(OBS_DIM)
    if joint_order == "isaaclab":
        for b in JOINT_BLOCKS:
            perm[b : b + NUM_JOINTS] = b + MODEL_TO_ISAACLAB
    return perm


def import_legacy(
    obs_path: str | Path,
    events_path: str | Path,
    out: str | Path,
    cfg: ImportConfig | None = None,
    force: bool = False,
    progress: bool = False,
) -> ImportResult:
    """Convert a legacy obs/event log pair into a raw file (see module docstring)."""
    cfg = cfg or ImportConfig()
    cfg.validate()
    obs_path, events_path, out = Path(obs_path), Path(events_path), Path(out)
    if not obs_path.exists():
        raise H1FaultError(f"file not found: {obs_path}")
    if obs_path.is_dir():
        raise H1FaultError(f"{obs_path} is a directory, expected discriminator_obs.dat")
    if cfg.obs_dim != OBS_DIM:
        raise H1FaultError(
            f"--obs-dim {cfg.obs_dim}: h1fault datasets need {OBS_DIM}-wide discriminator "
            "observations (69 policy obs + 19 joint torques)"
        )
    row_bytes = 4 * cfg.obs_dim
    size = obs_path.stat().st_size
    if size == 0:
        raise H1FaultError(f"{obs_path} is empty")
    if size % row_bytes:
        raise H1FaultError(
            f"{obs_path}: {size:,} bytes is not a whole number of float32 rows of {cfg.obs_dim} "
            f"({row_bytes} bytes); check --obs-dim"
        )
    rows = size // row_bytes
    if rows % cfg.num_envs:
        raise H1FaultError(f"{obs_path}: {rows:,} rows is not a multiple of --envs {cfg.num_envs}")
    n, t_total = cfg.num_envs, rows // cfg.num_envs
    if out.exists() and not force:
        remove_if_exists(out, force)
    ev = read_legacy_events(events_path, n, cfg.events_layout)
    inside = ev.step < t_total
    ignored = int((~inside).sum())
    step, env, joint = ev.step[inside], ev.env[inside], ev.joint[inside]
    scale = ev.scale[inside] if ev.scale is not None else None
    if cfg.joint_order == "isaaclab":
        joint = ISAACLAB_TO_MODEL[joint]
    order = np.lexsort((step, env))  # stable per env, by time
    big_l = cfg.episode_steps
    events = {
        "env": env, "episode": step // big_l, "step_in_episode": step % big_l,
        "global_step": step, "joint": joint,
        "scale": scale if scale is not None else np.full(len(step), np.nan, np.float32),
        "limit": np.full(len(step), np.nan, np.float32),
    }  # fmt: skip
    events = {k: v[order] for k, v in events.items()}
    by_step = np.argsort(events["global_step"], kind="stable")
    events = {k: v[by_step] for k, v in events.items()}
    perm = obs_permutation(cfg.joint_order)
    mm = np.memmap(obs_path, dtype="<f4", mode="r", shape=(t_total, n, cfg.obs_dim))
    wcfg = WriterConfig(flush_steps=max(1, min(t_total, (8 << 20) // (n * row_bytes))))
    writer = RawWriter(out, n, t_total, _attrs(cfg, obs_path, events_path, ev.layout), wcfg,
                       force=force)  # fmt: skip
    carry = np.full(n, -1, np.int16)
    try:
        from h1fault.console import byte_progress

        with byte_progress("import", size, progress) as advance:
            for b0 in range(0, t_total, wcfg.flush_steps):
                b1 = min(b0 + wcfg.flush_steps, t_total)
                obs = np.ascontiguousarray(mm[b0:b1][:, :, perm])
                sel = (events["global_step"] >= b0) & (events["global_step"] < b1)
                batch_ev = {k: v[sel] for k, v in events.items()}
                flags, carry = _derived_flags(b0, b1, n, big_l, batch_ev, carry)
                writer.put(StepBatch(b0, obs, flags, batch_ev))
                advance(obs.nbytes)
    except BaseException:
        writer.close(complete=False)
        raise
    writer.close(complete=True)
    return ImportResult(out, n, t_total, int(inside.sum()), ignored, ev.layout, cfg.joint_order)


def _derived_flags(
    b0: int, b1: int, n: int, big_l: int, events: dict[str, np.ndarray], carry: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-step flags of steps [b0, b1): fixed-length episodes, a joint cut from its event to the
    end of the episode (the latest event wins). Returns the flags and the carried cut state."""
    k = b1 - b0
    t = np.arange(b0, b1, dtype=np.int64)
    src = np.full((k + 1, n), -1, np.int16)
    mark = np.zeros((k + 1, n), bool)
    src[0], mark[0] = carry, True
    mark[1:][t % big_l == 0] = True  # episode starts: cut restored
    r = events["global_step"] - b0 + 1
    src[r, events["env"]] = events["joint"]
    mark[r, events["env"]] = True
    last = np.maximum.accumulate(np.where(mark, np.arange(k + 1)[:, None], 0), axis=0)
    joint = np.take_along_axis(src, last, axis=0)[1:]
    done = np.repeat(((t + 1) % big_l == 0)[:, None], n, axis=1)
    flags = {
        "done": done, "terminated": np.zeros((k, n), bool), "truncated": done,
        "fault_joint": joint.astype(np.int8), "saturated": np.zeros((k, n), bool),
        "episode": np.repeat((t // big_l)[:, None], n, axis=1).astype(np.int32),
        "step_in_episode": np.repeat((t % big_l)[:, None], n, axis=1).astype(np.int32),
        "torque_limit": np.full((k, n), np.nan, np.float32),
    }  # fmt: skip
    assert set(flags) == set(RAW_STEP_DATASETS)
    return flags, joint[-1].copy()


def _attrs(cfg: ImportConfig, obs_path: Path, events_path: Path, layout: str) -> dict:
    cands = [joint_index(j) for j in DEFAULT_FAULT_CANDIDATES]
    return {
        "joint_names": list(JOINT_NAMES),
        "isaaclab_joint_names": list(ISAACLAB_JOINT_NAMES),
        "candidate_joints": cands,
        "fault_config": {
            "enabled": True,
            "p_fault": cfg.p_fault,
            "onset_window_s": list(cfg.onset_window_s) if cfg.onset_window_s else None,
            "scale_range": list(cfg.scale_range) if cfg.scale_range else None,
            "candidates": [JOINT_NAMES[j] for j in cands],
            "candidate_indices": cands,
            "source": "isaaclab-legacy",
        },  # fmt: skip
        "env_config": {"source": "isaaclab-legacy", "episode_steps": cfg.episode_steps},
        "control_dt": cfg.control_dt,
        "max_episode_steps": cfg.episode_steps,
        "seed": -1,
        "policy_checkpoint": "",
        "policy_sha256": "",
        "derived_fault_state": True,
        "saturation_known": False,
        "legacy": {
            "obs_file": str(obs_path),
            "events_file": str(events_path),
            "joint_order": cfg.joint_order,
            "events_layout": layout,
            "episode_steps": cfg.episode_steps,
        },  # fmt: skip
        "versions": package_versions(),
    }
