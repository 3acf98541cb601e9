"""train-failure: who drives when, and a 2-iteration run on 4 CPU envs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.errors import H1FaultError
from h1fault.rl.bank import load_bank
from h1fault.rl.failure import DelayedTakeover
from h1fault.rl.policy import load_policy
from h1fault.sim.faults import FaultConfig
from h1fault.sim.task import EnvConfig
from h1fault.sim.vec_env import H1VecEnv


def test_learner_takes_over_exactly_at_onset_plus_delay() -> None:
    cfg = EnvConfig(faults=FaultConfig(p_fault=1.0, onset_window_s=(0.1, 0.2)))
    env = H1VecEnv(cfg, num_envs=4, device="cpu", seed=3)
    healthy = load_policy()
    takeover = DelayedTakeover(env, healthy, (0.06, 0.06))  # 3 control steps
    obs, _ = env.reset()
    assert torch.equal(takeover.delay, torch.full((4,), 3))
    onset = env.faults.onset_step.clone()
    for _ in range(16):
        step = env.step_in_episode.clone()
        mask, cond = takeover.control()
        assert torch.equal(mask, step >= onset + 3)
        learner = torch.full((4, 19), 0.3)
        executed = takeover.executed(learner, obs)
        # the learner's actions are applied exactly where it drives, the healthy policy's elsewhere
        torch.testing.assert_close(executed[mask], learner[mask])
        torch.testing.assert_close(executed[~mask], healthy(obs)[~mask])
        obs, _, term, trunc, _ = env.step(executed)
        takeover.after_step(term | trunc)
    expected_group = torch.tensor(
        [cfg.faults.candidate_indices().index(int(j)) for j in env.faults.planned_joint]
    )
    assert torch.equal(takeover.control()[1], expected_group)


@pytest.mark.parametrize("structure", ["experts", "conditioned"])
def test_train_failure_writes_run_and_bank(tmp_path: Path, structure: str) -> None:
    result = CliRunner().invoke(
        app,
        ["train-failure", "--envs", "4", "--max-iterations", "2", "--log-root", str(tmp_path),
         "--json", "agent.ppo.rollouts=8", "bank.critic_warmup_iterations=1",
         f"bank.structure={structure}", "agent.trainer.checkpoint_interval=8",
         # faults and takeovers inside the 16 simulated steps
         "env.faults.onset_window_s=[0.02,0.1]", "bank.detection_delay_s=[0.0,0.04]"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    run = Path(meta["run_dir"])
    assert {p.name for p in (run / "params").iterdir()} >= {"env.yaml", "agent.yaml", "bank.yaml"}
    assert (run / "checkpoints" / "agent_16.pt").exists()
    assert meta["structure"] == structure and len(meta["joints"]) == 17
    assert "train-failure" in meta["command"] and f"bank.structure={structure}" in meta["command"]
    bank = load_bank(meta["bank"], require_joints=[3, 8, 11])
    assert bank.structure == structure
    # the experts trained: at least one differs from the healthy policy now
    obs = torch.randn(17, 69)
    joints = torch.tensor(bank.joints)
    assert not torch.allclose(bank(obs, joints), bank.healthy(obs), atol=1e-4)


def test_bad_structure_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train-failure", "--envs", "4", "--max-iterations", "1", "--log-root",
              str(tmp_path), "bank.structure=moe"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "bank.structure must be one of" in result.output


def test_detection_delay_validated() -> None:
    from h1fault.config import apply_overrides
    from h1fault.rl.failure import FailureRunConfig, train_failure

    cfg = apply_overrides(FailureRunConfig(), ["bank.detection_delay_s=[0.5,0.1]"])
    with pytest.raises(H1FaultError, match="detection_delay_s"):
        train_failure(cfg, num_envs=2, device="cpu")


def test_oversampled_joints_are_drawn_more_often() -> None:
    from h1fault.rl.failure import FailureRunConfig, candidate_weights
    from h1fault.sim.faults import FaultSchedule

    cfg = FailureRunConfig()
    n = 20000
    sched = FaultSchedule(cfg.env.faults, torch.full((19,), 100.0), n, 0.02, 20.0,
                          torch.Generator().manual_seed(0))  # fmt: skip
    sched.weight_candidates(candidate_weights(cfg))
    sched.resample(torch.ones(n, dtype=torch.bool))
    counts = torch.bincount(sched.planned_joint, minlength=19).float() / n
    knee, elbow = 3, 14  # left_knee (oversampled 4x), left_elbow
    assert 0.12 < counts[knee] < 0.16  # 4 / 29 = 0.138
    assert 0.025 < counts[elbow] < 0.045  # 1 / 29 = 0.034
    assert counts[4] == 0 and counts[9] == 0  # ankles are never candidates
    sched.weight_candidates(None)  # back to uniform
    sched.resample(torch.ones(n, dtype=torch.bool))
    uniform = torch.bincount(sched.planned_joint, minlength=19).float() / n
    assert abs(uniform[knee] - 1 / 17) < 0.01


def test_oversample_names_must_be_candidates() -> None:
    from h1fault.config import apply_overrides
    from h1fault.rl.failure import FailureRunConfig, candidate_weights

    cfg = apply_overrides(FailureRunConfig(), ["bank.oversample=[left_ankle]"])
    with pytest.raises(H1FaultError, match="non-candidate"):
        candidate_weights(cfg)
