"""Known errors of the data commands are one line on stderr with exit code 1, no traceback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from h1fault.cli import app
from h1fault.data.build import build_dataset


def _fails(runner, args: list[str], *needles: str) -> str:
    res = runner.invoke(app, [*args, "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    err = res.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def files(make_raw: Callable[..., Path], tmp_path: Path) -> dict[str, Path]:
    raw = make_raw()
    ds = tmp_path / "ds.h5"
    build_dataset([raw], ds)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all\n")
    trunc = tmp_path / "trunc.h5"
    shutil.copy(ds, trunc)
    os.truncate(trunc, trunc.stat().st_size // 2)
    narrow = tmp_path / "narrow.h5"  # a dataset with 69-wide obs
    shutil.copy(ds, narrow)
    with h5py.File(narrow, "r+") as f:
        m = f["obs"].shape[0]
        del f["obs"]
        f.create_dataset("obs", shape=(m, 69), dtype="f4")
    narrow_raw = tmp_path / "narrow_raw.h5"
    shutil.copy(raw, narrow_raw)
    with h5py.File(narrow_raw, "r+") as f:
        shape = f["obs"].shape
        del f["obs"]
        f.create_dataset("obs", shape=(*shape[:2], 69), dtype="f4")
    return {"raw": raw, "ds": ds, "text": text, "trunc": trunc, "narrow": narrow,
            "narrow_raw": narrow_raw, "missing": tmp_path / "nope.h5"}  # fmt: skip


@pytest.mark.parametrize("cmd", ["stats", "build"])
def test_unreadable_inputs(files: dict[str, Path], runner, cmd: str, tmp_path: Path) -> None:
    def args(name: str) -> list[str]:
        extra = ["--out", str(tmp_path / "out.h5")] if cmd == "build" else []
        return ["dataset", cmd, str(files[name]), *extra]

    _fails(runner, args("missing"), "file not found", "nope.h5")
    _fails(runner, args("text"), "notes.h5 is not an HDF5 file")
    _fails(runner, args("trunc"), "trunc.h5", "truncated or corrupt")
    _fails(runner, args("narrow_raw"), "obs width 69, expected 88")


def test_wrong_kind_and_width(files: dict[str, Path], runner, tmp_path: Path) -> None:
    _fails(runner, ["dataset", "stats", str(files["narrow"])], "obs width 69, expected 88")
    _fails(runner, ["dataset", "build", str(files["ds"]), "--out", str(tmp_path / "o.h5")],
           "is a built dataset; expected a raw collect file")  # fmt: skip


def test_bad_options(files: dict[str, Path], runner, tmp_path: Path) -> None:
    out = str(tmp_path / "o.h5")
    _fails(runner, ["dataset", "build", str(files["raw"]), "--out", out, "--split", "0.8,0.2"],
           "--split must be three numbers")  # fmt: skip
    _fails(runner, ["dataset", "build", str(files["raw"]), "--out", str(files["ds"])],
           "exists; pass --force")  # fmt: skip
    _fails(runner, ["dataset", "build", str(files["raw"]), "--out",
                    str(tmp_path / "no" / "dir.h5")], "does not exist")  # fmt: skip
    _fails(runner, ["collect", "--out", out, "--dtype", "float64", "--steps", "2"], "--dtype")
    _fails(runner, ["collect", "--out", str(files["ds"]), "--steps", "2"], "exists; pass --force")
    _fails(runner, ["collect", "--out", out, "--steps", "2", "env.faults.p_fualt=0.5"],
           "unknown config key")  # fmt: skip
