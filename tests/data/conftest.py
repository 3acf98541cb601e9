"""Fixtures for the data tests: synthetic raw files and the CLI runner."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
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


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``mount(size)`` mounts a real tmpfs of that size (e.g. ``"1m"``) under ``tmp_path`` and
    returns it; the test is skipped where mounting is not permitted (not root, container policy).
    """
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        mnt = tmp_path / f"mnt{len(mounted)}"
        mnt.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                             capture_output=True, text=True)  # fmt: skip
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
