"""disc train/export/calibrate/eval on a full disk, onto bad paths, with diverged weights, under
Ctrl-C: one line on stderr, exit 1 (130 for Ctrl-C), nothing half-written, nothing overwritten."""

from __future__ import annotations

import errno
import importlib
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest
import torch
from typer.testing import CliRunner

from h1fault import fileio
from h1fault.cli import app
from h1fault.disc import load_checkpoint, save_checkpoint
from h1fault.disc.export import export
from h1fault.disc.synthetic import write_synthetic_dataset
from h1fault.errors import H1FaultError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit in torch 2.13
runner = CliRunner()


def _error(args: list[str], code: int = 1) -> str:
    """The one message line (progress bars drawn before the failure may precede it)."""
    res = runner.invoke(app, args)
    assert res.exit_code == code, res.output
    assert res.stdout == "" and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert lines and lines[-1].startswith(("error: ", "interrupted: ")), res.stderr
    assert sum(line.startswith(("error:", "interrupted:")) for line in lines) == 1
    return lines[-1]


def _tmpfs(where: Path, size: str, ro: bool = False) -> Path:
    where.mkdir()
    opts = f"size={size}" + (",ro" if ro else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                         capture_output=True, text=True)  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    return where


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 12 kB tmpfs: smaller than any exported model or checkpoint."""
    mnt = _tmpfs(tmp_path / "mnt", "12k")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def ro_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = _tmpfs(tmp_path / "ro", "64k", ro=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file written through h1fault.fileio fails with ENOSPC at its first write."""

    class Full(io.FileIO):
        def write(self, data) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "open", lambda p, mode="r": Full(p, "w"), raising=False)


def test_export_onto_a_full_disk(trained, tiny_disk: Path) -> None:
    err = _error(["disc", "export", str(trained.best_checkpoint), "--out", str(tiny_disk / "d.ts")])
    assert err.startswith("error: cannot write") and "disk full" in err
    assert list(tiny_disk.iterdir()) == []  # no 0-byte output, no temp file


def test_export_enospc_at_the_write(trained, tmp_path: Path, enospc: None) -> None:
    with pytest.raises(H1FaultError, match="disk full"):
        export(trained.best_checkpoint, tmp_path / "d.ts")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_save_enospc_leaves_the_old_file(trained, tmp_path: Path, monkeypatch) -> None:
    net, meta = load_checkpoint(trained.best_checkpoint)
    path = save_checkpoint(tmp_path / "best.pt", net, meta)
    before = path.read_bytes()

    class Full(io.FileIO):
        def write(self, data) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "open", lambda p, mode="r": Full(p, "w"), raising=False)
    with pytest.raises(H1FaultError, match="disk full"):
        save_checkpoint(path, net, meta)
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


def test_train_onto_a_full_disk(tiny_ds: Path, tmp_path: Path, enospc: None) -> None:
    err = _error(["disc", "train", str(tiny_ds), "--epochs", "1", "device=cpu", "hidden_size=8",
                  "--log-root", str(tmp_path / "logs")])  # fmt: skip
    assert "disk full" in err and "checkpoints/last.pt" in err
    assert not list((tmp_path / "logs").rglob("*.tmp*"))


def test_train_log_root_not_writable(tiny_ds: Path, ro_disk: Path) -> None:
    for root in ("/proc/x", str(ro_disk / "logs")):
        err = _error(["disc", "train", str(tiny_ds), "--epochs", "1", "--log-root", root])
        assert err.startswith("error: cannot create a run folder under --log-root")


@pytest.mark.parametrize("cmd", ["export", "calibrate"])
def test_bad_out_paths(trained, tmp_path: Path, ro_disk: Path, tiny_ds: Path, cmd: str) -> None:
    ck = str(trained.best_checkpoint)
    args = ["disc", "export", ck] if cmd == "export" else ["disc", "calibrate", ck, str(tiny_ds),
                                                           "--device", "cpu"]  # fmt: skip
    (tmp_path / "adir").mkdir()
    assert "is a directory" in _error([*args, "--out", str(tmp_path / "adir")])
    assert "/proc" in _error([*args, "--out", "/proc/x.ts"])
    assert "read-only" in _error([*args, "--out", str(ro_disk / "x.ts")])
    assert "does not exist" in _error([*args, "--out", str(tmp_path / "no" / "x.ts")])
    assert not (tmp_path / "no").exists()  # parents are not created
    old = tmp_path / "old.ts"
    old.write_text("keep me")
    assert "pass --force" in _error([*args, "--out", str(old)])
    assert old.read_text() == "keep me"


def test_calibrate_never_replaces_its_input(trained, tiny_ds: Path) -> None:
    before = trained.best_checkpoint.read_bytes()
    err = _error(["disc", "calibrate", str(trained.best_checkpoint), str(tiny_ds), "--out",
                  str(trained.best_checkpoint), "--force"])  # fmt: skip
    assert "is the input checkpoint" in err
    assert trained.best_checkpoint.read_bytes() == before


def test_export_force_replaces(trained, tmp_path: Path) -> None:
    out = tmp_path / "d.ts"
    out.write_text("old")
    res = runner.invoke(app, ["disc", "export", str(trained.best_checkpoint), "--out", str(out),
                              "--force"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert torch.jit.load(str(out)) is not None


def test_diverged_weights_are_refused(trained, tmp_path: Path) -> None:
    """lr=inf used to save an all-NaN best.pt that exported with 'max |diff| nan', exit 0."""
    net, meta = load_checkpoint(trained.best_checkpoint)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    save_checkpoint(tmp_path / "nan.pt", net, meta)
    err = _error(["disc", "export", str(tmp_path / "nan.pt"), "--out", str(tmp_path / "n.ts")])
    assert "NaN or Inf" in err and not (tmp_path / "n.ts").exists()


def test_divergence_during_training_stops_the_run(tiny_ds: Path, tmp_path: Path,
                                                 monkeypatch) -> None:  # fmt: skip
    train_mod = importlib.import_module("h1fault.disc.train")  # the package re-exports train()

    monkeypatch.setattr(train_mod, "train_step", lambda net, opt, x, y, h, *a:
                        (torch.tensor(float("nan")), h))  # fmt: skip
    err = _error(["disc", "train", str(tiny_ds), "--epochs", "2", "device=cpu", "hidden_size=8",
                  "--log-root", str(tmp_path)])  # fmt: skip
    assert "training diverged in epoch 1" in err
    assert not list(tmp_path.rglob("*.pt"))


def test_pickled_object_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "evil.pt"
    torch.save({"format": "h1fault-disc", "obj": io.StringIO("x")}, bad)
    err = _error(["disc", "export", str(bad), "--out", str(tmp_path / "x.ts")])
    assert "never unpickles" in err and "weights_only" not in err
    err = _error(["disc", "export", str(tmp_path), "--out", str(tmp_path / "x.ts")])
    assert "is a directory" in err


def test_eval_empty_split_and_plots_file(trained, tmp_path: Path) -> None:
    ds = write_synthetic_dataset(tmp_path / "notest.h5", num_episodes=20, episode_len=40)
    with h5py.File(ds, "r+") as f:  # move the test episodes to val: an empty test split
        ep = f["episodes"][:]
        ep["split"][ep["split"] == 2] = 1
        f["episodes"][:] = ep
    err = _error(["disc", "eval", str(trained.best_checkpoint), str(ds), "--device", "cpu"])
    assert "test split has no episodes" in err
    plots = tmp_path / "plots.png"
    plots.write_text("a file")
    err = _error(["disc", "eval", str(trained.best_checkpoint), str(ds), "--split", "val",
                  "--device", "cpu", "--plots", str(plots)])  # fmt: skip
    assert "is a file" in err and plots.read_text() == "a file"


def test_ctrl_c_in_disc_train(tiny_ds: Path, tmp_path: Path, monkeypatch) -> None:
    train_mod = importlib.import_module("h1fault.disc.train")  # the package re-exports train()

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "val_metrics", interrupt)
    err = _error(["disc", "train", str(tiny_ds), "--epochs", "1", "device=cpu", "hidden_size=8",
                  "--log-root", str(tmp_path)], code=130)  # fmt: skip
    assert err.startswith("interrupted: disc train stopped in epoch 1; no checkpoint yet")


def test_export_check_fails_on_nan_or_large_diff(tmp_path: Path) -> None:
    from h1fault.disc.export import _check_diff

    _check_diff(1e-7, tmp_path / "x.ts")
    _check_diff(None, tmp_path / "x.ts")  # not checked (onnxruntime missing)
    for bad in (float("nan"), 1e-2):
        with pytest.raises(H1FaultError, match="differs from the Python model"):
            _check_diff(bad, tmp_path / "x.ts")
