"""skrl agent checkpoints made by skrl itself from the task's registered Isaac Lab skrl config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import TASK
from h1fault_isaaclab.policy import load_skrl_actor

from h1fault.errors import H1FaultError


def test_skrl_checkpoint_actor_matches_skrl(rec, tmp_path: Path) -> None:
    """A PPO agent built by skrl's runner from the task's skrl config (with a running observation
    normaliser that has seen data) is saved with ``agent.save``; our loader's actions equal
    skrl's own mean actions."""
    from isaaclab_rl.skrl import SkrlVecEnvWrapper
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry
    from skrl.utils.runner.torch import Runner

    cfg = load_cfg_from_registry(TASK, "skrl_cfg_entry_point")
    cfg["agent"]["state_preprocessor"] = "RunningStandardScaler"
    cfg["agent"]["state_preprocessor_kwargs"] = {"size": 69}
    cfg["trainer"]["close_environment_at_exit"] = False  # the shared env is closed by its fixture
    cfg["agent"]["experiment"]["directory"] = str(tmp_path / "logs")  # not the working dir
    torch.manual_seed(0)
    runner = Runner(SkrlVecEnvWrapper(rec.env, ml_framework="torch"), cfg)
    agent = runner.agent
    pre = agent._observation_preprocessor
    pre(torch.randn(256, 69) * 2.0 + 0.5, train=True)  # non-trivial running mean / variance
    path = tmp_path / "agent_100.pt"
    agent.save(str(path))

    obs = torch.randn(8, 69) * 2.0
    with torch.no_grad():
        _, out = agent.policy.act({"observations": pre(obs)}, role="policy")
    actor = load_skrl_actor(path, 69, 19)
    torch.testing.assert_close(actor(obs), out["mean_actions"], rtol=1e-5, atol=1e-5)


def test_wrong_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    """Not a dict, no policy, wrong sizes: one-line errors, nothing loaded as code."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(H1FaultError, match="cannot read checkpoint"):
        load_skrl_actor(bad, 69, 19)
    torch.save({"value": {}}, tmp_path / "nopolicy.pt")
    with pytest.raises(H1FaultError, match="not a skrl agent checkpoint"):
        load_skrl_actor(tmp_path / "nopolicy.pt", 69, 19)
    state = {
        "net_container.0.weight": torch.zeros(8, 48),
        "net_container.0.bias": torch.zeros(8),
        "policy_layer.weight": torch.zeros(12, 8),
        "policy_layer.bias": torch.zeros(12),
    }
    torch.save({"policy": state}, tmp_path / "go2.pt")
    with pytest.raises(H1FaultError, match="48 obs -> 12 actions"):
        load_skrl_actor(tmp_path / "go2.pt", 69, 19)
