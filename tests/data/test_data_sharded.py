"""torchrun collect: one raw shard per rank; build numbers their envs 0..W*N-1 and insists on
the whole set of shards of a run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.cli import app
from h1fault.data.build import build_dataset
from h1fault.errors import H1FaultError


def test_two_rank_collect_builds_one_dataset_that_passes(tmp_path: Path, runner, torchrun) -> None:
    out = torchrun(2, [
        "-m", "h1fault", "collect", "--envs", "4", "--steps", "150", "--out", "raw.h5",
        "--flush-steps", "16", "--no-progress", "--json", "env.episode_length_s=1.0",
        "env.faults.p_fault=1.0", "env.faults.onset_window_s=[0.1,0.6]",
    ], cwd=tmp_path)  # fmt: skip
    summary = json.loads(out)  # printed by rank 0 only
    assert summary["world_size"] == 2 and summary["num_envs"] == 8 and summary["complete"]
    shards = [tmp_path / "raw.rank0.h5", tmp_path / "raw.rank1.h5"]
    assert summary["path"] == [p.name for p in shards]
    assert not (tmp_path / "raw.h5").exists()
    attrs = []
    for p in shards:
        with h5py.File(p, "r") as f:
            attrs.append(dict(f.attrs))
            assert f["obs"].shape == (150, 4, 88)
    assert [a["rank"] for a in attrs] == [0, 1] and {a["world_size"] for a in attrs} == {2}
    assert [a["env_id_offset"] for a in attrs] == [0, 4]
    assert attrs[0]["seed"] != attrs[1]["seed"] and attrs[0]["base_seed"] == 0
    assert attrs[0]["dist_run_id"] == attrs[1]["dist_run_id"]
    with h5py.File(shards[0], "r") as f0, h5py.File(shards[1], "r") as f1:
        assert not np.array_equal(f0["obs"][5:], f1["obs"][5:])  # distinct seeds, distinct data
    ds = tmp_path / "ds.h5"
    res = runner.invoke(app, ["dataset", "build", *map(str, shards), "--out", str(ds),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with h5py.File(ds, "r") as f:
        assert sorted(np.unique(f["episodes"]["env"]).tolist()) == list(range(8))
        assert int(f.attrs["world_size"]) == 2
        assert json.loads(f.attrs["source_env_offsets"]) == [0, 4]
    res = runner.invoke(app, ["dataset", "stats", str(ds), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["ok"]
    st = {c["name"]: c["status"] for c in rep["checks"]}
    for name in ("finite_obs", "candidates_only", "one_fault_per_episode",
                 "labels_match_logged_faults", "env_coverage", "fault_rate"):  # fmt: skip
        assert st[name] == "pass", (name, rep["checks"])
    assert [c["envs_with_samples"] for c in rep["coverage"]] == [4, 4]


def _as_shard(path: Path, rank: int, world: int, num_envs: int, run: str = "run-a") -> Path:
    with h5py.File(path, "r+") as f:
        f.attrs.update({"rank": rank, "world_size": world, "env_id_offset": rank * num_envs,
                        "dist_run_id": run})  # fmt: skip
    return path


@pytest.fixture
def shards(make_raw: Callable[..., Path]) -> list[Path]:
    return [_as_shard(make_raw(f"raw.rank{r}", num_envs=3, seed=r), r, 2, 3) for r in (0, 1)]


def test_synthetic_shards_get_global_env_ids(shards: list[Path], tmp_path: Path) -> None:
    ds = tmp_path / "ds.h5"
    build_dataset(shards, ds)
    with h5py.File(ds, "r") as f:
        ep = f["episodes"][()]
    assert sorted(np.unique(ep["env"]).tolist()) == list(range(6))
    assert set(ep["env"][ep["source"] == 1].tolist()) == {3, 4, 5}


def test_missing_shard_is_refused(shards: list[Path], tmp_path: Path, runner) -> None:
    res = runner.invoke(app, ["dataset", "build", str(shards[1]), "--out",
                              str(tmp_path / "ds.h5"), "--no-progress"])  # fmt: skip
    assert res.exit_code == 1 and "rank 0 is not given" in res.stderr, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert not (tmp_path / "ds.h5").exists()


def test_repeated_rank_is_refused(shards: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.h5"
    shutil.copy(shards[0], copy)
    with pytest.raises(H1FaultError, match="both rank 0"):
        build_dataset([*shards, copy], tmp_path / "ds.h5")


def test_shards_of_two_runs_are_checked_per_run(make_raw, shards, tmp_path: Path) -> None:
    other = _as_shard(make_raw("other", num_envs=3, seed=9), 1, 2, 3, run="run-b")
    with pytest.raises(H1FaultError, match="rank 0 is not given"):
        build_dataset([*shards, other], tmp_path / "ds.h5")


def test_inconsistent_shard_attrs_are_refused(make_raw, tmp_path: Path) -> None:
    bad = _as_shard(make_raw("bad", num_envs=3), 2, 2, 3)
    with pytest.raises(H1FaultError, match="inconsistent"):
        build_dataset([bad], tmp_path / "ds.h5")
