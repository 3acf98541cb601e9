"""train-healthy and train-failure under torchrun: 2 gloo processes x 4 CPU envs, 2 PPO
iterations each (one launch runs both commands, to pay the start-up once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from h1fault.rl.ppo import RunningNorm

HERE = Path(__file__).resolve().parent
COMMANDS = ("train-healthy", "train-failure")
COMMON = ["--envs", "4", "--max-iterations", "2", "--json", "agent.ppo.rollouts=8",
          "agent.ppo.mini_batches=2", "agent.trainer.checkpoint_interval=8"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory, torchrun_module) -> dict:
    tmp = tmp_path_factory.mktemp("dist_train")
    out = torchrun_module(2, [
        str(HERE / "dist_train_worker.py"), str(tmp),
        "train-healthy", *COMMON, "--log-root", str(tmp / "healthy"), "::",
        "train-failure", *COMMON, "--log-root", str(tmp / "failure"),
        "bank.critic_warmup_iterations=1", "env.faults.onset_window_s=[0.02,0.1]",
        "bank.detection_delay_s=[0.0,0.04]",
    ], cwd=tmp)  # fmt: skip
    # rank 0 printed one JSON summary per command, nothing came from rank 1
    summaries = [json.loads(x) for x in out.replace("}\n{", "}\x00{").split("\x00")]
    return {
        "tmp": tmp, "summaries": dict(zip(COMMANDS, summaries, strict=True)),
        "records": {c: [torch.load(tmp / f"{c}.rank{r}.pt", weights_only=True) for r in (0, 1)]
                    for c in COMMANDS},
    }  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_replicas_hold_identical_weights_after_every_update(runs, command: str) -> None:
    r0, r1 = runs["records"][command]
    assert len(r0["updates"]) == len(r1["updates"]) == 2
    for u0, u1 in zip(r0["updates"], r1["updates"], strict=True):
        for k, v in u0.items():
            assert torch.equal(v, u1[k]), k
    # and the updates changed the weights (a frozen copy would pass the above too)
    first, second = r0["updates"]
    changed = [k for k in first if k.startswith("critic.") and not torch.equal(first[k], second[k])]
    assert changed


@pytest.mark.parametrize("command", COMMANDS)
def test_normaliser_equals_one_process_over_the_union_of_shards(runs, command: str) -> None:
    r0, r1 = runs["records"][command]
    calls = len(r0["obs_norm_in"])
    assert calls == len(r1["obs_norm_in"]) == 2 * 2  # 2 updates x 2 mini-batches (epoch 0)
    for u in range(2):
        norm = RunningNorm(69)
        norm.load_state_dict(r0["obs_norm_before"][u])
        for i in (2 * u, 2 * u + 1):
            # one process over the union of both shards' rows (float64: the exact reference)
            norm.update(torch.cat([r0["obs_norm_in"][i], r1["obs_norm_in"][i]]).double())
        got = r0["updates"][u]
        for k in ("running_mean", "running_variance", "current_count"):
            torch.testing.assert_close(got[f"obs_norm.{k}"], getattr(norm, k), rtol=1e-10,
                                       atol=1e-12)  # fmt: skip
    # every sample of both ranks counted once: 2 updates x 8 steps x 4 envs x 2 ranks
    grown = r1["updates"][-1]["obs_norm.current_count"] - r1["obs_norm_before"][0]["current_count"]
    assert float(grown) == 2 * 8 * 4 * 2


@pytest.mark.parametrize("command", COMMANDS)
def test_only_rank0_wrote_a_run_dir_and_counts_cover_all_ranks(runs, command: str) -> None:
    root = runs["tmp"] / ("healthy" if command == "train-healthy" else "failure")
    runs_made = [p for exp in root.iterdir() for p in exp.iterdir()]
    assert len(runs_made) == 1, runs_made
    made = {p.name for p in runs_made[0].iterdir()}
    assert {"checkpoints", "curve.csv"} <= made
    assert ("policy.pt" if command == "train-healthy" else "bank.pt") in made
    summary = runs["summaries"][command]
    assert summary["world_size"] == 2 and summary["env_steps"] == 16 * 4 * 2
    assert summary["command"].startswith(
        f"torchrun --standalone --nproc-per-node=2 -m h1fault {command} "
    )
