"""The raw writer: layout, flushing, the complete flag, overwrite protection, bounded queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.data.schema import RAW_STEP_DATASETS
from h1fault.data.writer import RawWriter, StepBatch, WriterConfig
from h1fault.errors import H1FaultError

N = 3


def _batch(t0: int, k: int, dtype: str = "float32", events: bool = False) -> StepBatch:
    obs = np.zeros((k, N, 88), dtype)
    obs[:, :, 0] = np.arange(t0, t0 + k)[:, None]
    flags = {name: np.zeros((k, N), dt) for name, dt in RAW_STEP_DATASETS.items()}
    flags["step_in_episode"][:] = np.arange(t0, t0 + k)[:, None]
    flags["fault_joint"][:] = -1
    flags["torque_limit"][:] = np.nan
    ev = {}
    if events:
        ev = {"env": [1], "episode": [0], "step_in_episode": [t0], "global_step": [t0],
              "joint": [3], "scale": [0.1], "limit": [30.0]}  # fmt: skip
    return StepBatch(t0, obs, flags, {k2: np.asarray(v) for k2, v in ev.items()})


def test_roundtrip_and_complete_flag(tmp_path: Path) -> None:
    path = tmp_path / "raw.h5"
    w = RawWriter(path, N, 10, {"seed": 7, "fault_config": {"p_fault": 0.5}},
                  WriterConfig(flush_steps=4))  # fmt: skip
    for t0 in (0, 4, 8):
        w.put(_batch(t0, min(4, 10 - t0), events=t0 == 4))
    w.close(complete=True)
    with h5py.File(path, "r") as f:
        assert f["obs"].shape == (10, N, 88) and f["obs"].chunks == (4, N, 88)
        np.testing.assert_array_equal(f["obs"][:, 0, 0], np.arange(10))
        assert f.attrs["complete"] and f.attrs["num_steps_written"] == 10
        assert f.attrs["seed"] == 7 and '"p_fault": 0.5' in f.attrs["fault_config"]
        ev = f["events"][:]
        assert len(ev) == 1 and ev[0]["global_step"] == 4 and ev[0]["joint"] == 3
        assert f.attrs["num_events_written"] == 1


def test_interrupted_file_is_readable_without_complete(tmp_path: Path) -> None:
    path = tmp_path / "raw.h5"
    w = RawWriter(path, N, 100, {}, WriterConfig(flush_steps=4))
    w.put(_batch(0, 4))
    w.put(_batch(4, 4))
    w.close(complete=False)
    with h5py.File(path, "r") as f:
        assert "complete" not in f.attrs
        assert f.attrs["num_steps_written"] == 8 and f.attrs["num_steps_planned"] == 100
        np.testing.assert_array_equal(f["obs"][:8, 2, 0], np.arange(8))


def test_existing_output_needs_force(tmp_path: Path) -> None:
    path = tmp_path / "raw.h5"
    path.write_text("precious")
    with pytest.raises(H1FaultError, match="exists; pass --force"):
        RawWriter(path, N, 4, {})
    assert path.read_text() == "precious"
    w = RawWriter(path, N, 4, {}, force=True)
    w.put(_batch(0, 4))
    w.close(complete=True)
    assert h5py.is_hdf5(path)


def test_float16_lzf(tmp_path: Path) -> None:
    path = tmp_path / "raw.h5"
    w = RawWriter(path, N, 8, {}, WriterConfig(dtype="float16", compression="lzf", flush_steps=8))
    w.put(_batch(0, 8, dtype="float16"))
    w.close(complete=True)
    with h5py.File(path, "r") as f:
        assert f["obs"].dtype == np.float16 and f["obs"].compression == "lzf"
        np.testing.assert_array_equal(f["obs"][:, 1, 0], np.arange(8))


def test_writer_thread_error_surfaces(tmp_path: Path) -> None:
    w = RawWriter(tmp_path / "raw.h5", N, 8, {}, WriterConfig(flush_steps=4))
    w.put(_batch(4, 4))  # wrong start: step 0 was never written
    with pytest.raises(H1FaultError, match="writing .* failed: batch starts at step 4"):
        w.close(complete=True)


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(H1FaultError, match="--dtype"):
        RawWriter(tmp_path / "a.h5", N, 4, {}, WriterConfig(dtype="float64"))
    with pytest.raises(H1FaultError, match="--compression"):
        RawWriter(tmp_path / "a.h5", N, 4, {}, WriterConfig(compression="zstd"))


def test_queue_is_bounded(tmp_path: Path) -> None:
    """With one batch being written and one queued, the next put blocks until the writer
    catches up (the sim waits only when the disk is slower)."""
    release = threading.Event()
    w = RawWriter(tmp_path / "raw.h5", N, 12, {}, WriterConfig(flush_steps=4, queue_batches=1))
    first = _batch(0, 4)
    first.ready = release.wait  # the writer thread is stuck on this batch until released
    w.put(first)
    time.sleep(0.1)  # the writer took it off the queue
    w.put(_batch(4, 4))  # fills the queue
    third_done = threading.Event()

    def put_third() -> None:
        w.put(_batch(8, 4))
        third_done.set()

    th = threading.Thread(target=put_third)
    th.start()
    assert not third_done.wait(0.3), "put should block while the queue is full"
    release.set()
    th.join(5)
    assert third_done.is_set()
    w.close(complete=True)
    assert w.wait_s > 0.2
