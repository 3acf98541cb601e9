"""Multi-policy collect: each env group is driven by its own checkpoint, the file says which, and
the file still builds and passes ``dataset stats``."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from h1fault.cli import app
from h1fault.data.collect import MultiPolicy, policy_groups
from h1fault.errors import H1FaultError
from h1fault.fileio import file_sha256
from h1fault.rl.policy import default_policy_path, load_policy


def test_policy_groups_are_contiguous_and_near_equal() -> None:
    assert policy_groups(5, 2).tolist() == [0, 0, 0, 1, 1]
    assert policy_groups(4, 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(H1FaultError):
        policy_groups(2, 3)


def test_multi_policy_acts_per_group() -> None:
    a = lambda x: x[:, :2] * 0 + 1  # noqa: E731
    b = lambda x: x[:, :2] * 0 - 1  # noqa: E731
    out = MultiPolicy([a, b], policy_groups(5, 2))(torch.zeros(5, 69))
    assert out[:, 0].tolist() == [1, 1, 1, -1, -1]


def test_collect_two_policies_records_each_env(tmp_path: Path, runner) -> None:
    # a second, different policy: the shipped one with its output layer scaled
    blob = torch.load(default_policy_path(), weights_only=True)
    last = max((k for k in blob["policy"] if k.endswith(".weight")),
               key=lambda k: int(k.split(".")[1]))  # fmt: skip
    blob["policy"][last] = blob["policy"][last] * 0.5
    other = tmp_path / "other.pt"
    torch.save(blob, other)
    raw, ds = tmp_path / "raw.h5", tmp_path / "ds.h5"
    res = runner.invoke(app, [
        "collect", "--envs", "4", "--steps", "60", "--out", str(raw), "--no-progress",
        "--policy", str(default_policy_path()), "--policy", str(other),
        "env.episode_length_s=0.6", "env.faults.p_fault=1.0", "env.faults.onset_window_s=[0.1,0.4]",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    policies = [load_policy(default_policy_path()), load_policy(other)]
    with h5py.File(raw, "r") as f:
        groups = f["env_policy"][()]
        assert groups.tolist() == [0, 0, 1, 1]
        meta = json.loads(f.attrs["policies"])
        assert [m["sha256"] for m in meta] == [file_sha256(default_policy_path()),
                                               file_sha256(other)]  # fmt: skip
        assert [m["num_envs"] for m in meta] == [2, 2]
        obs, sie = f["obs"][()], f["step_in_episode"][()]
    # row t+1's last-action block is the action its env's own policy took on row t
    checked = 0
    for t in range(len(obs) - 1):
        for n in range(4):
            if sie[t + 1, n] == 0:
                continue  # a reset zeroes the last action
            act = policies[groups[n]](torch.from_numpy(obs[t, n : n + 1, :69]))[0]
            np.testing.assert_allclose(obs[t + 1, n, 50:69], act.numpy(), atol=1e-5)
            other_act = policies[1 - groups[n]](torch.from_numpy(obs[t, n : n + 1, :69]))[0]
            assert not np.allclose(obs[t + 1, n, 50:69], other_act.numpy(), atol=1e-3)
            checked += 1
    assert checked > 100
    res = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(ds), "--no-progress"])
    assert res.exit_code == 0, res.output
    for path in (ds, raw):
        res = runner.invoke(app, ["dataset", "stats", str(path), "--no-progress", "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["ok"], res.stdout


def test_collect_refuses_a_bad_second_policy(tmp_path: Path, runner) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "raw.h5"
    res = runner.invoke(
        app,
        [
            "collect",
            "--envs",
            "2",
            "--steps",
            "5",
            "--out",
            str(out),
            "--policy",
            str(default_policy_path()),
            "--policy",
            str(bad),
        ],
    )
    assert res.exit_code == 1 and "error:" in res.output and not out.exists()
