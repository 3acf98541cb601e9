"""Fixtures for the data tests: synthetic raw files and the CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from h1fault.data.synthetic import SyntheticSpec, write_synthetic_raw


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def make_raw(tmp_path: Path) -> Callable[..., Path]:
    """``make_raw(name, **spec_fields)`` writes a synthetic raw file into tmp_path."""

    def make(name: str = "raw", **fields: object) -> Path:
        return write_synthetic_raw(tmp_path / f"{name}.h5", SyntheticSpec(**fields))  # type: ignore[arg-type]

    return make


@pytest.fixture
def balanced_raw(make_raw: Callable[..., Path]) -> Path:
    """A clean raw file with enough faulted episodes that every distribution check is active:
    16 envs x 1200 steps, 20-step episodes, p_fault 0.75 -> ~720 faulted episodes."""
    return make_raw("balanced", num_envs=16, num_steps=1200, episode_steps=20,
                    onset_window_steps=(2, 12), fall_prob=0.01, seed=3)  # fmt: skip
