"""Fixtures for the disc tests: a tiny synthetic built dataset and one tiny trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from h1fault.disc import DiscConfig, TrainResult, train
from h1fault.disc.synthetic import write_synthetic_dataset

TINY_CFG = DiscConfig(
    hidden_size=32, chunk_len=32, batch_lanes=32, lr=1e-2, epochs=10, device="cpu", seed=0
)
"""Small enough to train in ~2 s on one core, big enough to learn the synthetic signal."""


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are overhead-bound; several threads only fight other test processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 episodes of 40-80 steps, candidates joints 0, 3, 10, 14 (obvious torque signal)."""
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("disc") / "ds.h5", num_episodes=150, episode_len=80, seed=0
    )


@pytest.fixture(scope="session")
def trained(tiny_ds: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """One tiny training run shared by the eval/export/CLI tests."""
    torch.set_num_threads(1)
    return train(
        tiny_ds,
        TINY_CFG,
        experiment="tiny",
        log_root=tmp_path_factory.mktemp("logs"),
        progress=False,
    )
