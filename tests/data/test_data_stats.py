"""dataset stats: every check passes on a clean file and fails, by name, on its defect."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.cli import app
from h1fault.data.build import BuildConfig, build_dataset
from h1fault.data.stats import (
    P_THRESHOLD,
    Summary,
    check_joint_distribution,
    dataset_stats,
    run_checks,
)
from h1fault.sim.model import DEFAULT_FAULT_CANDIDATES, joint_index

CANDIDATES = [joint_index(j) for j in DEFAULT_FAULT_CANDIDATES]


def _stats(runner, path: Path, *extra: str):
    return runner.invoke(app, ["dataset", "stats", str(path), "--no-progress", *extra])


def _statuses(rep: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in rep["checks"]}


def test_clean_file_passes_every_check(balanced_raw: Path, tmp_path: Path, runner) -> None:
    ds = tmp_path / "ds.h5"
    assert runner.invoke(app, ["dataset", "build", str(balanced_raw), "--out", str(ds),
                               "--no-progress"]).exit_code == 0  # fmt: skip
    res = _stats(runner, ds, "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["ok"] and rep["kind"] == "dataset"
    assert set(_statuses(rep).values()) == {"pass"}, _statuses(rep)  # all active, none skipped
    assert len(rep["joints"]) == 17 and rep["samples"] == 16 * 1200
    assert abs(sum(j["share"] for j in rep["joints"]) + rep["healthy"]["share"] - 1) < 1e-9
    assert rep["coverage"][0]["envs_with_samples"] == 16
    # the raw file itself can be checked too
    rep_raw = dataset_stats(balanced_raw)
    assert rep_raw["ok"] and rep_raw["kind"] == "raw"
    assert _statuses(rep_raw)["finite_obs"] == "pass"
    # human output: a table per joint with both indices
    res = _stats(runner, ds)
    assert res.exit_code == 0
    assert "right_knee" in res.stdout and "healthy" in res.stdout and "checks" in res.stdout


def test_joint_12_counts_fail_loudly() -> None:
    """The motivating dataset: 3,072,000 samples, 2,763,852 labelled with one joint (Isaac Lab
    index 12 = right_knee, model index 8), every other joint 0."""
    j = 8
    samples = np.zeros(19, np.int64)
    samples[j] = 2_763_852
    episodes = np.zeros(19, np.int64)
    episodes[j] = 3_072  # one fault per 1000-step episode
    checks = {c.name: c for c in check_joint_distribution(episodes, samples, CANDIDATES,
                                                          3_072_000)}  # fmt: skip
    dist, present = checks["joint_distribution"], checks["all_candidates_present"]
    assert dist.status == "fail" and present.status == "fail"
    assert "right_knee (model 8, Isaac Lab 12)" in dist.message
    assert "2,763,852 of 3,072,000 samples" in dist.message
    assert "16 candidate joints never faulted" in dist.message
    assert "16 of 17 candidate joints never faulted" in present.message


def test_joint_12_file_fails_naming_the_joint(make_raw: Callable[..., Path], tmp_path, runner):
    """A smaller end-to-end file where every fault hits model joint 12, through the CLI."""
    raw = make_raw(num_envs=8, num_steps=400, episode_steps=40, onset_window_steps=(2, 6),
                   p_fault=1.0, only_joint=12)  # fmt: skip
    ds = tmp_path / "ds.h5"
    build = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(ds), "--no-progress"])
    assert build.exit_code == 0 and "warning: joint_distribution" in build.output
    res = _stats(runner, ds)
    assert res.exit_code == 1
    err = res.stderr
    assert "check 'joint_distribution' failed" in err
    assert "left_shoulder_roll (model 12, Isaac Lab 9)" in err
    assert "80 of 80 faulted episodes" in err and "16 candidate joints never faulted" in err


def test_torque_not_restored_fails(make_raw: Callable[..., Path], tmp_path: Path, runner) -> None:
    raw = make_raw(not_restored_env=1, seed=1)
    ds = tmp_path / "ds.h5"
    build_dataset([raw], ds)
    res = _stats(runner, ds)
    assert res.exit_code == 1
    assert "labels_match_logged_faults" in res.stderr
    assert "not restored at reset" in res.stderr and "env 1" in res.stderr
    assert _stats(runner, raw).exit_code == 1  # the raw file fails the same way


def test_two_faults_in_one_episode_fails(make_raw: Callable[..., Path], tmp_path: Path, runner):
    raw = make_raw(double_fault_env=2)
    ds = tmp_path / "ds.h5"
    build_dataset([raw], ds)
    res = _stats(runner, ds, "--json")
    assert res.exit_code == 1
    st = _statuses(json.loads(res.stdout))
    assert st["one_fault_per_episode"] == "fail"
    assert "one_fault_per_episode" in res.stderr and "env 2 episode 0" in res.stderr


def test_missing_env_fails(make_raw: Callable[..., Path], tmp_path: Path, runner) -> None:
    """Env 3 never finishes an episode in an interrupted run: --allow-partial drops it all."""
    raw = make_raw(num_envs=4, num_steps=200, written_steps=90, stall_env=3)
    ds = tmp_path / "ds.h5"
    build_dataset([raw], ds, BuildConfig(allow_partial=True))
    res = _stats(runner, ds)
    assert res.exit_code == 1
    assert "env_coverage" in res.stderr and "env 3 contributes no samples" in res.stderr


def test_nan_obs_fails(make_raw: Callable[..., Path], tmp_path: Path, runner) -> None:
    raw = make_raw(nan_at=(33, 1))
    res = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(tmp_path / "x.h5"),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 1 and "non-finite obs at env 1, row 33" in res.stderr
    res = _stats(runner, raw)
    assert res.exit_code == 1 and "finite_obs" in res.stderr and "env 1, row 33" in res.stderr
    # a dataset that got a NaN afterwards
    clean = make_raw("clean")
    ds = tmp_path / "ds.h5"
    build_dataset([clean], ds)
    with h5py.File(ds, "r+") as f:
        f["obs"][17, 40] = np.inf
    res = _stats(runner, ds)
    assert res.exit_code == 1 and "check 'finite_obs' failed" in res.stderr
    assert "sample 17" in res.stderr


def test_non_candidate_joint_fails(make_raw: Callable[..., Path], tmp_path: Path, runner):
    raw = make_raw(only_joint=4)  # left_ankle: never a candidate
    res = _stats(runner, raw)
    assert res.exit_code == 1
    assert "candidates_only" in res.stderr and "left_ankle (model 4, Isaac Lab 15)" in res.stderr


def test_fault_rate_disagreeing_with_p_fault_fails(balanced_raw: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds.h5"
    build_dataset([balanced_raw], ds)
    with h5py.File(ds, "r+") as f:
        cfg = json.loads(f.attrs["fault_config"])
        cfg["p_fault_effective"] = 0.4  # the data were collected with 0.75
        f.attrs["fault_config"] = json.dumps(cfg)
    st = _statuses(dataset_stats(ds))
    assert st["fault_rate"] == "fail" and st["joint_distribution"] == "pass"


def test_fault_rate_is_not_fooled_by_faults_that_cause_falls(tmp_path: Path) -> None:
    """Faulted episodes fall early (as on the robot): their length depends on the fault, so the
    expected rate must not be computed from it. Seen on a real 2048-env collect (p=5e-4)."""
    from h1fault.data.synthetic import SyntheticSpec, write_synthetic_raw

    spec = SyntheticSpec(num_envs=64, num_steps=600, episode_steps=200, p_fault=0.75,
                         onset_window_steps=(20, 180), fault_fall_prob=0.05, seed=1)  # fmt: skip
    raw = write_synthetic_raw(tmp_path / "raw.h5", spec)
    ds = tmp_path / "ds.h5"
    build_dataset([raw], ds)
    rep = dataset_stats(ds)
    st = _statuses(rep)
    assert st["fault_rate"] == "pass", rep
    with h5py.File(ds, "r") as f:
        ep = f["episodes"][:]
    # the defect is real: among fallen episodes nearly all are faulted
    fell = ep["terminated"]
    assert fell.sum() > 50 and (ep["fault_joint"][fell] >= 0).mean() > 0.95


def test_labels_edited_after_build_fail(make_raw: Callable[..., Path], tmp_path: Path) -> None:
    ds = tmp_path / "ds.h5"
    build_dataset([make_raw()], ds)
    with h5py.File(ds, "r+") as f:
        f["label"][0:5] = 12
    st = _statuses(dataset_stats(ds))
    assert st["labels_match_episodes"] == "fail"


def test_checks_skip_rather_than_guess_on_small_data(make_raw: Callable[..., Path]) -> None:
    rep = dataset_stats(make_raw(num_envs=2, num_steps=40, episode_steps=20))
    st = _statuses(rep)
    assert rep["ok"] and st["all_candidates_present"] == "skip"


def test_unit_checks_on_a_summary() -> None:
    """run_checks works on a hand-made summary (no file): a non-candidate episode fails."""
    from h1fault.data.schema import EPISODE_DTYPE

    ep = np.zeros(3, EPISODE_DTYPE)
    ep["env"], ep["length"], ep["fault_joint"], ep["onset"] = [0, 1, 1], 50, [4, -1, 3], [5, -1, 5]
    ep["start"], ep["num_events"], ep["ended"] = [0, 50, 100], [1, 0, 1], True
    s = Summary(path=Path("x.h5"), kind="dataset", num_samples=150, episodes=ep,
                label_counts=np.bincount([4] * 45 + [3] * 45, minlength=19), healthy_samples=60,
                joint_names=[], candidate_joints=CANDIDATES, fault_config={}, control_dt=0.02,
                sources=["raw.h5"], source_num_envs=[3], crosscheck=None)  # fmt: skip
    st = {c.name: c for c in run_checks(s, P_THRESHOLD)}
    assert st["candidates_only"].status == "fail" and "left_ankle" in st["candidates_only"].message
    assert st["env_coverage"].status == "fail" and "env 2" in st["env_coverage"].message
    assert st["fault_rate"].status == "skip"


def test_plot(balanced_raw: Path, tmp_path: Path, runner) -> None:
    png = tmp_path / "shares.png"
    res = _stats(runner, balanced_raw, "--plot", str(png))
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("threshold", ["0.5"])
def test_threshold_option(balanced_raw: Path, runner, threshold: str) -> None:
    """A (silly) high threshold makes the goodness-of-fit tests fail: the threshold is used."""
    res = _stats(runner, balanced_raw, "--threshold", threshold, "--json")
    rep = json.loads(res.stdout)
    assert rep["threshold"] == 0.5
    pvals = [c for c in rep["checks"] if c["name"] in ("joint_distribution", "fault_rate")]
    assert all(("p=" in c["message"]) for c in pvals)
