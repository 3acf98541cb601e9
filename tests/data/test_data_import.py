"""dataset import: legacy Isaac Lab logs round-trip, layout detection, joint order, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.cli import app
from h1fault.data.build import build_dataset
from h1fault.data.legacy_import import BINARY_LAYOUTS, JOINT_BLOCKS
from h1fault.sim.model import ISAACLAB_TO_MODEL, MODEL_TO_ISAACLAB


def _legacy_pair(raw: Path, tmp_path: Path, layout: str) -> tuple[Path, Path]:
    """Write a synthetic raw file out the way the Isaac Lab logger did (Isaac Lab order)."""
    with h5py.File(raw, "r") as f:
        obs, ev = f["obs"][:], f["events"][:]
    il = obs.copy()
    for b in JOINT_BLOCKS:  # Isaac Lab column i holds model joint ISAACLAB_TO_MODEL[i]
        il[..., b : b + 19] = obs[..., b + ISAACLAB_TO_MODEL]
    obs_path, ev_path = tmp_path / "discriminator_obs.dat", tmp_path / "joint_torque_event_log.dat"
    il.astype("<f4").tofile(obs_path)
    joint = MODEL_TO_ISAACLAB[ev["joint"]]
    if layout == "text":
        lines = ["# legacy log", "step, env, joint, scale"]
        lines += [f"{e['global_step']}, {e['env']}, {j}, {e['scale']:.6f}"
                  for e, j in zip(ev, joint, strict=True)]  # fmt: skip
        ev_path.write_text("\n".join(lines) + "\n")
    else:
        rec = np.zeros(len(ev), BINARY_LAYOUTS[layout])
        rec["step"], rec["env"], rec["joint"] = ev["global_step"], ev["env"], joint
        if "scale" in rec.dtype.names:
            rec["scale"] = ev["scale"]
        rec.tofile(ev_path)
    return obs_path, ev_path


@pytest.mark.parametrize("layout", ["text", "f4x4", "i4x3+f4", "i8x3", "f8x3"])
def test_import_round_trip(make_raw: Callable[..., Path], tmp_path: Path, runner, layout: str):
    raw = make_raw(num_envs=3, num_steps=120, episode_steps=40, onset_window_steps=(5, 20))
    obs_path, ev_path = _legacy_pair(raw, tmp_path, layout)
    out = tmp_path / "imported.h5"
    res = runner.invoke(app, ["dataset", "import", str(obs_path), str(ev_path), "--out", str(out),
                              "--envs", "3", "--episode-steps", "40", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"layout {layout}" in res.stdout
    with h5py.File(out, "r") as f, h5py.File(raw, "r") as r:
        np.testing.assert_array_equal(f["obs"][:], r["obs"][:])  # back in model order
        for name in ("fault_joint", "done", "episode", "step_in_episode"):
            np.testing.assert_array_equal(f[name][:], r[name][:], err_msg=name)
        assert f.attrs["derived_fault_state"] and f.attrs["complete"]
    build_dataset([raw], tmp_path / "a.h5")
    build_dataset([out], tmp_path / "b.h5")
    with h5py.File(tmp_path / "a.h5", "r") as a, h5py.File(tmp_path / "b.h5", "r") as b:
        np.testing.assert_array_equal(a["label"][:], b["label"][:])
        np.testing.assert_array_equal(a["obs"][:], b["obs"][:])
    res = runner.invoke(app, ["dataset", "stats", str(tmp_path / "b.h5"), "--no-progress"])
    assert res.exit_code == 0, res.output


def test_model_joint_order_keeps_indices(make_raw: Callable[..., Path], tmp_path: Path, runner):
    raw = make_raw(num_envs=2, num_steps=60, episode_steps=20)
    with h5py.File(raw, "r") as f:
        obs, ev = f["obs"][:], f["events"][:]
    obs.astype("<f4").tofile(tmp_path / "o.dat")
    (tmp_path / "e.dat").write_text(
        "".join(f"{e['global_step']} {e['env']} {e['joint']}\n" for e in ev)
    )
    res = runner.invoke(app, ["dataset", "import", str(tmp_path / "o.dat"), str(tmp_path / "e.dat"),
                              "--out", str(tmp_path / "x.h5"), "--envs", "2", "--episode-steps",
                              "20", "--joint-order", "model", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "x.h5", "r") as f:
        np.testing.assert_array_equal(f["obs"][:], obs)
        np.testing.assert_array_equal(f["events"]["joint"], ev["joint"])
        assert np.isnan(f["events"]["scale"]).all()  # 3-column log: scale unknown


def test_legacy_joint_12_dataset_fails_naming_right_knee(tmp_path: Path, runner) -> None:
    """The broken legacy case at small scale: every event hits Isaac Lab joint 12, ~90% of the
    samples end up labelled with it, no other joint ever."""
    envs, steps, ep_len = 4, 5000, 100
    rng = np.random.default_rng(0)
    rng.standard_normal((steps * envs, 88), dtype=np.float32).tofile(tmp_path / "o.dat")
    rows = [f"{e * ep_len + 10},{n},12" for e in range(steps // ep_len) for n in range(envs)]
    (tmp_path / "e.dat").write_text("\n".join(rows) + "\n")
    raw, ds = tmp_path / "raw.h5", tmp_path / "ds.h5"
    for cmd in (
        ["dataset", "import", str(tmp_path / "o.dat"), str(tmp_path / "e.dat"), "--out", str(raw),
         "--envs", str(envs), "--episode-steps", str(ep_len), "--no-progress"],
        ["dataset", "build", str(raw), "--out", str(ds), "--no-progress"],
    ):  # fmt: skip
        assert runner.invoke(app, cmd).exit_code == 0
    res = runner.invoke(app, ["dataset", "stats", str(ds), "--no-progress"])
    assert res.exit_code == 1
    assert "check 'joint_distribution' failed" in res.stderr
    assert "right_knee (model 8, Isaac Lab 12)" in res.stderr
    assert "18,000 of 20,000 samples (90.0%)" in res.stderr
    assert "all_candidates_present" in res.stderr  # 200 faulted episodes: no accident


def test_import_errors(tmp_path: Path, runner) -> None:
    def run(*args: str) -> str:
        res = runner.invoke(app, ["dataset", "import", *args, "--out", str(tmp_path / "x.h5"),
                                  "--no-progress"])  # fmt: skip
        assert res.exit_code == 1, res.output
        return res.stderr

    obs, ev = tmp_path / "o.dat", tmp_path / "e.dat"
    ev.write_text("0 0 3\n")
    obs.write_bytes(b"\0" * 100)
    assert "100 bytes is not a whole number of float32 rows of 88" in run(str(obs), str(ev))
    np.zeros((3, 88), np.float32).tofile(obs)
    assert "3 rows is not a multiple of --envs 2" in run(str(obs), str(ev), "--envs", "2")
    assert "--obs-dim 69" in run(str(obs), str(ev), "--obs-dim", "69")
    assert "file not found" in run(str(tmp_path / "missing.dat"), str(ev))
    ev.write_bytes(np.random.default_rng(0).random(7, dtype=np.float64).tobytes())
    assert "cannot decode the event log" in run(str(obs), str(ev))
    ev.write_text("0 0 3 0.1 7\n")
    assert "5 columns; expected 3" in run(str(obs), str(ev))
    ev.write_text("0 0 25\n")
    assert "joint values outside 0..18" in run(str(obs), str(ev))
    ev.write_text("0 0 3\n")
    assert "--joint-order" in run(str(obs), str(ev), "--joint-order", "mujoco")
