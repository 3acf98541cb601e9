"""The raw-file writer: a background thread behind a bounded queue, so the sim never waits on disk.

The caller hands over batches of ``flush_steps`` steps (:class:`StepBatch`); the thread writes
them into preallocated, chunked datasets, appends the fault events, updates
``num_steps_written`` and flushes the file. Only :meth:`RawWriter.close` with
``complete=True`` sets the ``complete`` attr, so an interrupted run leaves a readable file that
build refuses unless ``--allow-partial``. h5py releases the GIL while it writes, so the thread
costs the simulation loop almost nothing; only a full queue (disk slower than the sim) blocks
:meth:`RawWriter.put`.

Every step dataset carries per-chunk fletcher32 checksums by default (``checksum``), so a byte
flipped on disk is a read error in build and stats instead of silently wrong data. Chunks are
then allocated as they are written: the chunk index, the events table and two attrs change
each batch. Each batch is flushed twice, data then counts, so a process killed at any moment
leaves the file readable up to its last count (tests/data/test_data_writer_kill.py replays
every write). One window is left: HDF5's chunk index is not copy-on-write, so a kill inside the
first flush of a batch that split an index node (every ~32 chunks per dataset once a dataset
holds 64) can leave older rows unreadable. Without checksums and compression the datasets are
allocated in full (sparse) up front, the index never changes and that window does not exist.

The raw-data chunk cache is off (``rdcc_nbytes=0``): a batch is one row of whole chunks, so
caching buys nothing, and a failed write (disk full) raises at the write instead of being lost
in a dataset's destructor. A write error stops the writer: the file keeps the attrs of the last
good flush, is never marked ``complete`` and stays readable as a partial file.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from h1fault.data.h5io import remove_if_exists
from h1fault.data.schema import (
    EVENT_DTYPE,
    FORMAT_VERSION,
    OBS_DIM,
    OBS_DTYPES,
    RAW_FORMAT,
    RAW_STEP_DATASETS,
    to_json,
)
from h1fault.errors import H1FaultError
from h1fault.fileio import io_error_text

COMPRESSIONS = ("none", "lzf", "gzip")


@dataclass(frozen=True)
class WriterConfig:
    """How ``collect`` stores the raw file."""

    dtype: str = "float32"
    """Stored observation dtype: ``float32`` or ``float16``."""
    compression: str = "none"
    """Chunk compression: ``none`` (fastest, kill-safe), ``lzf`` or ``gzip`` (level 4)."""
    flush_steps: int = 32
    """Steps per batch handed to the writer; one flush and one chunk row along T per batch."""
    env_block: int = 256
    """Envs per chunk along N (``dataset build`` reads one env block at a time)."""
    queue_batches: int = 4
    """Batches that may wait for the writer before the simulation blocks (bounded queue)."""
    checksum: bool = True
    """Per-chunk fletcher32 checksums on the step datasets (corruption is a read error)."""

    def validate(self) -> None:
        """One-line error for impossible settings."""
        if self.dtype not in OBS_DTYPES:
            raise H1FaultError(f"--dtype must be one of {', '.join(OBS_DTYPES)}, got {self.dtype}")
        if self.compression not in COMPRESSIONS:
            raise H1FaultError(
                f"--compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression}"
            )
        if self.flush_steps < 1 or self.env_block < 1 or self.queue_batches < 1:
            raise H1FaultError("flush_steps, env_block and queue_batches must be >= 1")


@dataclass
class StepBatch:
    """Consecutive steps ``t0 .. t0+k-1`` of the whole vector env, host-side.

    Arrays may be numpy arrays or CPU torch tensors; ``ready`` (if set) blocks until pending
    device-to-host copies into them have finished and is called on the writer thread.
    """

    t0: int
    """Row of the first step in the file."""
    obs: Any
    """(k, N, 88) observations in the stored dtype."""
    flags: dict[str, Any]
    """Name -> (k, N) per-step array, one per :data:`RAW_STEP_DATASETS` entry."""
    events: dict[str, Any] = field(default_factory=dict)
    """Field -> (E,) array, fields of :data:`EVENT_DTYPE`; may be empty."""
    onset: Any = None
    """(k, N) bool: the env's fault took effect in this step. If given, the writer derives the
    events of these rows from it and the flags (no per-step host sync in the simulation)."""
    nominal_limits: Any = None
    """(19,) nominal torque limits (N·m), to recover an onset's ``scale`` from its limit."""
    ready: Callable[[], None] | None = None
    """Wait for the copies into the arrays above (a CUDA event's synchronize)."""


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "numpy"):
        return x.numpy()
    return np.asarray(x)


def _len(x: Any) -> int:
    return int(x.shape[0])


def onset_rows(
    t0: int, onset: np.ndarray, flags: dict[str, np.ndarray], nominal: np.ndarray | None
) -> np.ndarray:
    """Events from a dense (k, N) onset mask and the per-step flags of the same rows.

    The joint and limit are the flags of the onset row (the cut is active from that row on);
    ``scale = limit / nominal[joint]`` (float32 round-off of the drawn scale).
    """
    kk, nn = np.nonzero(onset)
    rows = np.zeros(len(kk), dtype=EVENT_DTYPE)
    if not len(kk):
        return rows
    joint = flags["fault_joint"][kk, nn].astype(np.int64)
    limit = flags["torque_limit"][kk, nn].astype(np.float32)
    rows["env"] = nn
    rows["episode"] = flags["episode"][kk, nn]
    rows["step_in_episode"] = flags["step_in_episode"][kk, nn]
    rows["global_step"] = t0 + kk
    rows["joint"] = joint
    rows["limit"] = limit
    if nominal is not None:
        rows["scale"] = limit / np.asarray(nominal, np.float32)[np.clip(joint, 0, None)]
    else:
        rows["scale"] = np.nan
    return rows


def events_to_rows(events: dict[str, Any]) -> np.ndarray:
    """Field -> (E,) arrays into an (E,) :data:`EVENT_DTYPE` record array."""
    if not events:
        return np.zeros(0, dtype=EVENT_DTYPE)
    cols = {k: _as_numpy(v) for k, v in events.items()}
    n = len(cols["env"])
    rows = np.zeros(n, dtype=EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        rows[name] = cols[name]
    return rows


class RawWriter:
    """Writes a raw collect file from batches on a background thread (see module docstring).

    Use as a context manager or call :meth:`close`. Errors of the writer thread (disk full)
    surface as :class:`H1FaultError` from the next :meth:`put` or from :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        num_envs: int,
        num_steps: int,
        attrs: dict[str, Any],
        cfg: WriterConfig | None = None,
        force: bool = False,
    ) -> None:
        self.cfg = cfg = cfg or WriterConfig()
        cfg.validate()
        self.path = Path(path)
        self.num_envs = num_envs
        self.num_steps = num_steps
        if num_envs < 1 or num_steps < 1:
            raise H1FaultError("need at least one env and one step")
        if not self.path.parent.exists():
            raise H1FaultError(f"output folder {self.path.parent} does not exist")
        remove_if_exists(self.path, force)
        try:
            self._file = open_for_write(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # HDF5 may leave an empty file behind
                self.path.unlink()
            raise H1FaultError(f"cannot create {self.path}: {io_error_text(exc)}") from None
        try:
            self._create(attrs)
        except Exception as exc:  # noqa: BLE001 - disk full while laying out the file
            _close_quietly(self._file)
            with contextlib.suppress(OSError):  # a half-made file would only block the next run
                self.path.unlink()
            raise H1FaultError(f"cannot create {self.path}: {io_error_text(exc)}") from exc
        self.steps_written = 0
        """Steps written and flushed so far."""
        self.bytes_written = 0
        """Bytes of array data handed to HDF5 so far."""
        self.queued_steps = 0
        """Steps handed to the writer thread so far (queued or written)."""
        self.wait_s = 0.0
        """Seconds the caller spent blocked in :meth:`put` (the queue was full)."""
        self.write_s = 0.0
        """Seconds the writer thread spent writing and flushing."""
        self.events_written = 0
        """Event rows written and flushed so far."""
        self._error: BaseException | None = None
        self._queue: queue.Queue[StepBatch | None] = queue.Queue(maxsize=cfg.queue_batches)
        self._thread = threading.Thread(target=self._run, name="h1fault-raw-writer", daemon=True)
        self._closed = False
        self._thread.start()

    # -- file layout ---------------------------------------------------------------------------
    def _create(self, attrs: dict[str, Any]) -> None:
        cfg, f = self.cfg, self._file
        t, n = self.num_steps, self.num_envs
        ct, cn = min(cfg.flush_steps, t), min(cfg.env_block, n)
        obs = f.create_dataset("obs", shape=(t, n, OBS_DIM), dtype=cfg.dtype,
                               chunks=(ct, cn, OBS_DIM), **_storage(cfg))  # fmt: skip
        self._dsets = {"obs": obs}
        for name, dtype in RAW_STEP_DATASETS.items():
            self._dsets[name] = f.create_dataset(name, shape=(t, n), dtype=dtype, chunks=(ct, cn),
                                                 **_storage(cfg))  # fmt: skip
        self._events = f.create_dataset("events", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE,
                                        chunks=(1024,))  # fmt: skip
        f.attrs["format"] = RAW_FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["num_envs"] = n
        f.attrs["num_steps_planned"] = t
        f.attrs["num_steps_written"] = np.int64(0)
        f.attrs["num_events_written"] = np.int64(0)
        f.attrs["obs_dim"] = OBS_DIM
        f.attrs["obs_dtype"] = cfg.dtype
        f.attrs["compression"] = cfg.compression
        f.attrs["flush_steps"] = cfg.flush_steps
        f.attrs["checksum"] = "fletcher32" if cfg.checksum else "none"
        for key, value in attrs.items():
            f.attrs[key] = _attr_value(value)
        f.flush()

    # -- producer side ---------------------------------------------------------------------------
    def put(self, batch: StepBatch) -> None:
        """Queue a batch; blocks only while ``queue_batches`` batches are already waiting."""
        if self._closed:
            raise H1FaultError("writer is closed")
        t0 = time.perf_counter()
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(batch, timeout=0.5)
                self.queued_steps = batch.t0 + _len(batch.obs)
                break
            except queue.Full:
                continue
        self.wait_s += time.perf_counter() - t0

    def close(self, complete: bool) -> None:
        """Write what is queued, then close the file; set ``complete`` only if asked and the
        whole planned run was written."""
        if self._closed:
            return
        self._closed = True
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is None and complete and self.steps_written != self.num_steps:
            _close_quietly(self._file)
            raise H1FaultError(
                f"{self.path}: only {self.steps_written} of {self.num_steps} steps written; "
                "not marked complete"
            )
        if self._error is None and complete:
            try:
                # every batch is flushed by now; only this attr (written last) makes it complete
                self._file.attrs["complete"] = True
                self._file.flush()
            except Exception as exc:  # noqa: BLE001 - disk full on the last metadata write
                self._error = exc
                with contextlib.suppress(Exception):  # best effort after a write error
                    del self._file.attrs["complete"]
        if self._error is not None:
            self._restore_attrs()
            _close_quietly(self._file)
        else:
            try:
                self._file.close()
            except Exception as exc:  # noqa: BLE001
                self._error = exc
        self._raise_if_failed()

    def __enter__(self) -> RawWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._closed:
            self.close(complete=False)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err = self._error
            raise H1FaultError(
                f"writing {self.path} failed: {io_error_text(err)}; it holds the "
                f"{self.steps_written} steps flushed before, without the 'complete' flag "
                "(build it with --allow-partial)"
            ) from err

    def _restore_attrs(self) -> None:
        """After a failed write: put back the counts of the last good flush (a later metadata
        flush, e.g. at close, must not claim rows that never reached the disk)."""
        with contextlib.suppress(Exception):  # best effort after a write error
            self._file.attrs.modify("num_steps_written", np.int64(self.steps_written))
            self._file.attrs.modify("num_events_written", np.int64(self.events_written))

    # -- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._error is not None:
                continue  # drain so the producer never blocks forever
            try:
                self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - reported to the producer
                self._error = exc

    def _write(self, batch: StepBatch) -> None:
        start = time.perf_counter()
        if batch.ready is not None:
            batch.ready()
        f = self._file
        obs = _as_numpy(batch.obs)
        k = obs.shape[0]
        t0 = batch.t0
        if t0 != self.steps_written:
            raise RuntimeError(f"batch starts at step {t0}, expected {self.steps_written}")
        if t0 + k > self.num_steps:
            raise RuntimeError(f"batch ends at step {t0 + k} > planned {self.num_steps}")
        d = self._dsets
        d["obs"][t0 : t0 + k] = obs
        nbytes = obs.nbytes
        flags = {}
        for name in RAW_STEP_DATASETS:
            arr = flags[name] = _as_numpy(batch.flags[name])
            d[name][t0 : t0 + k] = arr
            nbytes += arr.nbytes
        rows = events_to_rows(batch.events)
        if batch.onset is not None:
            nominal = None if batch.nominal_limits is None else _as_numpy(batch.nominal_limits)
            dense = onset_rows(t0, _as_numpy(batch.onset), flags, nominal)
            rows = np.concatenate([rows, dense]) if len(rows) else dense
        e1 = self.events_written + len(rows)
        if len(rows):
            ev = self._events
            ev.resize((e1,))
            ev[self.events_written :] = rows
            nbytes += rows.nbytes
        # Two flushes, so a kill at any moment leaves a readable file: HDF5 writes the superblock
        # (end of allocated space) after the chunk index, and an index flushed without it points
        # past the file's end. The first flush commits the new chunks while the counts still
        # say "not written"; the second changes only the counts, in place.
        f.flush()
        f.attrs.modify("num_events_written", np.int64(e1))
        f.attrs.modify("num_steps_written", np.int64(t0 + k))
        f.flush()
        self.steps_written, self.events_written = t0 + k, e1
        self.bytes_written += nbytes
        self.write_s += time.perf_counter() - start


def open_for_write(path: Path) -> h5py.File:
    """Create the raw file (tests replace this to simulate a full disk)."""
    return h5py.File(path, "w", rdcc_nbytes=0)


def _storage(cfg: WriterConfig) -> dict[str, Any]:
    """create_dataset keywords of a step dataset: filters, or full early allocation."""
    if cfg.compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True,
                "fletcher32": cfg.checksum}  # fmt: skip
    if cfg.compression == "lzf":
        return {"compression": "lzf", "shuffle": True, "fletcher32": cfg.checksum}
    if cfg.checksum:  # filtered chunks are allocated as written (early would write them all)
        return {"fletcher32": True}
    # allocate everything now (sparse): later writes never touch metadata (kill-safe)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return {"dcpl": dcpl, "fill_time": "never"}


def _close_quietly(f: h5py.File) -> None:
    """Close after a write error; its final metadata flush may fail again (disk still full)."""
    with contextlib.suppress(Exception):  # best effort after a write error
        f.close()


def _attr_value(value: Any) -> Any:
    """Attr-storable form: JSON text for containers and None, plain values otherwise."""
    if isinstance(value, dict | list | tuple) or value is None:
        return to_json(value)
    return value
