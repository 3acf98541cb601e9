"""train-healthy on 4 CPU envs: run layout, resume, play; checkpoint validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.rl.policy import NUM_ACTIONS, load_policy

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    result = runner.invoke(
        app,
        ["train-healthy", "--envs", "4", "--max-iterations", "2", "--log-root", str(root),
         "--json", "agent.trainer.checkpoint_interval=24", "agent.experiment=tiny",
         "agent.ppo.rollouts=24"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = list((root / "tiny").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_run_layout(tiny_run: Path) -> None:
    assert tiny_run.name.endswith("_ppo_torch")
    # YYYY-MM-DD_HH-MM-SS prefix, as Isaac Lab + skrl name runs
    stamp = tiny_run.name[: len("2026-01-01_00-00-00")]
    assert stamp[4] == "-" and stamp[10] == "_" and stamp[13] == "-"
    ckpts = {p.name for p in (tiny_run / "checkpoints").iterdir()}
    assert {"agent_24.pt", "agent_48.pt", "best_agent.pt"} <= ckpts
    env_yaml = yaml.safe_load((tiny_run / "params" / "env.yaml").read_text())
    agent_yaml = yaml.safe_load((tiny_run / "params" / "agent.yaml").read_text())
    assert env_yaml["faults"]["enabled"] is False  # healthy training
    assert agent_yaml["trainer"]["timesteps"] == 48
    assert agent_yaml["experiment"] == "tiny"
    assert list(tiny_run.glob("events.out.tfevents*")), "no TensorBoard events"
    assert (tiny_run / "params" / "git.txt").exists()
    meta = json.loads((tiny_run / "policy.json").read_text())
    assert meta["env_steps"] == 48 * 4
    assert "train-healthy" in meta["command"]
    # the time split: start-up (env build inside it) within the run's wall-clock; MuJoCo C
    # compiles no kernels
    assert 0 < meta["env_build_s"] <= meta["startup_s"] <= meta["wall_clock_s"]
    assert meta["kernel_compile_s"] is None


def test_curve_carries_the_tracking_errors(tiny_run: Path) -> None:
    import csv

    rows = list(csv.DictReader((tiny_run / "curve.csv").open()))
    assert len(rows) == 2  # one per update
    first, second = rows
    # no episode ends in the first 24 steps (0.48 s); the untrained robot has fallen by 48
    assert float(first["mean_episode_length_s"]) == 0 and float(first["yaw_rate_error"]) == 0
    assert float(second["mean_episode_length_s"]) > 0
    assert 0 < float(second["lin_vel_error"]) < 5 and 0 < float(second["yaw_rate_error"]) < 10


def test_checkpoints_load_weights_only(tiny_run: Path) -> None:
    data = torch.load(tiny_run / "checkpoints" / "agent_48.pt", weights_only=True)
    assert {"policy", "value", "optimizer", "observation_preprocessor"} <= set(data)
    policy = load_policy(tiny_run / "checkpoints" / "agent_48.pt")
    assert policy(torch.zeros(3, 69)).shape == (3, NUM_ACTIONS)


def test_resume_continues_from_checkpoint(tiny_run: Path, tmp_path: Path) -> None:
    ckpt = tiny_run / "checkpoints" / "agent_48.pt"
    before = torch.load(ckpt, weights_only=True)["policy"]["net.0.weight"]

    def one_iteration(experiment: str, *extra: str) -> torch.Tensor:
        result = runner.invoke(
            app,
            ["train-healthy", "--envs", "4", "--max-iterations", "1", "--log-root", str(tmp_path),
             "--seed", "7", *extra, "agent.trainer.checkpoint_interval=0",
             f"agent.experiment={experiment}"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        run = next((tmp_path / experiment).iterdir())
        return torch.load(run / "checkpoints" / "agent_24.pt", weights_only=True)["policy"][
            "net.0.weight"
        ]

    resumed = one_iteration("resume", "--checkpoint", str(ckpt))
    fresh = one_iteration("fresh")
    # one PPO iteration moves weights by ~lr; a fresh init is a different random matrix
    assert (resumed - before).abs().max() < 0.05
    assert (fresh - before).abs().max() > 0.1


def test_training_anneals_the_rate_in_its_last_share(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["train-healthy", "--envs", "4", "--max-iterations", "2", "--log-root", str(tmp_path),
         "agent.trainer.checkpoint_interval=0", "agent.experiment=anneal",
         "agent.ppo.kl_target=0", "agent.ppo.lr_anneal_fraction=1.0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "anneal").iterdir())
    data = torch.load(run / "checkpoints" / "agent_48.pt", weights_only=True)
    # the second of two updates starts half-way through: half the rate
    assert data["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.5e-3)


def test_spread_first_episodes_reaches_the_env(tmp_path: Path, monkeypatch) -> None:
    from h1fault.sim.vec_env import H1VecEnv

    spread: list[torch.Tensor] = []
    original = H1VecEnv.spread_first_episodes

    def recording(env: H1VecEnv) -> torch.Tensor:
        spread.append(original(env))
        return spread[-1]

    monkeypatch.setattr(H1VecEnv, "spread_first_episodes", recording)
    result = runner.invoke(
        app,
        ["train-healthy", "--envs", "4", "--max-iterations", "1", "--log-root", str(tmp_path),
         "agent.trainer.checkpoint_interval=0", "agent.experiment=spread",
         "agent.trainer.spread_first_episodes=true"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(spread) == 1 and spread[0].shape == (4,)


def test_play_loads_the_run(tiny_run: Path) -> None:
    result = runner.invoke(
        app, ["play", "--checkpoint", str(tiny_run / "policy.pt"), "--episodes", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["episodes"] == 2
    assert 0 < report["mean_episode_length_s"] <= report["max_episode_length_s"]


def test_checkpoint_with_wrong_sizes_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    net = torch.nn.Sequential(torch.nn.Linear(48, 32), torch.nn.ELU(), torch.nn.Linear(32, 12))
    torch.save({"policy": {f"net.{k}": v for k, v in net.state_dict().items()}}, bad)
    result = runner.invoke(app, ["play", "--checkpoint", str(bad), "--episodes", "1"])
    assert result.exit_code == 1
    assert "48 obs -> 12 actions" in result.output
    assert "Traceback" not in result.output


def test_corrupt_and_missing_checkpoints(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    result = runner.invoke(app, ["play", "--checkpoint", str(corrupt)])
    assert result.exit_code == 1 and "cannot read checkpoint" in result.output
    result = runner.invoke(app, ["play", "--checkpoint", str(tmp_path / "nope.pt")])
    assert result.exit_code == 1 and "checkpoint not found" in result.output
    result = runner.invoke(
        app, ["train-healthy", "--envs", "2", "--checkpoint", str(corrupt),
              "--log-root", str(tmp_path), "--max-iterations", "1"],
    )  # fmt: skip
    assert result.exit_code == 1 and "cannot read checkpoint" in result.output


def test_checkpoint_that_runs_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"policy": Evil()}, path)
    result = runner.invoke(app, ["play", "--checkpoint", str(path)])
    assert result.exit_code == 1
    assert "pwned" not in result.output


def test_episode_totals_equal_a_per_step_count() -> None:
    from h1fault.rl.train import episode_totals

    g = torch.Generator().manual_seed(0)
    T, N = 7, 5
    carry = torch.randn(N, generator=g)
    ep_return, ref = carry.clone(), torch.zeros(3)
    step = torch.randint(0, 50, (N,), generator=g)
    rewards, dones, steps = torch.randn(T, N, generator=g), torch.rand(T, N, generator=g) < 0.3, []
    dones[:, 0] = False  # an env with no episode end: its return carries over whole
    for t in range(T):  # the per-step bookkeeping the loop used to do
        steps.append(step.clone())
        ep_return += rewards[t]
        d = dones[t]
        ref += torch.stack([d.sum(), (ep_return * d).sum(), ((step + 1) * d).sum()]).float()
        ep_return.masked_fill_(d, 0.0)
        step = torch.where(d, 0, step + 1)
    totals, new_carry = episode_totals(rewards, dones, torch.stack(steps), carry)
    torch.testing.assert_close(totals, ref)
    torch.testing.assert_close(new_carry, ep_return)
    assert ref[0] > 3  # several episodes ended, some envs more than once
