"""collect with a physics-free env: row alignment, attrs, interruption (Ctrl-C, SIGTERM, kill)."""

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
import pytest
import torch
from data_fake_env import FakeVecEnv

from h1fault.data.build import BuildConfig, build_dataset
from h1fault.data.collect import collect
from h1fault.data.synthetic import NOMINAL_LIMITS
from h1fault.data.writer import WriterConfig
from h1fault.errors import H1FaultError
from h1fault.sim.contract import STEP_INFO_KEYS, StepResult, VecEnv

HERE = Path(__file__).resolve().parent


def echo_policy(obs: torch.Tensor) -> torch.Tensor:
    """Action 0 = the global step it saw (obs column 0), so the next obs shows what was seen."""
    return obs[:, :1].expand(-1, 19).clone()


def test_fake_env_implements_the_contract() -> None:
    env = FakeVecEnv(num_envs=4)
    assert isinstance(env, VecEnv)
    obs, info = env.reset()
    assert obs.shape == (4, env.num_obs) and info["disc_obs"].shape == (4, env.num_disc_obs)
    result = env.step(torch.zeros(4, env.num_actions))
    assert isinstance(result, StepResult) and set(STEP_INFO_KEYS) <= set(result.info)


@pytest.mark.parametrize("dense_onset", [True, False])
def test_rows_are_aligned(tmp_path: Path, dense_onset: bool) -> None:
    env = FakeVecEnv(num_envs=4, episode_steps=20, fall_env=2, dense_onset=dense_onset)
    res = collect(env, echo_policy, tmp_path / "raw.h5", 50, writer=WriterConfig(flush_steps=8),
                  attrs={"policy_sha256": "abc"}, progress=False)  # fmt: skip
    assert res.complete and res.num_steps == 50 and not res.interrupted
    with h5py.File(res.path, "r") as f:
        obs = f["obs"][:]
        t = np.arange(50)[:, None]
        np.testing.assert_array_equal(obs[:, :, 0], np.broadcast_to(t, (50, 4)))  # obs[t] is
        np.testing.assert_array_equal(obs[:, :, 1], np.broadcast_to(np.arange(4), (50, 4)))
        np.testing.assert_array_equal(obs[:, :, 2], f["episode"][:])  # ... before action t
        np.testing.assert_array_equal(obs[:, :, 3], f["step_in_episode"][:])
        np.testing.assert_array_equal(obs[1:, :, 4], np.broadcast_to(t[:-1], (49, 4)))
        sie = f["step_in_episode"][:]
        done = f["done"][:]
        np.testing.assert_array_equal(done[:, [0, 1, 3]], sie[:, [0, 1, 3]] == 19)
        assert f["terminated"][:, 2].any() and (f["step_in_episode"][:, 2] < 8).all()
        np.testing.assert_array_equal(done, f["terminated"][:] | f["truncated"][:])
        ev = f["events"][:]
        fj = f["fault_joint"][:]
        assert len(ev) >= 8
        assert (np.diff(ev["global_step"]) >= 0).all()
        for e in ev:  # the cut shows from the onset row on, with the event's joint
            assert fj[e["global_step"], e["env"]] == e["joint"]
            assert e["episode"] == f["episode"][e["global_step"], e["env"]]
            assert e["step_in_episode"] == sie[e["global_step"], e["env"]]
            assert e["limit"] == pytest.approx(e["scale"] * NOMINAL_LIMITS[e["joint"]], rel=1e-6)
            assert 0 <= e["scale"] <= 0.3
            if e["step_in_episode"] > 0:
                assert fj[e["global_step"] - 1, e["env"]] == -1
        assert np.isnan(f["torque_limit"][:][fj < 0]).all()
        assert f.attrs["policy_sha256"] == "abc" and f.attrs["complete"]
        cfg = json.loads(f.attrs["fault_config"])
        assert cfg["p_fault"] == 1.0 and len(cfg["candidate_indices"]) == 17
        assert json.loads(f.attrs["candidate_joints"]) == cfg["candidate_indices"]
        assert len(json.loads(f.attrs["joint_names"])) == 19
        assert "h1fault" in json.loads(f.attrs["versions"])


def test_ctrl_c_keeps_finished_steps(tmp_path: Path) -> None:
    calls = {"n": 0}

    def policy(obs: torch.Tensor) -> torch.Tensor:
        if calls["n"] == 45:
            raise KeyboardInterrupt
        calls["n"] += 1
        return torch.zeros(obs.shape[0], 19)

    out = tmp_path / "raw.h5"
    res = collect(FakeVecEnv(), policy, out, 200, writer=WriterConfig(flush_steps=16),
                  progress=False)  # fmt: skip
    assert res.interrupted and not res.complete and res.num_steps == 45
    with h5py.File(out, "r") as f:
        assert "complete" not in f.attrs
        np.testing.assert_array_equal(f["obs"][:45, 0, 0], np.arange(45))
    with pytest.raises(H1FaultError, match="incomplete .*--allow-partial"):
        build_dataset([out], tmp_path / "ds.h5")
    r = build_dataset([out], tmp_path / "ds.h5", BuildConfig(allow_partial=True))
    assert r.num_samples == 4 * 40  # two finished 20-step episodes per env; step 40-44 dropped


CHILD = """
import sys, time, json
sys.path.insert(0, {here!r})
import torch
from data_fake_env import FakeVecEnv
from h1fault.data.collect import collect
from h1fault.data.synthetic import NOMINAL_LIMITS
from h1fault.data.writer import WriterConfig

def policy(obs):
    time.sleep(0.002)
    return torch.zeros(obs.shape[0], 19)

res = collect(FakeVecEnv(), policy, sys.argv[1], 100000, writer=WriterConfig(flush_steps=16),
              progress=False)
print(json.dumps({{"interrupted": res.interrupted, "steps": res.num_steps}}))
"""


def _start_and_wait(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(here=str(HERE)), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        if out.exists():
            try:
                with h5py.File(out, "r", locking=False) as f:
                    if int(f.attrs["num_steps_written"]) >= 64:
                        return proc
            except (OSError, KeyError):
                continue
    proc.kill()
    raise AssertionError("collect child did not get going: " + proc.stderr.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signals_leave_readable_partial_file(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "raw.h5"
    proc = _start_and_wait(out)
    os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:  # handled: clean close, reported as an interruption
        assert proc.returncode == 0, stderr
        assert json.loads(stdout)["interrupted"] is True
    with h5py.File(out, "r") as f:
        n = int(f.attrs["num_steps_written"])
        assert n >= 64 and "complete" not in f.attrs
        np.testing.assert_array_equal(f["obs"][:n, 3, 0], np.arange(n))
    r = build_dataset([out], tmp_path / "ds.h5", BuildConfig(allow_partial=True))
    assert r.num_samples > 0


def test_collect_refuses_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "raw.h5"
    collect(FakeVecEnv(), echo_policy, out, 10, progress=False)
    with pytest.raises(H1FaultError, match="exists; pass --force"):
        collect(FakeVecEnv(), echo_policy, out, 10, progress=False)
    res = collect(FakeVecEnv(), echo_policy, out, 12, progress=False, force=True)
    assert res.num_steps == 12


def test_float16_obs(tmp_path: Path) -> None:
    res = collect(FakeVecEnv(), echo_policy, tmp_path / "raw.h5", 24,
                  writer=WriterConfig(dtype="float16"), progress=False)  # fmt: skip
    with h5py.File(res.path, "r") as f:
        assert f["obs"].dtype == np.float16
        np.testing.assert_array_equal(f["obs"][:, 0, 0], np.arange(24))
