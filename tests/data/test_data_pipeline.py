"""The real thing on CPU: collect with the H1 env (4 envs) and the shipped policy -> build ->
stats passes, all through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from h1fault.cli import app


def test_collect_build_stats_real_env(tmp_path: Path, runner) -> None:
    raw, ds = tmp_path / "raw.h5", tmp_path / "ds.h5"
    res = runner.invoke(app, [
        "collect", "--envs", "4", "--steps", "150", "--out", str(raw), "--flush-steps", "16",
        "--no-progress", "--json", "env.episode_length_s=1.0", "env.faults.p_fault=1.0",
        "env.faults.onset_window_s=[0.1,0.6]",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["complete"] and out["num_steps"] == 150 and out["num_events"] >= 8
    with h5py.File(raw, "r") as f:
        assert f["obs"].shape == (150, 4, 88) and np.isfinite(f["obs"][:]).all()
        assert len(f.attrs["policy_sha256"]) == 64
        assert json.loads(f.attrs["fault_config"])["p_fault"] == 1.0
        assert json.loads(f.attrs["env_config"])["episode_length_s"] == 1.0
        # torques (last 19 columns) are the applied ones as measured: bounded by the nominal
        # limits plus the torque sensor's error (default 5 % gain + 2 % noise + 3 % bias)
        limits = np.asarray(json.loads(f.attrs["nominal_torque_limits"]))
        assert (np.abs(f["obs"][1:, :, 69:]) <= limits * 1.1 + 1e-3).all()
        assert json.loads(f.attrs["env_config"])["torque_sensor"]["enabled"]
        assert f["env_policy"][()].tolist() == [0, 0, 0, 0]
    res = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(ds), "--no-progress"])
    assert res.exit_code == 0, res.output
    for path in (ds, raw):
        res = runner.invoke(app, ["dataset", "stats", str(path), "--no-progress", "--json"])
        assert res.exit_code == 0, res.output
        rep = json.loads(res.stdout)
        assert rep["ok"]
        st = {c["name"]: c["status"] for c in rep["checks"]}
        for name in ("finite_obs", "candidates_only", "one_fault_per_episode",
                     "labels_match_logged_faults", "env_coverage", "fault_rate",
                     "fault_parameters"):  # fmt: skip
            assert st[name] == "pass", (name, rep["checks"])
