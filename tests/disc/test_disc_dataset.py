"""The built-dataset reader: classes, splits, and one-line errors for wrong files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from h1fault.disc.dataset import ClassSpec, DiscDataset
from h1fault.disc.synthetic import write_synthetic_dataset
from h1fault.errors import H1FaultError


def test_reads_splits_and_classes(tiny_ds: Path) -> None:
    ds = DiscDataset(tiny_ds)
    assert ds.classes.joints == (-1, 0, 3, 10, 14)
    assert ds.classes.names == ("healthy", "left_hip_yaw", "left_knee", "torso", "left_elbow")
    total = 0
    for name in ("train", "val", "test"):
        sp = ds.load_split(name)
        assert sp.obs.shape == (sp.num_samples, 88)
        assert sp.ep_start[0] == 0 and (np.diff(sp.ep_start) == sp.ep_length[:-1]).all()
        total += sp.num_samples
    assert total == ds.num_samples
    # split rows are the file's rows of those episodes, in order
    ep = ds.episodes[ds.split_episodes("val")[1]]
    sp = ds.load_split("val")
    with h5py.File(tiny_ds) as f:
        want = f["obs"][ep["start"] : ep["start"] + ep["length"]]
    np.testing.assert_array_equal(sp.obs[sp.ep_start[1] : sp.ep_start[1] + sp.ep_length[1]], want)


def test_label_mapping() -> None:
    spec = ClassSpec.from_candidates([5, 2], [f"j{i}" for i in range(19)])
    assert spec.label_to_class(np.array([-1, 5, 2, 2])).tolist() == [0, 1, 2, 2]
    with pytest.raises(H1FaultError, match=r"labels \[4\]"):
        spec.label_to_class(np.array([-1, 4]))


def test_wrong_obs_width_is_a_one_line_error(tmp_path: Path) -> None:
    path = write_synthetic_dataset(tmp_path / "w.h5", num_episodes=6, episode_len=10, obs_dim=87)
    with pytest.raises(H1FaultError, match="obs width 87, expected 88") as exc:
        DiscDataset(path)
    assert "\n" not in str(exc.value)


def test_raw_file_and_missing_file(tmp_path: Path) -> None:
    raw = tmp_path / "raw.h5"
    with h5py.File(raw, "w") as f:
        f.attrs["format"] = "h1fault-raw"
    with pytest.raises(H1FaultError, match="raw collect file; build a dataset first"):
        DiscDataset(raw)
    with pytest.raises(H1FaultError, match="dataset not found"):
        DiscDataset(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(H1FaultError, match="not an HDF5 file"):
        DiscDataset(tmp_path / "text.h5")


def test_non_candidate_fault_is_rejected(tmp_path: Path) -> None:
    path = write_synthetic_dataset(tmp_path / "d.h5", num_episodes=8, episode_len=10, p_fault=1)
    with h5py.File(path, "r+") as f:
        ep = f["episodes"][()]
        ep["fault_joint"][0] = 4  # left_ankle: never a candidate
        f["episodes"][...] = ep
    with pytest.raises(H1FaultError, match=r"non-candidate joints \[4\]"):
        DiscDataset(path)


def test_end_to_end_with_the_data_package(tmp_path: Path) -> None:
    """A file from ``h1fault dataset build`` trains and evaluates (skipped until h1fault.data has
    its builder)."""
    try:
        from h1fault.data.build import build_dataset
        from h1fault.data.synthetic import SyntheticSpec, write_synthetic_raw
    except ImportError:
        pytest.skip("h1fault.data build/synthetic not available")
    from h1fault.disc import DiscConfig, evaluate, train

    raw = write_synthetic_raw(tmp_path / "raw.h5", SyntheticSpec(num_envs=8, num_steps=240))
    build_dataset([raw], tmp_path / "ds.h5")
    ds = DiscDataset(tmp_path / "ds.h5")
    assert ds.classes.num_classes == 18  # healthy + 17 default candidates
    cfg = DiscConfig(hidden_size=8, chunk_len=16, batch_lanes=8, epochs=1, device="cpu")
    res = train(tmp_path / "ds.h5", cfg, log_root=tmp_path, progress=False, tensorboard=False)
    rep = evaluate(res.best_checkpoint, tmp_path / "ds.h5", device="cpu", progress=False)
    test = ds.load_split("test")
    assert rep["num_samples"] == test.num_samples
    assert rep["num_fault_episodes"] == int((test.ep_fault_joint >= 0).sum())
