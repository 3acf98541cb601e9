"""Every command with the nonsense values of issue 11: exit code 1, exactly one stderr line
starting with ``error:``, nothing on stdout, no file in the work folder created or changed."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.data.build import build_dataset
from h1fault.data.synthetic import SyntheticSpec, write_synthetic_raw
from h1fault.disc import DiscConfig, train
from h1fault.disc.synthetic import write_synthetic_dataset

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()
NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny valid inputs, built once: a raw file, its dataset, a disc dataset and checkpoint,
    legacy logs, an existing output, a folder."""
    d = tmp_path_factory.mktemp("fuzz")
    raw = write_synthetic_raw(d / "raw.h5", SyntheticSpec(num_envs=4, num_steps=80))
    ds = d / "ds.h5"
    build_dataset([raw], ds)
    dds = write_synthetic_dataset(d / "dds.h5", num_episodes=30, episode_len=40)
    torch.set_num_threads(1)
    res = train(dds, DiscConfig(hidden_size=8, chunk_len=16, batch_lanes=8, epochs=1,
                                device="cpu", calibrate=False),  # fmt: skip
                log_root=d / "logs", progress=False, tensorboard=False)  # fmt: skip
    obs = d / "obs.dat"
    obs.write_bytes(b"\0" * (4 * 88 * 20))
    events = d / "events.dat"
    events.write_text("")
    torch.save({"policy": io.StringIO("an object, not tensors")}, d / "evil.pt")
    existing = d / "existing.ts"
    existing.write_text("keep")
    (d / "adir").mkdir()
    return {"d": d, "raw": raw, "ds": ds, "dds": dds, "ckpt": res.best_checkpoint, "obs": obs,
            "events": events, "existing": existing}  # fmt: skip


def _cases(w: dict[str, Path]) -> list[tuple[list[str], str]]:
    d, ck, dds = w["d"], str(w["ckpt"]), str(w["dds"])
    out = str(d / "new.h5")
    raw, ds = str(w["raw"]), str(w["ds"])
    imp = ["dataset", "import", str(w["obs"]), str(w["events"]), "--out", out, "--no-progress"]
    cases: list[tuple[list[str], str]] = [
        # disc train
        (["disc", "train", dds, "lr=nan"], "lr must be a finite number"),
        (["disc", "train", dds, "lr=inf"], "lr must be a finite number"),
        (["disc", "train", dds, "weight_decay=-1"], "weight_decay must be >= 0"),
        (["disc", "train", dds, "--log-root", "/proc/x", "--epochs", "1", "device=cpu"],
         "cannot create a run folder"),
        # disc export
        (["disc", "export", ck, "--out", str(d / "adir")], "is a directory"),
        (["disc", "export", ck, "--out", "/proc/x.ts"], "cannot write into /proc"),
        (["disc", "export", ck, "--out", str(w["existing"])], "pass --force"),
        (["disc", "export", ck, "--out", str(d / "no" / "x.ts")], "does not exist"),
        (["disc", "export", str(w["raw"]), "--out", str(d / "x.ts")], "not a discriminator"),
        # disc calibrate
        (["disc", "calibrate", ck, dds, "--out", ck, "--force"], "is the input checkpoint"),
        (["disc", "calibrate", ck, dds, "--envs", "0"], "--envs must be an integer >= 1"),
        (["disc", "calibrate", ck, dds, "--out", "/proc/x.pt"], "cannot write into /proc"),
        # disc eval
        (["disc", "eval", ck, dds, "--window", "-1"], "--window must be > 0"),
        (["disc", "eval", ck, dds, "--window", "nan"], "--window must be > 0"),
        (["disc", "eval", ck, dds, "--envs", "0"], "--envs must be an integer >= 1"),
        (["disc", "eval", ck, dds, "--plots", str(w["existing"])], "is a file"),
        # dataset build / stats / import
        (["dataset", "build", raw, "--out", out, "--split", "nan,0.5,0.5"], "split fractions"),
        (["dataset", "build", raw, "--out", str(d / "adir"), "--force"], "is a directory"),
        (["dataset", "build", raw, "--out", str(w["existing"])], "pass --force"),
        (["dataset", "stats", ds, "--threshold", "nan"], "--threshold must be in (0, 1)"),
        (["dataset", "stats", ds, "--threshold", "-1"], "--threshold must be in (0, 1)"),
        (["dataset", "stats", ds, "--plot", str(d / "p.xyz")], "must end in .png"),
        (["dataset", "stats", ds, "--plot", str(d / "adir")], "is a directory"),
        (["dataset", "stats", str(d / "x[bold]y.h5")], "x[bold]y.h5"),
        ([*imp, "--p-fault", "2"], "--p-fault must be in [0, 1]"),
        ([*imp, "--p-fault", "nan"], "--p-fault must be in [0, 1]"),
        ([*imp, "--control-dt", "0"], "--control-dt must be > 0"),
        ([*imp, "--scale-range", "0.5,0.1"], "low <= high"),
        # collect
        (["collect", "--out", out, "--device", "bogus"], "unknown --device 'bogus'"),
        (["collect", "--out", out, "--envs", "0"], "--envs must be an integer >= 1"),
        (["collect", "--out", out, "--envs", "100000000", "--steps", "1"], "of memory"),
        (["collect", "--out", out, "--envs", "64", "--steps", "100000000"], "GB for"),
        (["collect", "--out", out, "--steps", "4", "env.faults.scale_range=hello"],
         "[a,b]"),
        (["collect", "--out", str(d / "adir"), "--force", "--steps", "4"], "is a directory"),
        # train-healthy / play
        (["train-healthy", "--envs", "0"], "--envs must be an integer >= 1"),
        (["train-healthy", "--max-iterations", "-1"], "--max-iterations must be an integer"),
        (["train-healthy", "--device", "bogus"], "unknown --device"),
        (["play", "--episodes", "-3"], "--episodes must be an integer >= 1"),
        (["play", "--episodes", "0", "--json"], "--episodes must be an integer >= 1"),
        (["play", "--device", "bogus"], "unknown --device"),
        (["play", "--checkpoint", str(d / "evil.pt")], "h1fault never unpickles those"),
        (["play", "--checkpoint", str(d / "adir")], "is a directory"),
        (["disc", "eval", ck, str(d / "adir")], "is a directory"),
    ]  # fmt: skip
    if NO_CUDA:  # on a GPU machine these are valid
        cases += [
            (["collect", "--out", out, "--device", "cuda"], "CUDA is not available"),
            (["play", "--device", "cuda"], "CUDA is not available"),
            (["train-healthy", "--device", "cuda"], "CUDA is not available"),
        ]
    return cases


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


def test_every_command_refuses_nonsense(work: dict[str, Path]) -> None:
    failures = []
    for args, needle in _cases(work):
        before = _snapshot(work["d"])
        res = runner.invoke(app, args)
        lines = res.stderr.splitlines()
        ok = (
            res.exit_code == 1
            and res.stdout == ""
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and needle in lines[0]
            and _snapshot(work["d"]) == before
        )
        if not ok:
            failures.append(f"{args}: exit {res.exit_code}, stdout {res.stdout[-200:]!r}, "
                            f"stderr {res.stderr[-400:]!r}")  # fmt: skip
    assert not failures, "\n".join(failures)
    assert os.listdir(work["d"] / "adir") == []


def test_json_output_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    """`play --episodes 0 --json` used to print NaN, which JSON parsers reject."""
    import json

    from h1fault.cli_common import print_json

    print_json({"a": float("nan"), "b": [1.0, float("inf")], "c": torch.tensor(2.5)})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [1.0, None], "c": 2.5}
