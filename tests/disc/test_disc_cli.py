"""The disc CLI group: JSON on stdout, plots, and one-line errors with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.disc.synthetic import write_synthetic_dataset

runner = CliRunner()


def test_train_cli_json(tiny_ds: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "disc",
            "train",
            str(tiny_ds),
            "--epochs",
            "1",
            "device=cpu",
            "--json",
            "--log-root",
            str(tmp_path),
            "-e",
            "cli",
            "hidden_size=8",
            "chunk_len=16",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert Path(out["best_checkpoint"]).is_file()
    assert Path(out["run_dir"]).parent == tmp_path / "cli"
    params = yaml.safe_load((Path(out["run_dir"]) / "params" / "disc.yaml").read_text())
    assert params["config"]["device"] == "cpu"  # the override is not reset by --device's default
    assert params["config"]["hidden_size"] == 8 and params["config"]["epochs"] == 1


def test_eval_cli_json_and_plots(trained, tiny_ds: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "disc",
            "eval",
            str(trained.best_checkpoint),
            str(tiny_ds),
            "--device",
            "cpu",
            "--json",
            "--plots",
            str(tmp_path / "plots"),
            "--threshold",
            "0.5",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["fault_threshold"] == 0.5
    joints = [r["joint"] for r in rep["detection"]["per_joint"]]
    assert joints == ["left_hip_yaw", "left_knee", "torso", "left_elbow"]
    assert [r["isaaclab_index"] for r in rep["detection"]["per_joint"]] == [0, 11, 2, 17]
    for key in (
        "identified_within_window_of_saturation",
        "latency_from_saturation_median_s",
        "latency_from_saturation_p90_s",
        "latency_from_onset_median_s",
    ):
        assert key in rep["detection"]["per_joint"][0]
    assert {"healthy_step_rate", "healthy_episode_rate"} <= set(rep["false_alarms"])
    for name in ("confusion_matrix.png", "latency_cdf.png", "per_joint.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_eval_cli_table(trained, tiny_ds: Path) -> None:
    res = runner.invoke(
        app, ["disc", "eval", str(trained.best_checkpoint), str(tiny_ds), "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    assert "quality bar" in res.stdout and "left_elbow" in res.stdout


def test_export_cli(trained, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["disc", "export", str(trained.best_checkpoint), "--out", str(tmp_path / "d.ts"), "--json"],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["max_abs_diff"] < 1e-6


def _one_line_error(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    return lines[0]


def test_cli_wrong_obs_width(tmp_path: Path) -> None:
    bad = write_synthetic_dataset(tmp_path / "w.h5", num_episodes=6, episode_len=10, obs_dim=90)
    res = runner.invoke(app, ["disc", "train", str(bad), "--device", "cpu"])
    assert "obs width 90, expected 88" in _one_line_error(res)


def test_cli_checkpoint_with_other_classes(trained, tmp_path: Path) -> None:
    other = write_synthetic_dataset(
        tmp_path / "o.h5", num_episodes=8, episode_len=10, candidate_joints=(1, 2)
    )
    res = runner.invoke(
        app, ["disc", "eval", str(trained.best_checkpoint), str(other), "--device", "cpu"]
    )
    assert "differ" in _one_line_error(res)


def test_cli_bad_override_and_missing_files(tiny_ds: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["disc", "train", str(tiny_ds), "hidden=3"])
    assert "unknown config key 'hidden'; did you mean: hidden_size" in _one_line_error(res)
    res = runner.invoke(app, ["disc", "eval", str(tmp_path / "x.pt"), str(tiny_ds)])
    assert "checkpoint not found" in _one_line_error(res)
