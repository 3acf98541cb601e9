"""A full disk while writing a raw file: one-line error, never marked complete, the flushed part
readable as a partial file. Two ways: a real 1 MB tmpfs (where mounting is allowed) and a file
object that raises ENOSPC at a chosen write (the writer thread, and the final ``complete`` attr)."""

from __future__ import annotations

import errno
import io
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from data_batches import step_batch
from data_fake_env import FakeVecEnv

from h1fault.data import writer as writer_mod
from h1fault.data.build import BuildConfig, build_dataset
from h1fault.data.collect import collect
from h1fault.data.writer import RawWriter, WriterConfig
from h1fault.errors import H1FaultError

N = 3
HERE = Path(__file__).resolve().parent


@pytest.fixture
def tiny_disk(mount_tmpfs) -> Path:
    """A 1 MB tmpfs."""
    return mount_tmpfs("1m")


class FullDiskFile(io.FileIO):
    """A real file whose ``write`` raises ENOSPC once ``fail`` is set (or from write fail_at).

    Once full, ``seek``, ``flush`` and ``truncate`` raise ENOSPC too, and each is defined here
    rather than inherited: HDF5 goes on calling the file's methods after a failed write while
    the OSError is still pending, and on a method-cache miss CPython's lookup of an inherited
    method clears that error and raises AttributeError instead (a flaky message).
    """

    def __init__(self, path: Path, fail_at: int | None = None) -> None:
        super().__init__(path, "w+")
        self.fail = False
        self.fail_at = fail_at
        self.writes = 0

    def _refuse_if_full(self) -> None:
        if self.fail or (self.fail_at is not None and self.writes >= self.fail_at):
            raise OSError(errno.ENOSPC, "No space left on device")

    def write(self, data) -> int:  # type: ignore[override]
        self.writes += 1
        self._refuse_if_full()
        return super().write(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        self._refuse_if_full()
        return super().seek(pos, whence)

    def flush(self) -> None:
        self._refuse_if_full()
        return super().flush()

    def truncate(self, size: int | None = None) -> int:
        self._refuse_if_full()
        return super().truncate(size)


def _fake_disk(monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> list[FullDiskFile]:
    opened: list[FullDiskFile] = []

    def open_for_write(path: Path) -> h5py.File:
        fo = FullDiskFile(path, fail_at)
        opened.append(fo)
        return h5py.File(fo, "w", rdcc_nbytes=0)

    monkeypatch.setattr(writer_mod, "open_for_write", open_for_write)
    return opened


def _wait_written(w: RawWriter, steps: int) -> None:
    deadline = time.time() + 10
    while w.steps_written < steps and w._error is None and time.time() < deadline:
        time.sleep(0.01)


def _assert_partial(path: Path, steps: int) -> None:
    """Readable, not complete, exactly the flushed steps counted, their data intact."""
    with h5py.File(path, "r") as f:
        assert "complete" not in f.attrs
        assert int(f.attrs["num_steps_written"]) == steps
        np.testing.assert_array_equal(f["obs"][:steps, 1, 0], np.arange(steps))


def test_enospc_in_writer_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _fake_disk(monkeypatch)
    path = tmp_path / "raw.h5"
    w = RawWriter(path, N, 40, {}, WriterConfig(flush_steps=4))
    for t0 in (0, 4):
        w.put(step_batch(t0, 4, N))
    _wait_written(w, 8)
    opened[0].fail = True  # the disk fills up before the third batch
    with pytest.raises(H1FaultError) as info:  # from a later put (or at the latest from close)
        for t0 in range(8, 40, 4):
            w.put(step_batch(t0, 4, N))
            time.sleep(0.02)
    msg = str(info.value)
    assert "disk full" in msg and "holds the 8 steps" in msg and "\n" not in msg
    with pytest.raises(H1FaultError, match="disk full"):  # never marked complete
        w.close(complete=True)
    _assert_partial(path, 8)


def test_enospc_on_complete_attr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch went through; the disk fills up exactly when the 'complete' attr is written."""
    opened = _fake_disk(monkeypatch)
    path = tmp_path / "raw.h5"
    w = RawWriter(path, N, 8, {}, WriterConfig(flush_steps=4))
    w.put(step_batch(0, 4, N))
    w.put(step_batch(4, 4, N))
    _wait_written(w, 8)
    opened[0].fail = True
    with pytest.raises(H1FaultError, match="disk full"):
        w.close(complete=True)
    _assert_partial(path, 8)


def test_enospc_while_creating(tiny_disk: Path) -> None:
    """A disk that is already full when the raw file is created (a real tmpfs: h5py's
    file-object driver mishandles a Python-level ENOSPC, so no fake file here)."""
    with open(tiny_disk / "filler", "wb") as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with pytest.raises(H1FaultError, match=r"cannot create .*raw.h5: disk full"):
        RawWriter(tiny_disk / "raw.h5", N, 8, {}, WriterConfig(flush_steps=4))
    assert not (tiny_disk / "raw.h5").exists()


@pytest.mark.parametrize("checksum", [True, False])
def test_real_full_disk_collect(tiny_disk: Path, tmp_path: Path, checksum: bool) -> None:
    """collect on a 1 MB tmpfs: the run stops with the one-line error, the file keeps what was
    flushed, without 'complete', and build --allow-partial reads it."""
    out = tiny_disk / "raw.h5"
    env = FakeVecEnv(num_envs=16, episode_steps=20)
    with pytest.raises(H1FaultError, match="disk full") as info:
        collect(env, lambda o: o[:, :19] * 0, out, 2000, progress=False,
                writer=WriterConfig(flush_steps=8, checksum=checksum))  # fmt: skip
    assert "\n" not in str(info.value)
    with h5py.File(out, "r") as f:
        n = int(f.attrs["num_steps_written"])
        assert 0 < n < 2000 and "complete" not in f.attrs
        np.testing.assert_array_equal(f["obs"][:n, 5, 0], np.arange(n))
    r = build_dataset([out], tmp_path / "ds.h5", BuildConfig(allow_partial=True))
    assert r.num_samples > 0


CHILD = """
import sys
import typer
sys.path.insert(0, {here!r})
from data_fake_env import FakeVecEnv
from h1fault.cli_common import friendly_errors
from h1fault.data.collect import collect

@friendly_errors
def main():
    collect(FakeVecEnv(num_envs=16), lambda o: o[:, :19] * 0, sys.argv[1], 5000, progress=False)
    print("finished")

try:
    main()
except typer.Exit as e:
    sys.exit(e.exit_code)
"""


def test_full_disk_process_exits_1_with_one_line(tiny_disk: Path) -> None:
    """In a real process (the reported failure was a segfault after ~100 HDF5 tracebacks)."""
    out = tiny_disk / "raw.h5"
    proc = subprocess.run([sys.executable, "-c", CHILD.format(here=str(HERE)), str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: writing") and "disk full" in lines[0]
