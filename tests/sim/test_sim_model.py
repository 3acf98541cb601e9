"""The H1 model tables: joint order, Isaac Lab mapping, torque limits and the ``joints`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from h1fault import cli_common
from h1fault.cli import app
from h1fault.errors import H1FaultError
from h1fault.sim.model import (
    ANKLE_JOINTS,
    DEFAULT_FAULT_CANDIDATES,
    ISAACLAB_JOINT_NAMES,
    ISAACLAB_TO_MODEL,
    JOINT_NAMES,
    MODEL_TO_ISAACLAB,
    NUM_JOINTS,
    joint_index,
    load_model,
    nominal_torque_limits,
)


def test_isaaclab_mapping_round_trips() -> None:
    assert NUM_JOINTS == 19
    assert sorted(ISAACLAB_JOINT_NAMES) == sorted(JOINT_NAMES)
    np.testing.assert_array_equal(ISAACLAB_TO_MODEL[MODEL_TO_ISAACLAB], np.arange(NUM_JOINTS))
    np.testing.assert_array_equal(MODEL_TO_ISAACLAB[ISAACLAB_TO_MODEL], np.arange(NUM_JOINTS))
    for i, name in enumerate(ISAACLAB_JOINT_NAMES):
        assert JOINT_NAMES[ISAACLAB_TO_MODEL[i]] == name
    # the joint of the broken legacy dataset
    assert ISAACLAB_JOINT_NAMES[12] == "right_knee"
    assert JOINT_NAMES[ISAACLAB_TO_MODEL[12]] == "right_knee"
    assert ISAACLAB_TO_MODEL[12] == 8


def test_model_order_and_limits() -> None:
    model = load_model()
    assert model.nu == NUM_JOINTS
    names = tuple(model.actuator(i).name for i in range(model.nu))
    assert names == JOINT_NAMES
    limits = dict(zip(JOINT_NAMES, nominal_torque_limits(model), strict=True))
    assert limits["left_hip_pitch"] == 200 and limits["right_knee"] == 300
    assert limits["left_ankle"] == limits["right_ankle"] == 40
    assert limits["torso"] == 200 and limits["left_elbow"] == 18
    # MuJoCo clamps with these ranges only if the actuators are force-limited
    assert model.actuator_forcelimited.all()


def test_default_candidates_exclude_ankles() -> None:
    assert len(DEFAULT_FAULT_CANDIDATES) == 17
    assert not set(ANKLE_JOINTS) & set(DEFAULT_FAULT_CANDIDATES)


def test_joint_index_errors_are_one_line() -> None:
    assert joint_index("right_knee") == 8
    assert joint_index(8) == joint_index("8") == 8
    with pytest.raises(H1FaultError, match="did you mean right_knee") as exc:
        joint_index("right_kne")
    assert "\n" not in str(exc.value)
    with pytest.raises(H1FaultError, match="out of range"):
        joint_index(19)


def test_joints_cli_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # a wide terminal, so that rich does not shorten the joint names
    monkeypatch.setattr(cli_common.console, "_width", 160)
    result = CliRunner().invoke(app, ["joints"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == 19
    for i, (row, name) in enumerate(zip(rows, JOINT_NAMES, strict=True)):
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[0] == str(i) and cells[1] == name
        assert cells[2] == str(MODEL_TO_ISAACLAB[i])
        assert cells[4] == ("no (ankle)" if name in ANKLE_JOINTS else "yes")


def test_joints_cli_json() -> None:
    result = CliRunner().invoke(app, ["joints", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list(JOINT_NAMES)
    assert [r["index"] for r in rows] == list(range(19))
    assert [r["isaaclab_index"] for r in rows] == MODEL_TO_ISAACLAB.tolist()
    assert {r["name"] for r in rows if not r["fault_candidate"]} == set(ANKLE_JOINTS)
    assert rows[8]["torque_limit"] == 300.0
