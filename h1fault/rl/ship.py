"""The deployable copy of a trained policy and the metadata that says how it was made."""

from __future__ import annotations

import json
import platform

import torch

from h1fault.config import to_dict
from h1fault.provenance import git_commit, package_versions
from h1fault.rl.config import TrainRunConfig
from h1fault.rl.policy import export_policy, load_policy
from h1fault.rl.train import TrainResult


def write_deployable(
    result: TrainResult,
    cfg: TrainRunConfig,
    command: str,
    seed: int,
    num_envs: int,
    device: str,
    backend: str,
    eval_episodes: int = 0,
) -> dict:
    """Write ``policy.pt`` (policy + normaliser) and ``policy.json`` into the run dir.

    With ``eval_episodes`` > 0 a deterministic :func:`~h1fault.rl.play.play` evaluation on the
    training device is added to the metadata. Returns the metadata.
    """
    meta = {
        "command": command,
        "seed": seed,
        "num_envs": num_envs,
        "device": device,
        "device_name": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "backend": backend,
        "commit": git_commit(),
        "env_steps": result.env_steps,
        "wall_clock_s": round(result.wall_s, 1),
        "train_env_steps_per_s": round(result.steps_per_s),
        "final_mean_episode_length_s": round(result.final_mean_length_s, 2),
        "run_dir": str(result.run_dir),
        "activation": cfg.agent.models.activation,
        "versions": package_versions(),
        "config": to_dict(cfg),
    }
    policy_path = export_policy(result.final_checkpoint, result.run_dir / "policy.pt", meta)
    if eval_episodes > 0:
        from h1fault.rl.play import play

        policy = load_policy(policy_path, device=device)
        report = play(policy, cfg.env, episodes=eval_episodes, device=device, backend=backend,
                      seed=seed + 1)  # fmt: skip
        meta["play"] = report.to_dict()
        export_policy(result.final_checkpoint, policy_path, meta)
    (result.run_dir / "policy.json").write_text(json.dumps(meta, indent=2))
    return meta
