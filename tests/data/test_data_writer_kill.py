"""A process killed at any moment leaves a readable raw file holding its counted steps.

The writer's file is journaled write by write; each prefix of the journal is a state a
``kill -9`` can leave on disk (the kernel finishes a write the process started). Every such
state after the file's creation must open, and the rows and events its counts claim must read
back intact.
"""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from data_batches import step_batch

from h1fault.data import writer as writer_mod
from h1fault.data.writer import RawWriter, WriterConfig

N = 3


class JournaledFile(io.FileIO):
    """A real file that also records every write and truncate, in order."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "w+")
        self.journal: list[tuple[int, bytes | None]] = []  # (offset, data) or (size, None)

    def write(self, data) -> int:  # type: ignore[override]
        self.journal.append((self.tell(), bytes(data)))
        return super().write(data)

    def truncate(self, size: int | None = None) -> int:
        size = self.tell() if size is None else size
        self.journal.append((size, None))
        return super().truncate(size)


def _crash_states(monkeypatch: pytest.MonkeyPatch, path: Path, batches: int, cfg: WriterConfig):
    """Run the writer on a journaled file; yield the bytes of every state after creation."""
    opened: list[JournaledFile] = []

    def open_for_write(p: Path) -> h5py.File:
        opened.append(JournaledFile(p))
        return h5py.File(opened[-1], "w", rdcc_nbytes=0)

    monkeypatch.setattr(writer_mod, "open_for_write", open_for_write)
    k = cfg.flush_steps
    w = RawWriter(path, N, batches * k, {}, cfg)
    created = len(opened[0].journal)
    for b in range(batches):
        w.put(step_batch(b * k, k, N, with_event=True))
    w.close(complete=False)
    state = bytearray()
    for i, (where, data) in enumerate(opened[0].journal):
        if data is None:
            del state[where:]
            state.extend(bytes(where - len(state)))
        else:
            state.extend(bytes(max(0, where + len(data) - len(state))))
            state[where : where + len(data)] = data
        if i + 1 >= created:
            yield bytes(state)


def _read_counted(state: bytes) -> int:
    """Open one crash state and check every counted row and event; return the step count."""
    with h5py.File(io.BytesIO(state), "r") as f:
        n = int(f.attrs["num_steps_written"])
        for env in range(N):
            np.testing.assert_array_equal(f["obs"][:n, env, 0], np.arange(n))
        events = f["events"][: int(f.attrs["num_events_written"])]
        np.testing.assert_array_equal(events["global_step"], np.arange(len(events)) * 4)
        return n


def test_kill_at_any_write_leaves_counted_steps_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checksummed (chunks allocated as written): the default, as the collect test kills it."""
    cfg = WriterConfig(flush_steps=4)
    seen = {_read_counted(s) for s in _crash_states(monkeypatch, tmp_path / "raw.h5", 10, cfg)}
    assert seen == set(range(0, 44, 4))  # every flushed count was a state on disk


def test_kill_at_any_write_without_checksum_many_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allocated up front: safe even with 75 chunks per dataset, more than one index node holds."""
    cfg = WriterConfig(flush_steps=4, env_block=1, checksum=False)
    seen = {_read_counted(s) for s in _crash_states(monkeypatch, tmp_path / "raw.h5", 25, cfg)}
    assert seen == set(range(0, 104, 4))
