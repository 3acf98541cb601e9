"""Checkpoints: plain tensors + metadata; wrong checkpoints give one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from h1fault.disc.checkpoint import check_compatible, load_checkpoint
from h1fault.disc.dataset import DiscDataset
from h1fault.disc.eval import evaluate
from h1fault.disc.synthetic import write_synthetic_dataset
from h1fault.errors import H1FaultError


def test_checkpoint_is_plain_data(trained) -> None:
    blob = torch.load(trained.best_checkpoint, weights_only=True)  # no pickled objects
    assert blob["format"] == "h1fault-disc" and blob["format_version"] == 1
    assert blob["meta"]["class_names"][0] == "healthy"
    assert blob["meta"]["obs_dim"] == 88
    assert set(blob["state_dict"]) >= {"obs_mean", "obs_std", "head.weight"}


def test_different_classes_is_a_one_line_error(trained, tmp_path: Path) -> None:
    other = write_synthetic_dataset(
        tmp_path / "other.h5", num_episodes=8, episode_len=10, candidate_joints=(0, 3, 10, 15)
    )
    with pytest.raises(H1FaultError, match=r"checkpoint classes .*\[0, 3, 10, 14\].* differ") as e:
        evaluate(trained.best_checkpoint, other, device="cpu", progress=False)
    assert "\n" not in str(e.value)


def test_broken_checkpoints(trained, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(
        H1FaultError, match="is not a discriminator checkpoint .not a torch.save archive"
    ):
        load_checkpoint(bad)
    blob = torch.load(trained.best_checkpoint, weights_only=True)
    del blob["meta"]["class_joints"]
    torch.save(blob, tmp_path / "nometa.pt")
    with pytest.raises(H1FaultError, match=r"meta is missing \['class_joints'\]"):
        load_checkpoint(tmp_path / "nometa.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(H1FaultError, match="not a discriminator checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    blob = torch.load(trained.best_checkpoint, weights_only=True)
    blob["meta"]["hidden_size"] = 64
    torch.save(blob, tmp_path / "shape.pt")
    with pytest.raises(H1FaultError, match="has shape"):
        load_checkpoint(tmp_path / "shape.pt")


def test_obs_width_mismatch(trained, tiny_ds) -> None:
    _, meta = load_checkpoint(trained.best_checkpoint)
    ds = DiscDataset(tiny_ds)
    ds.obs_dim = 90  # as if the file had passed its own checks with another width
    with pytest.raises(H1FaultError, match="expects obs width 88"):
        check_compatible(meta, ds)
