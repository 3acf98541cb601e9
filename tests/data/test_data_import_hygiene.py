"""The raw writer and collect loop import without mujoco or warp (the Isaac Lab adapter's env
has torch/h5py/numpy but its own, different mujoco and warp pins)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys
sys.modules["mujoco"] = None  # any "import mujoco" now raises ImportError
sys.modules["warp"] = None
sys.modules["mujoco_warp"] = None
import h1fault.data.writer, h1fault.data.collect, h1fault.sim.faults, h1fault.sim.model
from h1fault.sim.model import JOINT_NAMES, ISAACLAB_TO_MODEL
from h1fault.sim.faults import FaultConfig
FaultConfig().validate(20.0)
assert len(JOINT_NAMES) == 19 and len(ISAACLAB_TO_MODEL) == 19
bad = sorted(m for m in ("mujoco", "warp", "mujoco_warp") if sys.modules.get(m) is not None)
print("ok", bad)
"""


def test_writer_and_collect_import_without_mujoco_or_warp() -> None:
    """A lazy-import regression (``import mujoco`` at module level) fails this test."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok []"
