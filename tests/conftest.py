"""Shared pytest setup: tests marked ``cuda`` are skipped on machines without a CUDA GPU; the
``torchrun`` fixture starts commands under ``torch.distributed.run`` on CPU processes (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


def _torchrun(nproc: int, args: list[str], cwd: Path, timeout: float = 240) -> str:
    """Run ``torchrun --standalone --nproc-per-node nproc <args>`` with this checkout first on
    the path and one thread per process; returns stdout, fails with both streams otherwise."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU processes, gloo, even on a GPU machine
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def torchrun() -> Callable[..., str]:
    """``torchrun(nproc, args, cwd)``: see :func:`_torchrun`."""
    return _torchrun


@pytest.fixture(scope="module")
def torchrun_module() -> Callable[..., str]:
    """:func:`_torchrun` for module-scoped fixtures (one run shared by several tests)."""
    return _torchrun
