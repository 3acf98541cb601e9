"""dataset build: labels, alignment, episode table, splits, norm stats, partial files, tiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.cli import app
from h1fault.data.build import BuildConfig, assign_splits, build_dataset
from h1fault.errors import H1FaultError


def _expected_from_raw(raw: Path) -> list[dict]:
    """Hand-built episodes from the raw flags and events, by plain loops (env after env)."""
    with h5py.File(raw, "r") as f:
        done, term = f["done"][:], f["terminated"][:]
        sat, obs = f["saturated"][:], f["obs"][:]
        events = f["events"][:]
    out = []
    t_total, n = done.shape
    for env in range(n):
        start, ep = 0, 0
        for t in range(t_total):
            if done[t, env] or t == t_total - 1:
                mine = [e for e in events if e["env"] == env and e["episode"] == ep]
                joint = int(mine[0]["joint"]) if mine else -1
                onset = int(mine[0]["step_in_episode"]) if mine else -1
                length = t - start + 1
                labels = [joint if joint >= 0 and i >= onset else -1 for i in range(length)]
                out.append({
                    "env": env, "episode": ep, "length": length, "fault_joint": joint,
                    "onset": onset, "terminated": bool(term[t, env]), "labels": labels,
                    "sat": sat[start : t + 1, env], "obs": obs[start : t + 1, env],
                    "scale": float(mine[0]["scale"]) if mine else float("nan"),
                })  # fmt: skip
                start, ep = t + 1, ep + 1
    return out


def test_labels_round_trip_against_hand_built(make_raw: Callable[..., Path], tmp_path: Path):
    raw = make_raw(num_envs=3, num_steps=47, episode_steps=10, fall_prob=0.05,
                   onset_window_steps=(2, 8), p_fault=0.7, seed=5)  # fmt: skip
    build_dataset([raw], tmp_path / "ds.h5")
    expected = _expected_from_raw(raw)
    with h5py.File(tmp_path / "ds.h5", "r") as f:
        ep = f["episodes"][:]
        label, sat, obs = f["label"][:], f["saturated"][:], f["obs"][:]
        assert f.attrs["format"] == "h1fault-dataset" and f.attrs["obs_dim"] == 88
    assert len(ep) == len(expected)
    pos = 0
    for row, exp in zip(ep, expected, strict=True):
        assert row["start"] == pos  # episodes contiguous, env after env
        for key in ("env", "episode", "length", "fault_joint", "onset", "terminated"):
            assert row[key] == exp[key], key
        np.testing.assert_allclose(row["scale"], exp["scale"], equal_nan=True)
        sl = slice(row["start"], row["start"] + row["length"])
        np.testing.assert_array_equal(label[sl], exp["labels"])
        np.testing.assert_array_equal(sat[sl], exp["sat"])
        np.testing.assert_array_equal(obs[sl], exp["obs"])
        first_sat = np.flatnonzero(exp["sat"])
        assert row["first_saturation"] == (first_sat[0] if len(first_sat) else -1)
        pos += row["length"]
    assert pos == len(label) == 3 * 47
    assert not ep["ended"][-1] or ep["length"][-1] > 0  # last episode of each env may be cut


def test_splits_are_stratified_and_seeded() -> None:
    rng = np.random.default_rng(0)
    joints = rng.choice([-1, 0, 3, 8, 12], size=2000)
    a = assign_splits(joints, (0.8, 0.1, 0.1), seed=1)
    assert np.array_equal(a, assign_splits(joints, (0.8, 0.1, 0.1), seed=1))
    assert not np.array_equal(a, assign_splits(joints, (0.8, 0.1, 0.1), seed=2))
    for j in np.unique(joints):
        sel = a[joints == j]
        for code, share in enumerate((0.8, 0.1, 0.1)):
            assert abs((sel == code).sum() - share * len(sel)) <= 1.0


def test_norm_stats_come_from_the_train_split(make_raw: Callable[..., Path], tmp_path: Path):
    raw = make_raw(num_envs=4, num_steps=200, episode_steps=25, seed=2)
    build_dataset([raw], tmp_path / "ds.h5", BuildConfig(seed=4))
    with h5py.File(tmp_path / "ds.h5", "r") as f:
        ep, obs = f["episodes"][:], f["obs"][:]
        mean, std = f["norm/mean"][:], f["norm/std"][:]
    rows = np.concatenate([np.arange(e["start"], e["start"] + e["length"])
                           for e in ep if e["split"] == 0])  # fmt: skip
    x = obs[rows].astype(np.float64)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, np.where(x.std(axis=0) < 1e-6, 1.0, x.std(axis=0)),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    assert len(rows) < len(obs)  # val/test rows exist and were left out


def test_partial_file_refused_then_accepted(make_raw: Callable[..., Path], tmp_path: Path, runner):
    raw = make_raw(num_envs=3, num_steps=100, episode_steps=20, written_steps=50, fall_prob=0.05)
    out = tmp_path / "ds.h5"
    res = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(out), "--no-progress"])
    assert res.exit_code == 1
    assert "incomplete" in res.output and "--allow-partial" in res.output
    assert not out.exists()
    res = runner.invoke(app, ["dataset", "build", str(raw), "--out", str(out), "--allow-partial",
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f, h5py.File(raw, "r") as r:
        ep = f["episodes"][:]
        assert ep["ended"].all()  # every kept episode finished inside the file
        done = r["done"][:50]
        for env in range(3):
            last_done = np.flatnonzero(done[:, env]).max()
            assert ep["length"][ep["env"] == env].sum() == last_done + 1
        assert f.attrs["dropped_episodes"] == 3


def test_tiles_and_sources_give_the_same_dataset(make_raw: Callable[..., Path], tmp_path: Path):
    """Whole-stream tiles and step-block tiles (tile_mb=1 forces per-env writes) agree; two
    sources are appended with their own offsets."""
    a = make_raw("a", num_envs=4, num_steps=1600, episode_steps=300, onset_window_steps=(5, 200))
    b = make_raw("b", num_envs=2, num_steps=40, episode_steps=10, seed=9,
                 onset_window_steps=(5, 200))  # fmt: skip
    build_dataset([a, b], tmp_path / "big.h5", BuildConfig(tile_mb=64))
    build_dataset([a, b], tmp_path / "small.h5", BuildConfig(tile_mb=1))
    with h5py.File(tmp_path / "big.h5", "r") as f, h5py.File(tmp_path / "small.h5", "r") as g:
        for name in ("obs", "label", "saturated"):
            np.testing.assert_array_equal(f[name][:], g[name][:], err_msg=name)
        for name in ("norm/mean", "norm/std"):  # summation order differs: float32 round-off
            np.testing.assert_allclose(f[name][:], g[name][:], rtol=1e-4, err_msg=name)
        ep = f["episodes"][:]
        for field in ep.dtype.names:  # NaN scales compare equal field-wise
            np.testing.assert_array_equal(ep[field], g["episodes"][field], err_msg=field)
        assert set(ep["source"]) == {0, 1}
        second = ep[ep["source"] == 1]
        assert second["start"].min() == 4 * 1600
        obs = f["obs"][:]
        assert (obs[second["start"][0] : second["start"][0] + 10, 1] == 0).all()  # env 0 of b


def test_existing_output_and_bad_inputs(make_raw: Callable[..., Path], tmp_path: Path) -> None:
    raw = make_raw()
    out = tmp_path / "ds.h5"
    build_dataset([raw], out)
    with pytest.raises(H1FaultError, match="exists; pass --force"):
        build_dataset([raw], out)
    build_dataset([raw], out, force=True)
    with pytest.raises(H1FaultError, match="given twice"):
        build_dataset([raw, raw], tmp_path / "x.h5")
    with pytest.raises(H1FaultError, match="split fractions"):
        build_dataset([raw], tmp_path / "x.h5", BuildConfig(split_fractions=(0.5, 0.6, 0.1)))
    other = make_raw("other", p_fault=0.2)
    with pytest.raises(H1FaultError, match="disagree on fault_config"):
        build_dataset([raw, other], tmp_path / "x.h5")


def test_failed_build_leaves_nothing_behind(make_raw: Callable[..., Path], tmp_path: Path):
    raw = make_raw(nan_at=(40, 2))
    with pytest.raises(H1FaultError, match=r"non-finite obs at env 2, row 40 \(column 10\)"):
        build_dataset([raw], tmp_path / "ds.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.h5"]


def test_float16_and_compressed_raw_files(tmp_path: Path) -> None:
    """float16 obs stay float16; lzf-compressed raw files build to the same dataset."""
    from h1fault.data.synthetic import SyntheticSpec, write_synthetic_raw
    from h1fault.data.writer import WriterConfig

    spec = SyntheticSpec(num_envs=3, num_steps=90, episode_steps=30)
    plain = write_synthetic_raw(tmp_path / "plain.h5", spec)
    lzf = write_synthetic_raw(tmp_path / "lzf.h5", spec, WriterConfig(compression="lzf"))
    half_spec = SyntheticSpec(num_envs=3, num_steps=90, episode_steps=30, dtype="float16")
    half = write_synthetic_raw(tmp_path / "half.h5", half_spec, WriterConfig(dtype="float16"))
    for raw in (plain, lzf, half):
        build_dataset([raw], tmp_path / f"ds_{raw.stem}.h5")
    with h5py.File(tmp_path / "ds_plain.h5", "r") as a, h5py.File(tmp_path / "ds_lzf.h5", "r") as b:
        np.testing.assert_array_equal(a["obs"][:], b["obs"][:])
        np.testing.assert_array_equal(a["label"][:], b["label"][:])
        plain_obs = a["obs"][:]
    with h5py.File(tmp_path / "ds_half.h5", "r") as c:
        assert c["obs"].dtype == np.float16
        np.testing.assert_allclose(c["obs"][:], plain_obs, rtol=1e-3, atol=1e-2)
        assert np.isfinite(c["norm/std"][:]).all()
