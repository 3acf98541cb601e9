"""``dataset build``: raw collect files -> one flat, labelled, split training set.

Pass 1 (:func:`~h1fault.data.scan.scan_raw`) reads only the per-step flags and produces the
episode table with labels and the cross-check. Splits are drawn per episode, stratified by fault
joint. Pass 2 streams the observations in tiles of ``[steps, env block]`` (aligned with the raw
file's chunks), transposes each tile to env-major order - so every env's step stream, and hence
every episode, becomes contiguous - and writes obs, label and saturated to the output. The
normalisation statistics of the training split are accumulated on the way (shifted sums in
float64), and a non-finite observation stops the build with a one-line error. Memory is bounded
by the tile budget; the output is written to a temporary file and renamed at the end.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from h1fault.console import byte_progress
from h1fault.data.h5io import (
    RawInfo,
    is_checksum_error,
    open_h5,
    read_error_text,
    read_raw_info,
)
from h1fault.data.scan import CATEGORIES, FLAG_BYTES, RawScan, scan_raw
from h1fault.data.schema import (
    DATASET_FORMAT,
    FORMAT_VERSION,
    OBS_DIM,
    SPLIT_NAMES,
    to_json,
)
from h1fault.errors import H1FaultError
from h1fault.fileio import check_output_file, io_error_text, stale_temp_files, temp_path

_SUB_ROWS = 8192
"""Rows per BLAS call when accumulating statistics (float32 partial sums stay accurate)."""
STD_FLOOR = 1e-6
"""A column whose train std is below this is stored with std 1 (it normalises to 0)."""


@dataclass(frozen=True)
class BuildConfig:
    """How ``dataset build`` turns raw files into a training set."""

    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Train, val, test shares of the episodes (per fault joint)."""
    seed: int = 0
    """Seed of the episode split."""
    allow_partial: bool = False
    """Accept interrupted raw files, dropping the unfinished episode of each env."""
    tile_mb: int = 128
    """Obs read per tile (MB); peak memory is about three tiles plus the episode table."""

    def validate(self) -> None:
        """One-line error for impossible settings."""
        f = self.split_fractions
        finite = len(f) == 3 and all(math.isfinite(x) for x in f)
        if not finite or min(f) < 0 or abs(sum(f) - 1.0) > 1e-6 or f[0] <= 0:
            raise H1FaultError(
                f"split fractions must be three shares >= 0 summing to 1 with train > 0, got {f}"
            )
        if self.tile_mb < 1:
            raise H1FaultError("tile_mb must be >= 1")


@dataclass
class BuildResult:
    """What a build wrote."""

    path: Path
    """The dataset."""
    num_samples: int
    """M."""
    num_episodes: int
    """K."""
    split_episodes: dict[str, int]
    """Episodes per split."""
    split_samples: dict[str, int]
    """Samples per split."""
    raw_obs_bytes: int
    """Raw observation bytes read in pass 2."""
    seconds: float
    """Wall time."""
    crosscheck: dict[str, int]
    """Cross-check totals over all sources (see :data:`~h1fault.data.scan.CATEGORIES`)."""
    dropped_episodes: int = 0
    """Unfinished episodes dropped (``--allow-partial``)."""
    warnings: list[str] = field(default_factory=list)
    """Problems the stats checks will fail on (the build itself went through)."""
    notes: list[str] = field(default_factory=list)
    """Housekeeping done on the way (stale temporary files of a killed build removed)."""

    @property
    def mb_per_s(self) -> float:
        """Raw observation MB processed per second."""
        return self.raw_obs_bytes / 1e6 / max(self.seconds, 1e-9)


def assign_splits(
    fault_joint: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Split episodes train/val/test, stratified by fault joint (``-1`` is its own stratum).

    Within each stratum the episodes are shuffled and laid on [0, 1) with a random offset, so
    every stratum gets its shares to within one episode and rounding favours no split.
    fault_joint: (K,) int. Returns (K,) int8 codes 0 train, 1 val, 2 test.
    """
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(np.asarray(fractions, np.float64))
    bounds /= bounds[-1]
    out = np.zeros(len(fault_joint), np.int8)
    for value in np.unique(fault_joint):
        idx = np.flatnonzero(fault_joint == value)
        idx = idx[rng.permutation(len(idx))]
        u = (np.arange(len(idx)) + rng.random()) / len(idx)
        out[idx] = np.minimum(np.searchsorted(bounds, u, side="right"), 2)
    return out


def _check_compatible(infos: list[RawInfo]) -> None:
    ref = infos[0]
    for info in infos[1:]:
        for name in ("joint_names", "candidate_joints", "fault_config", "control_dt"):
            if getattr(info, name) != getattr(ref, name):
                raise H1FaultError(
                    f"{info.path} and {ref.path} disagree on {name}; build them separately"
                )


def env_id_offset(info: RawInfo) -> int:
    """Global id of the file's env 0: ``rank * envs per rank`` for a torchrun shard, else 0."""
    return int(info.attrs.get("env_id_offset", 0))


def check_shards(infos: list[RawInfo]) -> None:
    """The shards of one torchrun collect run (same ``dist_run_id``) are all there, once each."""
    runs: dict[str, dict[int, RawInfo]] = {}
    for info in infos:
        run = info.attrs.get("dist_run_id")
        if run is None:
            continue
        rank, world = int(info.attrs.get("rank", -1)), int(info.attrs.get("world_size", 0))
        have = runs.setdefault(str(run), {})
        if rank in have:
            raise H1FaultError(f"{info.path} and {have[rank].path} are both rank {rank} of the "
                               f"same collect run; give each shard once")  # fmt: skip
        if not 0 <= rank < world:
            raise H1FaultError(f"{info.path}: shard attrs rank={rank} world_size={world} are "
                               "inconsistent")  # fmt: skip
        have[rank] = info
    for have in runs.values():
        ref = next(iter(have.values()))
        world = int(ref.attrs["world_size"])
        missing = sorted(set(range(world)) - set(have))
        if missing:
            raise H1FaultError(
                f"{ref.path} is one of {world} shards of a torchrun collect run, but rank"
                f"{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} "
                f"{'are' if len(missing) > 1 else 'is'} not given (e.g. raw.rank*.h5 for all)"
            )


def build_dataset(
    sources: list[str | Path],
    out: str | Path,
    cfg: BuildConfig | None = None,
    force: bool = False,
    progress: bool = False,
) -> BuildResult:
    """Build a dataset from raw files (see module docstring and ``docs/data_format.md``)."""
    cfg = cfg or BuildConfig()
    cfg.validate()
    out = Path(out)
    paths = [Path(s) for s in sources]
    if not paths:
        raise H1FaultError("no raw files given")
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise H1FaultError("the same raw file is given twice")
    if out.resolve() in resolved:
        raise H1FaultError(f"--out {out} is one of the inputs")
    check_output_file(out, force)  # a directory or unwritable folder fails now, not after the build
    notes = _remove_stale_temp_files(out)
    start_time = time.perf_counter()
    files = []
    try:
        files.extend(open_h5(p) for p in paths)
    except BaseException:
        for f in files:
            f.close()
        raise
    tmp = temp_path(out)
    reading = paths[0]  # the source being read, to name it in a checksum error
    try:
        infos = [read_raw_info(f, p) for f, p in zip(files, paths, strict=True)]
        _check_compatible(infos)
        check_shards(infos)
        flag_bytes = sum(i.num_steps * i.num_envs * FLAG_BYTES for i in infos)
        scans = []
        with byte_progress("scan", flag_bytes, progress) as advance:
            for f, i in zip(files, infos, strict=True):
                reading = i.path
                scans.append(scan_raw(f, i, cfg.allow_partial, advance=advance))
        table, src_offsets = _combine(scans)
        table["split"] = assign_splits(table["fault_joint"], cfg.split_fractions, cfg.seed)
        m = int(src_offsets[-1])
        if m == 0:
            raise H1FaultError("no complete episodes to build from (all were dropped)")
        out_dtype = np.float16 if all(i.obs_dtype == np.float16 for i in infos) else np.float32
        obs_bytes = sum(int(s.num_samples) * OBS_DIM * s.info.obs_dtype.itemsize for s in scans)
        acc = _Moments()
        with h5py.File(tmp, "w") as g:
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # storage at a fixed offset now
            d_obs = g.create_dataset("obs", shape=(m, OBS_DIM), dtype=out_dtype, dcpl=dcpl,
                                     fill_time="never")  # fmt: skip
            g.flush()
            direct = _DirectObs.make(tmp, d_obs)
            d_label = g.create_dataset("label", shape=(m,), dtype=np.int16)
            d_sat = g.create_dataset("saturated", shape=(m,), dtype=bool)
            g.create_dataset("episodes", data=table)
            with byte_progress("build", obs_bytes, progress) as advance:
                for si, (f, scan) in enumerate(zip(files, scans, strict=True)):
                    reading = scan.info.path
                    sel = table["source"] == si
                    try:
                        _pass2(f, scan, table[sel], int(src_offsets[si]), (d_obs, d_label, d_sat),
                               acc, cfg.tile_mb << 20, advance, direct)  # fmt: skip
                    except BaseException:
                        if direct is not None:
                            direct.close()
                        raise
                if direct is not None:
                    direct.close()
            mean, std = acc.result()
            g.create_dataset("norm/mean", data=mean.astype(np.float32))
            g.create_dataset("norm/std", data=std.astype(np.float32))
            g["norm"].attrs["num_samples"] = acc.n
            crosscheck = {c: sum(s.crosscheck[c] for s in scans) for c in CATEGORIES}
            _write_attrs(g, cfg, infos, scans, crosscheck)
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, H1FaultError) or not isinstance(exc, OSError | KeyError | RuntimeError):
            raise
        if is_checksum_error(exc):
            raise H1FaultError(f"cannot read {reading}: {read_error_text(exc)}") from exc
        raise H1FaultError(f"building {out} failed: {io_error_text(exc)}") from exc
    finally:
        for f in files:
            f.close()
    split_eps = {name: int((table["split"] == i).sum()) for i, name in enumerate(SPLIT_NAMES)}
    split_smp = {name: int(table["length"][table["split"] == i].sum())
                 for i, name in enumerate(SPLIT_NAMES)}  # fmt: skip
    result = BuildResult(
        path=out, num_samples=m, num_episodes=len(table), split_episodes=split_eps,
        split_samples=split_smp, raw_obs_bytes=obs_bytes,
        seconds=time.perf_counter() - start_time, crosscheck=crosscheck,
        dropped_episodes=sum(s.dropped_episodes for s in scans),
    )  # fmt: skip
    from h1fault.data.stats import quick_warnings

    result.warnings = quick_warnings(out)
    result.notes = notes
    return result


def _remove_stale_temp_files(out: Path) -> list[str]:
    """Delete the ``.NAME.tmp-PID`` files a killed build of ``out`` left behind (their process is
    gone); one note per file."""
    notes = []
    for stale in stale_temp_files(out):
        try:
            size = stale.stat().st_size
            stale.unlink()
        except OSError as exc:
            notes.append(f"could not remove {stale} left by an interrupted build: "
                         f"{io_error_text(exc)}")  # fmt: skip
            continue
        notes.append(f"removed {stale} ({size / 1e6:,.1f} MB) left by an interrupted build")
    return notes


def _combine(scans: list[RawScan]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the episode tables; returns the table and (S+1,) source row offsets."""
    offsets = np.concatenate([[0], np.cumsum([s.num_samples for s in scans])]).astype(np.int64)
    parts = []
    for si, scan in enumerate(scans):
        t = scan.episodes.copy()
        t["source"] = si
        t["start"] += offsets[si]
        t["env"] += env_id_offset(scan.info)  # global env ids for the shards of a torchrun run
        parts.append(t)
    return np.concatenate(parts), offsets


class _Moments:
    """Per-column mean/variance of the train rows, by shifted sums accumulated in float64."""

    def __init__(self) -> None:
        self.ref: np.ndarray | None = None
        self.ref32 = np.zeros(OBS_DIM, np.float32)
        self.n = 0
        self.s1 = np.zeros(OBS_DIM)
        self.s2 = np.zeros(OBS_DIM)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0 or self.ref is None:
            return np.zeros(OBS_DIM), np.ones(OBS_DIM)
        m1 = self.s1 / self.n
        var = np.maximum(self.s2 / self.n - m1 * m1, 0.0)
        std = np.sqrt(var)
        return self.ref + m1, np.where(std < STD_FLOOR, 1.0, std)


def _tile_shape(obs: h5py.Dataset, n: int, t_need: int, budget: int) -> tuple[int, int]:
    """(steps, envs) per tile: whole env streams of a chunk-aligned env block when one block of
    whole streams fits twice the budget (one contiguous write per tile), else step blocks."""
    chunks = obs.chunks or (t_need, n, OBS_DIM)
    ct, cn = max(1, chunks[0]), max(1, min(chunks[1], n))
    row = OBS_DIM * obs.dtype.itemsize
    if cn * t_need * row <= 2 * budget:
        blocks = max(1, budget // (cn * t_need * row))
        return t_need, min(n, blocks * cn)
    steps = max(ct, budget // (cn * row) // ct * ct)
    return min(steps, t_need), cn


class _DirectObs:
    """Writes rows of the output ``obs`` dataset straight into its storage with ``os.pwrite``.

    Only for a contiguous, early-allocated, little-endian dataset that h5py never writes itself:
    its bytes sit at a fixed file offset. This keeps the big writes off h5py's global lock, so
    they overlap with the reads of the next tile instead of queueing behind them.
    """

    def __init__(self, path: Path, dset: h5py.Dataset) -> None:
        self.offset = dset.id.get_offset()
        self.row_bytes = OBS_DIM * dset.dtype.itemsize
        self.dtype = dset.dtype
        self.fd = os.open(path, os.O_WRONLY)

    @classmethod
    def make(cls, path: Path, dset: h5py.Dataset) -> _DirectObs | None:
        """A direct writer if the layout allows it, else None (h5py writes then)."""
        layout = dset.id.get_create_plist().get_layout()
        if layout != h5py.h5d.CONTIGUOUS or dset.dtype.byteorder not in ("<", "="):
            return None
        if sys.byteorder != "little" or dset.id.get_offset() is None:
            return None
        return cls(path, dset)

    def write(self, row: int, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        view = memoryview(data).cast("B")
        pos = self.offset + row * self.row_bytes
        while len(view):
            n = os.pwrite(self.fd, view, pos)
            view, pos = view[n:], pos + n

    def close(self) -> None:
        os.close(self.fd)


class _TileWriter:
    """Writes finished tiles on a background thread while the caller reads and transposes the
    next one (h5py releases the GIL during I/O). Two tile buffers rotate between the two sides,
    so memory stays at two tiles however large the input is."""

    def __init__(
        self, outs: tuple[h5py.Dataset, ...], size: int, dtype: np.dtype, direct: _DirectObs | None
    ) -> None:
        self.outs = outs
        self.direct = direct
        self.free: queue.Queue[np.ndarray] = queue.Queue()
        for _ in range(2):
            self.free.put(np.empty(size, dtype))
        self.jobs: queue.Queue[tuple | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="h1fault-build-writer", daemon=True)
        self.thread.start()

    def buffer(self) -> np.ndarray:
        """A free flat tile buffer (blocks while both are being written)."""
        while True:
            self._raise()
            try:
                return self.free.get(timeout=0.5)
            except queue.Empty:
                continue

    def submit(self, buf: np.ndarray, writes: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]
               ) -> None:  # fmt: skip
        """Write ``(row, obs, label, saturated)`` pieces, then give ``buf`` back."""
        self._raise()
        self.jobs.put((buf, writes))

    def close(self) -> None:
        """Finish the queued writes; re-raise a writer error."""
        self.jobs.put(None)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        d_obs, d_label, d_sat = self.outs
        while True:
            job = self.jobs.get()
            if job is None:
                return
            buf, writes = job
            try:
                if self.error is None:
                    for o0, rows, lab, st in writes:
                        if self.direct is not None:
                            self.direct.write(o0, rows)
                        else:
                            d_obs[o0 : o0 + len(rows)] = rows
                        d_label[o0 : o0 + len(rows)] = lab
                        d_sat[o0 : o0 + len(rows)] = st
            except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                self.error = exc
            finally:
                self.free.put(buf)


def _pass2(
    f: h5py.File,
    scan: RawScan,
    table: np.ndarray,
    src_offset: int,
    outs: tuple[h5py.Dataset, h5py.Dataset, h5py.Dataset],
    acc: _Moments,
    budget: int,
    advance: Callable[[int], None],
    direct: _DirectObs | None = None,
) -> None:
    """Stream one source's obs into env-major output rows (see module docstring)."""
    obs = f["obs"]
    n = scan.info.num_envs
    keep = scan.keep_steps
    env_off = scan.env_offset + src_offset
    t_need = int(keep.max())
    if t_need == 0:
        return
    tb, nb = _tile_shape(obs, n, t_need, budget)
    ep_start = table["start"]
    ep_joint = table["fault_joint"].astype(np.int64)
    ep_onset = table["onset"].astype(np.int64)
    ep_split = table["split"]
    raw_dtype = obs.dtype
    size = tb * nb * OBS_DIM
    rbuf = np.empty(size, raw_dtype)
    tmp = np.empty((_SUB_ROWS, OBS_DIM), np.float32)  # cache-sized scratch
    writer = _TileWriter(outs, size, raw_dtype, direct)
    try:
        for n0 in range(0, n, nb):
            n1 = min(n0 + nb, n)
            nbk = n1 - n0
            for t0 in range(0, t_need, tb):
                t1 = min(t0 + tb, t_need)
                tbk = t1 - t0
                cells = tbk * nbk * OBS_DIM
                view = rbuf[:cells].reshape(tbk, nbk, OBS_DIM)
                obs.read_direct(view, np.s_[t0:t1, n0:n1])
                advance(view.nbytes)
                out_buf = writer.buffer()
                x = out_buf[:cells].reshape(nbk, tbk, OBS_DIM)
                np.copyto(x, view.transpose(1, 0, 2))
                sat = f["saturated"][t0:t1, n0:n1].T
                t_idx = np.arange(t0, t1, dtype=np.int64)
                kept = t_idx[None, :] < keep[n0:n1, None]  # (nbk, tbk)
                g = env_off[n0:n1, None] + t_idx[None, :]  # output row of each sample
                e = np.maximum(np.searchsorted(ep_start, g, side="right") - 1, 0)
                label = np.where((ep_joint[e] >= 0) & (g - ep_start[e] >= ep_onset[e]),
                                 ep_joint[e], -1).astype(np.int16)  # fmt: skip
                train = kept & (ep_split[e] == 0)
                x2 = x.reshape(-1, OBS_DIM)
                _accumulate(x2, kept.reshape(-1), train.reshape(-1), acc, tmp, scan, n0, t0, tbk)
                writes = []
                if t0 == 0 and bool((keep[n0:n1] <= t1).all()):  # whole streams: one write
                    if kept.all():
                        writes.append((int(env_off[n0]), x2, label.reshape(-1), sat.reshape(-1)))
                    else:
                        writes.append((int(env_off[n0]), x[kept], label[kept], sat[kept]))
                else:
                    for i in range(nbk):
                        r = int(min(t1, keep[n0 + i])) - t0
                        if r > 0:
                            writes.append((int(env_off[n0 + i]) + t0, x[i, :r], label[i, :r],
                                           sat[i, :r]))  # fmt: skip
                writer.submit(out_buf, writes)
    finally:
        writer.close()


def _accumulate(
    x2: np.ndarray,
    kept: np.ndarray,
    train: np.ndarray,
    acc: _Moments,
    tmp: np.ndarray,
    scan: RawScan,
    n0: int,
    t0: int,
    tbk: int,
) -> None:
    """Add the train rows of ``x2`` (R, 88) to ``acc``; one-line error on a non-finite kept row.

    Works on cache-sized sub-blocks: subtract the reference, then for each run of train rows add
    the column sums and sums of squares (float32 within a run, float64 across runs). The float32
    sum over all kept rows of the sub-block is a cheap probe for NaN/Inf, located exactly only
    when it fires.
    """
    all_kept = bool(kept.all())
    for s in range(0, len(x2), _SUB_ROWS):
        e = min(s + _SUB_ROWS, len(x2))
        if acc.ref is None:
            rows = x2[s:e][kept[s:e]].astype(np.float64)
            if len(rows) == 0:
                continue
            acc.ref = np.where(np.isfinite(rows).all(axis=0), rows.mean(axis=0), 0.0)
            acc.ref32 = acc.ref.astype(np.float32)
        d = tmp[: e - s]
        np.subtract(x2[s:e], acc.ref32, out=d)
        if not all_kept:
            d[~kept[s:e]] = 0.0  # dropped rows may hold anything
        tr = train[s:e]
        bounds = np.flatnonzero(np.r_[True, tr[1:] != tr[:-1], True])
        total = d.sum(axis=0)  # over kept rows (others are 0): NaN/Inf probe
        if not np.isfinite(total).all():
            _raise_nonfinite(x2[s:e], kept[s:e], scan, n0, t0, tbk, s)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if tr[a]:
                run = d[a:b]
                acc.s1 += run.sum(axis=0)  # float32 within a run of <= 8192 rows,
                acc.s2 += np.einsum("ij,ij->j", run, run)  # float64 across runs
        acc.n += int(tr.sum())


def _raise_nonfinite(
    x: np.ndarray, kept: np.ndarray, scan: RawScan, n0: int, t0: int, tbk: int, s: int
) -> None:
    bad = ~np.isfinite(x).all(axis=1) & kept
    if not bad.any():  # finite values whose float32 sum overflowed: nothing to report
        return
    r = s + int(np.argmax(bad))
    env, t = n0 + r // tbk, t0 + r % tbk
    col = int(np.argmax(~np.isfinite(x[r - s])))
    raise H1FaultError(
        f"{scan.info.path}: non-finite obs at env {env}, row {t} (column {col}); the "
        "simulation diverged? Refusing to build; `h1fault dataset stats` on the raw file counts "
        "them"
    )


def _write_attrs(
    g: h5py.File,
    cfg: BuildConfig,
    infos: list[RawInfo],
    scans: list[RawScan],
    crosscheck: dict[str, int],
) -> None:
    from h1fault.provenance import package_versions

    ref = infos[0]
    a = g.attrs
    a["format"] = DATASET_FORMAT
    a["format_version"] = FORMAT_VERSION
    a["sources"] = to_json([str(i.path) for i in infos])
    a["source_num_envs"] = to_json([i.num_envs for i in infos])
    a["source_num_steps"] = to_json([i.num_steps for i in infos])
    a["source_complete"] = to_json([i.complete for i in infos])
    a["source_policy_sha256"] = to_json([i.attrs.get("policy_sha256", "") for i in infos])
    a["source_env_offsets"] = to_json([env_id_offset(i) for i in infos])
    worlds = sorted({int(i.attrs.get("world_size", 1)) for i in infos})
    a["source_world_size"] = to_json([int(i.attrs.get("world_size", 1)) for i in infos])
    a["world_size"] = worlds[0] if len(worlds) == 1 else to_json(worlds)
    a["joint_names"] = to_json(ref.joint_names)
    a["isaaclab_joint_names"] = to_json(ref.attrs.get("isaaclab_joint_names", []))
    a["candidate_joints"] = to_json(ref.candidate_joints)
    a["fault_config"] = to_json(ref.fault_config)
    a["nominal_torque_limits"] = to_json(ref.attrs.get("nominal_torque_limits", []))
    a["obs_dim"] = OBS_DIM
    a["split_fractions"] = to_json(list(cfg.split_fractions))
    a["seed"] = cfg.seed
    a["control_dt"] = ref.control_dt
    a["allow_partial"] = cfg.allow_partial
    a["dropped_episodes"] = sum(s.dropped_episodes for s in scans)
    a["derived_fault_state"] = any(i.derived_fault_state for i in infos)
    a["crosscheck"] = to_json(
        {"totals": crosscheck,
         "examples": {str(s.info.path): s.examples for s in scans if s.examples}}
    )  # fmt: skip
    a["versions"] = to_json(package_versions())
