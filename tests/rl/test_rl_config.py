"""key=value overrides against the nested train config."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.config import all_keys, apply_overrides, from_dict, to_dict
from h1fault.errors import H1FaultError
from h1fault.rl.config import TrainRunConfig


def test_nested_overrides_with_types() -> None:
    cfg = apply_overrides(
        TrainRunConfig(),
        ["agent.trainer.timesteps=64000", "env.faults.enabled=true", "env.faults.p_fault=0.5",
         "env.faults.scale_range=[0, 0.2]", "agent.models.policy_hidden=[256,128]",
         "env.rewards.feet_air_time=2", "agent.ppo.learning_rate=3e-4"],
    )  # fmt: skip
    assert cfg.agent.trainer.timesteps == 64000
    assert cfg.env.faults.enabled is True and cfg.env.faults.p_fault == 0.5
    assert cfg.env.faults.scale_range == (0.0, 0.2)
    assert cfg.agent.models.policy_hidden == (256, 128)
    assert isinstance(cfg.env.rewards.feet_air_time, float)
    assert cfg.agent.ppo.learning_rate == 3e-4  # YAML 1.1 would read "3e-4" as a string
    # untouched fields keep their defaults
    assert cfg.agent.ppo.rollouts == TrainRunConfig().agent.ppo.rollouts


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("agent.trainer.timestep=5", "did you mean: agent.trainer.timesteps"),
        ("env.faults.p_fault=abc", "expected a number"),
        ("agent.trainer.timesteps=1.5", "expected an integer"),
        ("env.faults.enabled=maybe", "expected true/false"),
        ("env.faults.scale_range=[0.1]", "expected 2 values"),
        ("agent.trainer.timesteps", "key=value"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(H1FaultError, match=message.replace("[", r"\[")):
        apply_overrides(TrainRunConfig(), [override])


def test_values_are_data_not_code() -> None:
    with pytest.raises(H1FaultError):
        apply_overrides(TrainRunConfig(), ["agent.experiment=!!python/object/apply:os.system [ls]"])


def test_round_trip_through_dict() -> None:
    cfg = apply_overrides(TrainRunConfig(), ["env.faults.candidates=[left_knee, torso]"])
    assert from_dict(TrainRunConfig, to_dict(cfg)) == cfg
    assert "env.faults.candidates" in all_keys(cfg)


def test_cli_unknown_key_is_one_line_error() -> None:
    result = CliRunner().invoke(app, ["train-healthy", "agent.trainer.timestep=5"])
    assert result.exit_code == 1
    assert "unknown config key 'agent.trainer.timestep'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_every_recipe_applies_and_the_users_overrides_win() -> None:
    from h1fault.rl.config import RECIPES, recipe_overrides

    for name in RECIPES:
        apply_overrides(TrainRunConfig(), list(recipe_overrides(name)))  # valid keys and values
    fast = apply_overrides(
        TrainRunConfig(), [*recipe_overrides("fast"), "agent.ppo.mini_batches=2"]
    )
    assert fast.agent.ppo.mini_batches == 2  # the user's override comes after the recipe
    assert fast.env.rewards.track_ang_vel_z == 1.5 and fast.agent.trainer.timesteps == 9000
    assert fast.env.commands.turning_fraction == 0.1 and fast.env.rewards.air_time_when_turning
    assert fast.env.rewards.termination == -400.0  # a negative value parses as a number
    assert recipe_overrides("isaaclab") == ()


def test_canonical_command_spells_the_recipe() -> None:
    from h1fault.rl.ship import RunSpec, canonical_command

    fast = canonical_command("train-healthy", RunSpec(4096, "cuda", recipe="fast"), [], 9000)
    plain = canonical_command("train-healthy", RunSpec(4096, "cuda"), [], 24000)
    assert "--recipe fast" in fast and "--recipe" not in plain


def test_cli_unknown_recipe_is_one_line_error() -> None:
    result = CliRunner().invoke(app, ["train-healthy", "--recipe", "fastest"])
    assert result.exit_code == 1
    assert "unknown recipe 'fastest' (choose isaaclab, fast)" in result.output
    assert len(result.output.strip().splitlines()) == 1
