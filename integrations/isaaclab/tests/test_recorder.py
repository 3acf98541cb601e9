"""The recorder on the real task: h1fault's raw format that the main environment builds and checks,
and a run killed with SIGKILL leaves a readable partial file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from conftest import NUM_ENVS, REPO, TASK, main_python
from h1fault_isaaclab.collect import run_collect

from h1fault.data.writer import WriterConfig
from h1fault.sim.model import JOINT_NAMES


def _main(*args: str) -> subprocess.CompletedProcess:
    """``python -m h1fault ...`` in h1fault's main environment (this repo's code)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([main_python(), "-m", "h1fault", *args], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip


def test_disc_columns_follow_model_order(rec) -> None:
    """Columns 12-68 of the disc stream take each model joint from its articulation column."""
    names = list(rec.robot.joint_names)
    cols = rec._obs_cols.tolist()
    assert cols[:12] == list(range(12))
    for b in (12, 31, 50):
        assert [cols[b + m] - b for m in range(19)] == [names.index(n) for n in JOINT_NAMES]


def test_recorded_file_builds_and_passes_stats(rec, tmp_path: Path) -> None:
    """48 steps x 4 envs into a raw file; ``dataset build`` and ``dataset stats`` (main env) pass,
    and the torques in the file are the applied torques (rows shifted by one step)."""
    raw = tmp_path / "raw.h5"
    res = run_collect(TASK, raw, NUM_ENVS, 48, env=rec, progress=False,
                      writer=WriterConfig(flush_steps=8))  # fmt: skip
    assert res.complete and res.num_steps == 48
    with h5py.File(raw, "r") as f:
        assert f.attrs["format"] == "h1fault-raw" and f.attrs["complete"]
        assert f["obs"].shape == (48, NUM_ENVS, 88)
        ev = f["events"][:]
        assert len(ev) >= 1
        joint = f["fault_joint"][:]
        for e in ev:  # each onset row is where the per-step state turns the cut on
            assert joint[e["global_step"], e["env"]] == e["joint"]
        assert np.isfinite(f["obs"][:]).all()
        assert json.loads(f.attrs["env_config"])["task"] == TASK
    ds = tmp_path / "ds.h5"
    build = _main("dataset", "build", str(raw), "--out", str(ds), "--no-progress")
    assert build.returncode == 0, build.stderr
    stats = _main("dataset", "stats", str(ds), "--json", "--no-progress")
    assert stats.returncode == 0, stats.stdout + stats.stderr
    checks = json.loads(stats.stdout)["checks"]
    assert all(c["status"] in ("pass", "skip") for c in checks), checks


def test_kill9_leaves_readable_partial_file(tmp_path: Path) -> None:
    """SIGKILL a CLI collect after a few flushes (10-step episodes): the file opens, holds every
    flushed step, has no ``complete`` attr, and ``dataset build --allow-partial`` (main env)
    builds its finished episodes."""
    raw = tmp_path / "raw.h5"
    cmd = [sys.executable, "-m", "h1fault_isaaclab.cli", "collect", "--envs", str(NUM_ENVS),
           "--steps", "100000", "--flush-steps", "4", "--no-progress", "--out", str(raw),
           "--episode-length-s", "0.2", "faults.onset_window_s=[0.02,0.1]"]  # fmt: skip
    log = open(tmp_path / "collect.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    written = 0
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(2)
            if raw.exists():
                try:
                    with h5py.File(raw, "r", locking=False) as f:
                        written = int(f.attrs.get("num_steps_written", 0))
                except OSError:
                    continue
                if written >= 16:
                    break
        assert proc.poll() is None, (tmp_path / "collect.log").read_text()[-2000:]
        assert written >= 16, "collect wrote nothing in 600 s"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        log.close()
    with h5py.File(raw, "r", locking=False) as f:
        n = int(f.attrs["num_steps_written"])
        assert n >= 16 and n % 4 == 0
        assert "complete" not in f.attrs
        assert np.isfinite(f["obs"][:n]).all()
    out = _main("dataset", "build", str(raw), "--out", str(tmp_path / "ds.h5"), "--allow-partial",
                "--no-progress")  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    """Missing checkpoint, bad override key and an existing --out: one line, exit 1, no env."""
    from h1fault_isaaclab.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    out = tmp_path / "raw.h5"
    cases = [
        ["collect", "--out", str(out), "--checkpoint", str(tmp_path / "nope.pt")],
        ["collect", "--out", str(out), "faults.p_faul=0.5"],
        ["collect", "--out", str(out), "sim.dt=0.1"],
    ]
    out.write_bytes(b"keep")
    cases.append(["collect", "--out", str(out)])
    for args in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert out.read_bytes() == b"keep"


def test_unknown_task_is_one_line_error(rec) -> None:
    """A task id that is not registered names close matches."""
    import pytest
    from h1fault_isaaclab.launch import make_env_cfg

    from h1fault.errors import H1FaultError

    with pytest.raises(H1FaultError, match="unknown Isaac Lab task.*Isaac-Velocity-Flat-H1"):
        make_env_cfg("Isaac-Velocity-Flat-H2", 4)


def test_random_actor_is_deterministic(rec) -> None:
    """The no-checkpoint policy is seeded: same seed, same actions."""
    from h1fault_isaaclab.policy import random_actor

    obs = torch.randn(4, 69)
    assert torch.equal(random_actor(69, 19, 5)(obs), random_actor(69, 19, 5)(obs))
