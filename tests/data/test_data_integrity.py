"""Silent corruption and leftovers: checksummed raw chunks, damaged headers, stale temp files,
a full disk under build, ``--force`` onto a directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.cli import app
from h1fault.data.build import build_dataset
from h1fault.data.stats import dataset_stats
from h1fault.errors import H1FaultError


def _one_line_error(runner, args: list[str]) -> str:
    res = runner.invoke(app, [*args, "--no-progress"])
    assert res.exit_code == 1, res.output
    assert res.stdout == "" and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    return res.stderr


def _flip_chunk_bytes(path: Path, name: str = "obs") -> None:
    """Overwrite 64 bytes inside the first chunk of ``name``, as a bad disk or a stray write."""
    with h5py.File(path, "r") as f:
        offset = f[name].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 100)
        fh.write(np.random.default_rng(0).bytes(64))


def test_raw_chunks_carry_checksums(make_raw: Callable[..., Path]) -> None:
    with h5py.File(make_raw(), "r") as f:
        assert f["obs"].fletcher32 and f["done"].fletcher32
        assert f.attrs["checksum"] == "fletcher32"


@pytest.mark.parametrize("cmd", ["build", "stats"])
def test_corrupt_chunk_is_a_one_line_error(make_raw, runner, tmp_path: Path, cmd: str) -> None:
    raw = make_raw()
    _flip_chunk_bytes(raw)
    out = tmp_path / "ds.h5"
    extra = ["--out", str(out)] if cmd == "build" else []
    err = _one_line_error(runner, ["dataset", cmd, str(raw), *extra])
    assert "raw.h5" in err and "checksum mismatch" in err
    assert not out.exists() and not list(tmp_path.glob(".ds.h5.tmp-*"))


def test_corrupt_flags_chunk_in_build(make_raw: Callable[..., Path], tmp_path: Path) -> None:
    raw = make_raw()
    _flip_chunk_bytes(raw, "episode")
    with pytest.raises(H1FaultError, match="checksum mismatch"):
        build_dataset([raw], tmp_path / "ds.h5")


@pytest.mark.parametrize("cmd", ["build", "stats"])
def test_damaged_header_is_a_one_line_error(make_raw, runner, tmp_path: Path, cmd: str) -> None:
    raw = make_raw()
    data = bytearray(raw.read_bytes())
    at = data.find(b"HEAP")  # the root group's local heap: link names live there
    assert at > 0
    data[at : at + 4] = b"XXXX"
    raw.write_bytes(bytes(data))
    extra = ["--out", str(tmp_path / "ds.h5")] if cmd == "build" else []
    err = _one_line_error(runner, ["dataset", cmd, str(raw), *extra])
    assert "raw.h5" in err and "corrupt" in err


def test_stale_temp_file_of_a_killed_build_is_removed(make_raw, runner, tmp_path: Path) -> None:
    raw = make_raw()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs, as after kill -9
    stale = tmp_path / f".ds.h5.tmp-{dead.pid}"
    stale.write_bytes(b"\0" * 4096)
    res = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(tmp_path / "ds.h5"),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert not stale.exists()
    assert f"note: removed {stale}" in res.stderr and "interrupted build" in res.stderr
    live = tmp_path / f".ds.h5.tmp-{os.getpid() + 10**7}"  # not a running pid either
    live.write_bytes(b"x")
    build_dataset([raw], tmp_path / "ds2.h5")
    assert live.exists()  # only temp files of this output are touched


def test_force_onto_a_directory_fails_before_building(make_raw, runner, tmp_path: Path) -> None:
    raw = make_raw()
    (tmp_path / "adir").mkdir()
    err = _one_line_error(runner, ["dataset", "build", str(raw), "--out", str(tmp_path / "adir"),
                                   "--force"])  # fmt: skip
    assert "is a directory" in err


@pytest.fixture
def tiny_disk(mount_tmpfs) -> Path:
    """A 256 kB tmpfs."""
    return mount_tmpfs("256k")


def test_build_onto_a_full_disk(make_raw, runner, tiny_disk: Path) -> None:
    raw = make_raw(num_envs=8, num_steps=400)  # ~1.1 MB of obs: does not fit 256 kB
    out = tiny_disk / "ds.h5"
    err = _one_line_error(runner, ["dataset", "build", str(raw), "--out", str(out)])
    assert "disk full" in err
    assert os.listdir(tiny_disk) == []  # no output, no temp file


def test_stats_of_a_clean_raw_file_still_passes(make_raw: Callable[..., Path]) -> None:
    rep = dataset_stats(make_raw())
    assert rep["kind"] == "raw"


def test_chance_of_a_miss_is_a_probability(make_raw: Callable[..., Path]) -> None:
    """Few faulted episodes and many candidates: the union bound c(1-1/c)^n exceeds 1 and was
    printed as 'chance of a miss 9.9'."""
    rep = dataset_stats(make_raw(num_envs=2, num_steps=60, episode_steps=20, seed=1))
    msg = next(c["message"] for c in rep["checks"] if c["name"] == "all_candidates_present")
    value = float(msg.split("chance of a miss ")[1].split()[0].rstrip("):"))
    assert 0.0 <= value <= 1.0, msg


def test_stats_plot_onto_a_read_only_fs(make_raw, runner, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(ro)],
                         capture_output=True, text=True)  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        err = _one_line_error(runner, ["dataset", "stats", str(make_raw()), "--plot",
                                       str(ro / "p.png")])  # fmt: skip
        assert "cannot write into" in err and "read-only file system" in err
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
