"""``h1fault closed-loop``: a tiny run end to end, and bad input as one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.rl.bank import bank_from_healthy
from h1fault.sim.model import joint_index

TINY = ["-n", "2", "env.episode_length_s=0.3", "env.faults.onset_window_s=[0.06,0.2]"]


def _invoke(args: list[str]):
    return CliRunner().invoke(app, ["closed-loop", *args])


def _one_line_error(result, match: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert match in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def knee_bank(tmp_path_factory, policy) -> Path:
    """A bank (every expert the healthy policy) for the two knees only."""
    path = tmp_path_factory.mktemp("bank") / "knees.pt"
    knees = [joint_index("left_knee"), joint_index("right_knee")]
    return bank_from_healthy(policy, knees).save(path, {"command": "test"})


def test_tiny_run_json_and_plots(tmp_path: Path, knee_bank: Path) -> None:
    fault = ["--fault-joint", "left_knee", "--fault-scale", "0.05", "--fault-onset", "0.1"]
    rows = ["--controllers", "healthy,oracle_onset"]
    result = _invoke([*TINY, "--bank", str(knee_bank), *rows, *fault, "--plots", str(tmp_path),
                      "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["controllers"]) == ["healthy", "oracle_onset"]
    assert report["identical_fault_draws"] is True
    for row in report["controllers"].values():
        assert row["faulted"]["episodes"] == 2
        assert list(row["per_joint"]) == ["left_knee"]
        assert row["per_joint"]["left_knee"]["by_scale"][0]["episodes"] == 2
    assert report["controllers"]["oracle_onset"]["switches"]["wrong_joint"] == 0
    for name in ("fall_rate_per_joint.png", "fall_rate_vs_scale.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_bank_without_experts_for_the_fault_model_is_one_line(knee_bank: Path) -> None:
    # the default fault model picks 17 joints; this bank has the knees only
    _one_line_error(_invoke([*TINY, "--bank", str(knee_bank)]), "no expert for left_hip_yaw")


def test_bank_of_the_wrong_shape_is_one_line(tmp_path: Path, knee_bank: Path) -> None:
    data = torch.load(knee_bank, weights_only=True)
    data["actor"] = {k: torch.zeros(3, 3) for k in data["actor"]}
    torch.save(data, tmp_path / "bad.pt")
    _one_line_error(_invoke([*TINY, "--bank", str(tmp_path / "bad.pt")]), "do not match")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    _one_line_error(_invoke([*TINY, "--bank", str(tmp_path / "junk.pt")]), "cannot read bank")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--controllers", "healthy,bogus"], "unknown controller"),
        (["--controllers", "healthy,robust"], "--robust"),
        (["--controllers", ","], "--controllers is empty"),
        (["--fault-joint", "left_nee"], "unknown joint name"),
        (["--fault-joint", "left_knee", "--fault-scale", "1.5"], "fault scale"),
        (["--fault-joint", "left_knee", "--fault-onset", "9"], "onset_window_s"),
        (["--video", "v.avi"], ".gif, .webp or .mp4"),
        (["--video", "v.gif", "--video-size", "10x10"], "--video-size"),
        (["--video", "v.gif", "--video-env", "5"], "--video-env"),
        (["--video", "v.gif", "--video-fps", "60"], "--video-fps"),
        (["--controllers", "healthy", "--video", "v.gif"], "--video-rows"),
        (["--robust", "missing.pt"], "not found"),
        (["--disc", "missing.pt", "--controllers", "healthy"], "not found"),
        (["env.faults.p_fault=2"], "p_fault"),
        (["env.bogus=1"], "unknown config key"),
        (["-n", "0"], "--envs"),
        (["--device", "bogus"], "--device"),
        (["--video", "v.gif", "--video-seconds", "nan"], "--video-seconds"),
        (["--fault-joint", "left_knee", "--fault-scale", "nan"], "fault scale"),
    ],
)
def test_bad_input_is_one_line(args: list[str], match: str) -> None:
    _one_line_error(_invoke([*TINY, *args]), match)


def test_side_by_side_video_of_a_few_frames(tmp_path: Path, knee_bank: Path) -> None:
    """Rendering needs MUJOCO_GL before MuJoCo is imported: a child process (skipped where no
    GL backend works, see tests/sim/test_sim_render.py)."""
    import subprocess
    import sys

    from tests.sim.test_sim_render import _env, _gl_problem

    problem = _gl_problem()
    if problem:
        pytest.skip(problem)
    out = tmp_path / "v.gif"
    args = [sys.executable, "-m", "h1fault", "closed-loop", *TINY, "--bank", str(knee_bank),
            "--controllers", "healthy,oracle_onset", "--fault-joint", "left_knee",
            "--fault-onset", "0.04", "--video", str(out), "--video", str(out.with_suffix(".webp")),
            "--video-seconds", "0.1", "--video-size", "96x64", "--json"]  # fmt: skip
    run = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["video"] == [str(out), str(out.with_suffix(".webp"))]
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (2 * 96, 64)  # two panels side by side
        assert 2 <= img.n_frames <= 3  # 0.1 s at 25 fps: steps 0, 2, 4
    with Image.open(out.with_suffix(".webp")) as img:
        assert img.size == (2 * 96, 64)


@pytest.mark.skipif(bool(os.environ.get("MUJOCO_GL") or os.environ.get("DISPLAY")),
                    reason="a GL backend may work in this process")  # fmt: skip
def test_missing_gl_is_one_line_before_the_rollout(knee_bank: Path, tmp_path: Path) -> None:
    # MuJoCo picked GLFW at import (no MUJOCO_GL) and there is no display: the check fails
    # at once, before any env steps (a rollout would print progress bars first)
    video = ["--video", str(tmp_path / "v.gif")]
    result = _invoke([*TINY, "--bank", str(knee_bank), "--controllers", "healthy,oracle_onset",
                      "--fault-joint", "left_knee", "--fault-onset", "0.1", *video])  # fmt: skip
    _one_line_error(result, "offscreen rendering unavailable")
    assert not (tmp_path / "v.gif").exists()
