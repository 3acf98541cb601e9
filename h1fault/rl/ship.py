"""Train-and-ship workflows: a run, its deployable file, and the metadata that says how it was made.

``train-healthy`` writes ``policy.pt`` + ``policy.json``; ``train-failure`` writes ``bank.pt`` +
``bank.json``. The metadata records the canonical command (every choice explicit, so it
reproduces the run), the machine, versions, the resolved config and headline numbers.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shlex
import time
from pathlib import Path

import torch

from h1fault.config import to_dict
from h1fault.dist import Dist
from h1fault.fileio import file_sha256
from h1fault.provenance import git_commit, package_versions
from h1fault.rl.config import TrainRunConfig
from h1fault.rl.policy import export_policy, load_policy
from h1fault.rl.train import TrainResult, train_healthy


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """How a training run is launched (what the canonical command spells out)."""

    num_envs: int
    """Parallel envs."""
    device: str
    """Torch device string."""
    backend: str = "auto"
    """Physics backend."""
    seed: int = 0
    """Seed of torch, numpy and the env."""
    checkpoint: str | None = None
    """Resumed skrl-layout checkpoint, if any."""
    log_root: str = "logs/skrl"
    """Root of the run directories."""
    eval_episodes: int = 0
    """Episodes of the final deterministic evaluation (0: none)."""
    recipe: str = "isaaclab"
    """Named override set applied before the user's (:data:`h1fault.rl.config.RECIPES`)."""


def default_num_envs(device: str) -> int:
    """4096 envs on a GPU, 16 on a CPU."""
    return 4096 if device.startswith("cuda") else 16


def canonical_command(
    name: str, spec: RunSpec, overrides: list[str], timesteps: int, world_size: int = 1
) -> str:
    """The command line that reproduces a run (every choice explicit; ``torchrun ...`` for a
    run over ``world_size`` processes, each with ``--envs`` envs)."""
    parts = ["h1fault", name, "--envs", str(spec.num_envs), "--device", spec.device,
             "--backend", spec.backend, "--seed", str(spec.seed)]  # fmt: skip
    if world_size > 1:
        parts[:1] = ["torchrun", "--standalone", f"--nproc-per-node={world_size}", "-m", "h1fault"]
    if spec.checkpoint is not None:
        parts += ["--checkpoint", str(spec.checkpoint)]
    if spec.eval_episodes:
        parts += ["--eval-episodes", str(spec.eval_episodes)]
    if spec.recipe != "isaaclab":
        parts += ["--recipe", spec.recipe]
    kept = [o for o in overrides if not o.startswith("agent.trainer.timesteps=")]
    parts += [*kept, f"agent.trainer.timesteps={timesteps}"]
    return " ".join(shlex.quote(p) for p in parts)


def _run_meta(result: TrainResult, cfg, command: str, spec: RunSpec) -> dict:
    return {
        "command": command,
        "seed": spec.seed,
        "num_envs": spec.num_envs,
        "device": spec.device,
        "device_name": torch.cuda.get_device_name(torch.device(spec.device))
        if spec.device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "backend": spec.backend,
        "commit": git_commit(),
        "world_size": result.world_size,
        "env_steps": result.env_steps,
        "wall_clock_s": round(result.wall_s, 1),
        "startup_s": round(result.startup_s, 1),
        "env_build_s": round(result.env_build_s, 1),
        "kernel_compile_s": None
        if result.kernel_compile_s is None
        else round(result.kernel_compile_s, 1),
        "train_env_steps_per_s": round(result.steps_per_s),
        "final_mean_episode_length_s": round(result.final_mean_length_s, 2),
        "run_dir": str(result.run_dir),
        "activation": cfg.agent.models.activation,
        "versions": package_versions(),
        "config": to_dict(cfg),
    }


def train_healthy_and_ship(cfg: TrainRunConfig, spec: RunSpec, overrides: list[str],
                           show_progress: bool = True, dist: Dist | None = None
                           ) -> dict | None:  # fmt: skip
    """Train a healthy policy, write ``policy.pt``/``policy.json``; returns the metadata.

    dist: under torchrun (:func:`h1fault.dist.init`) every rank trains; rank 0 writes and gets
    the metadata, the other ranks get None.
    """
    result = train_healthy(cfg, num_envs=spec.num_envs, device=spec.device, seed=spec.seed,
                           backend=spec.backend, checkpoint=spec.checkpoint,
                           log_root=spec.log_root, show_progress=show_progress,
                           dist=dist)  # fmt: skip
    if dist is not None and not dist.is_rank0:
        return None
    command = canonical_command("train-healthy", spec, overrides, cfg.agent.trainer.timesteps,
                                result.world_size)  # fmt: skip
    return write_deployable(result, cfg, command, spec)


def write_deployable(result: TrainResult, cfg: TrainRunConfig, command: str,
                     spec: RunSpec) -> dict:  # fmt: skip
    """Write ``policy.pt`` (policy + normaliser) and ``policy.json`` into the run dir.

    With ``spec.eval_episodes`` > 0 a deterministic :func:`~h1fault.rl.play.play` evaluation on
    the training device is added to the metadata. Returns the metadata.
    """
    meta = _run_meta(result, cfg, command, spec)
    policy_path = export_policy(result.final_checkpoint, result.run_dir / "policy.pt", meta)
    if spec.eval_episodes > 0:
        from h1fault.rl.play import play

        t0 = time.perf_counter()
        policy = load_policy(policy_path, device=spec.device)
        report = play(policy, cfg.env, episodes=spec.eval_episodes, device=spec.device,
                      backend=spec.backend, seed=spec.seed + 1)  # fmt: skip
        meta["play"] = report.to_dict()
        meta["eval_s"] = round(time.perf_counter() - t0, 1)
        export_policy(result.final_checkpoint, policy_path, meta)
    (result.run_dir / "policy.json").write_text(json.dumps(meta, indent=2))
    return meta


def train_failure_and_ship(cfg, spec: RunSpec, overrides: list[str],
                           show_progress: bool = True, dist: Dist | None = None
                           ) -> dict | None:  # fmt: skip
    """Train the failure bank, write ``bank.pt``/``bank.json``; returns the metadata (None on
    ranks > 0 under torchrun, see :func:`train_healthy_and_ship`)."""
    from h1fault.rl.bank import default_bank_path
    from h1fault.rl.failure import export_bank, train_failure
    from h1fault.rl.policy import default_policy_path

    result, ppo, healthy = train_failure(
        cfg, num_envs=spec.num_envs, device=spec.device, seed=spec.seed, backend=spec.backend,
        checkpoint=spec.checkpoint, log_root=spec.log_root, show_progress=show_progress,
        dist=dist,
    )  # fmt: skip
    if dist is not None and not dist.is_rank0:
        return None
    command = canonical_command("train-failure", spec, overrides, cfg.agent.trainer.timesteps,
                                result.world_size)  # fmt: skip
    meta = _run_meta(result, cfg, command, spec)
    healthy_path = Path(cfg.bank.healthy_policy or default_policy_path())
    meta |= {
        "structure": cfg.bank.structure,
        "joints": list(cfg.env.faults.candidates),
        "healthy_policy": str(healthy_path),
        "healthy_policy_sha256": file_sha256(healthy_path),
        "ships_as": str(default_bank_path().name),
    }
    bank_path = export_bank(ppo, healthy, cfg, result.run_dir / "bank.pt", meta)
    (result.run_dir / "bank.json").write_text(json.dumps(meta, indent=2))
    meta["bank"] = str(bank_path)
    return meta
