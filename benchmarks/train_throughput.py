"""Training env-steps/s (rollout + skrl PPO update) against env-only stepping, in one run.

- env only: :class:`~h1fault.sim.vec_env.H1VecEnv` stepped with the deployed-size policy's
  deterministic actions (no learning), as fast as the env goes.
- train: ``train-healthy``'s loop (skrl PPO act + record + update every ``rollouts`` steps),
  timed over the whole loop (the first iteration's start-up, graph capture, included) and, like
  env only, after a warm-up (the first iteration left out; from the run's ``curve.csv``).

Target (issue 3): on one H100/H200 at 4096 envs, report both and the ratio. Not a test:

    python benchmarks/train_throughput.py --device cuda --envs 4096 --iterations 40
    python benchmarks/train_throughput.py --device cpu --envs 8 --iterations 4
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from h1fault.config import apply_overrides  # noqa: E402
from h1fault.rl.config import TrainRunConfig, recipe_overrides  # noqa: E402
from h1fault.rl.policy import load_policy  # noqa: E402
from h1fault.rl.train import train_healthy  # noqa: E402
from h1fault.sim.vec_env import H1VecEnv  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def env_only(cfg: TrainRunConfig, envs: int, device: str, backend: str, steps: int) -> float:
    """Env-steps/s of the env driven by the shipped policy (warm-up excluded)."""
    env = H1VecEnv(cfg.env, num_envs=envs, device=device, backend=backend, seed=0)
    policy = load_policy(device=env.device)
    obs, _ = env.reset()
    for _ in range(20):  # warm-up: kernel compilation, graph capture
        obs, *_ = env.step(policy(obs))
    _sync(env.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, *_ = env.step(policy(obs))
    _sync(env.device)
    return steps * envs / (time.perf_counter() - t0)


def steady_steps_per_s(curve_csv: Path) -> float:
    """Env-steps/s from the end of the first iteration to the end of the last (curve.csv rows,
    one per iteration; ``main`` runs at least two)."""
    with curve_csv.open() as f:
        rows = list(csv.DictReader(f))
    first, last = rows[0], rows[-1]
    steps = float(last["env_steps"]) - float(first["env_steps"])
    return steps / (float(last["wall_s"]) - float(first["wall_s"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=4, help="PPO iterations to time")
    parser.add_argument("--recipe", default="isaaclab", help="train-healthy --recipe (PPO knobs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")
    cfg = apply_overrides(TrainRunConfig(), list(recipe_overrides(args.recipe)))
    rollouts = cfg.agent.ppo.rollouts
    timesteps = (args.iterations + 1) * rollouts
    cfg = apply_overrides(cfg, [f"agent.trainer.timesteps={timesteps}",
                                "agent.trainer.checkpoint_interval=0"])  # fmt: skip
    env_sps = env_only(cfg, args.envs, args.device, args.backend, steps=args.iterations * rollouts)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_healthy(cfg, num_envs=args.envs, device=args.device, backend=args.backend,
                               log_root=tmp, show_progress=False)  # fmt: skip
        steady_sps = steady_steps_per_s(result.run_dir / "curve.csv")
    row = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "envs": args.envs,
        "recipe": args.recipe,
        "env_only_steps_per_s": round(env_sps),
        "train_steps_per_s": round(result.steps_per_s),
        "ratio_train_over_env": round(result.steps_per_s / env_sps, 3),
        "train_steady_steps_per_s": round(steady_sps),
        "ratio_steady_train_over_env": round(steady_sps / env_sps, 3),
    }  # fmt: skip
    if args.json:
        print(json.dumps(row))
        return
    print(f"{'run':<10}{'env-steps/s':>14}")
    print(f"{'env only':<10}{row['env_only_steps_per_s']:>14,}")
    print(f"{'train':<10}{row['train_steps_per_s']:>14,}  (first iteration's start-up included)")
    print(f"{'train':<10}{row['train_steady_steps_per_s']:>14,}  (after the first iteration)")
    print(f"ratio train/env-only: {100 * row['ratio_train_over_env']:.1f}% with start-up, "
          f"{100 * row['ratio_steady_train_over_env']:.1f}% after warm-up on both sides  "
          f"({row['device_name']}, {args.envs} envs, recipe {args.recipe})")  # fmt: skip


if __name__ == "__main__":
    main()
