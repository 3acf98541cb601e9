"""Env-steps per second of the full H1 env against bare backend physics, in one run.

- bare: ``backend.step(ctrl)`` with a constant ctrl (the home pose), nothing else.
- full: :class:`~h1fault.sim.vec_env.H1VecEnv` (task, rewards, faults, auto-reset) driven by a
  policy-sized MLP (69 -> [128, 128, 128] -> 19, ELU) under ``torch.no_grad``, as in a rollout.

Targets: CPU 8 envs on 2 cores >= 5k env-steps/s; H100/H200 4096 envs >= 60 % of bare
mujoco_warp. Not a test: run it by hand, e.g.

    python benchmarks/env_throughput.py --device cpu --envs 8 --steps 2000
    python benchmarks/env_throughput.py --device cuda --backend warp --envs 4096 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from h1fault.console import resolve_device  # noqa: E402
from h1fault.errors import H1FaultError  # noqa: E402
from h1fault.sim.backend_factory import make_backend  # noqa: E402
from h1fault.sim.model import load_model  # noqa: E402
from h1fault.sim.observations import NUM_OBS  # noqa: E402
from h1fault.sim.task import EnvConfig  # noqa: E402
from h1fault.sim.vec_env import H1VecEnv  # noqa: E402


def policy_mlp(device: torch.device) -> torch.nn.Module:
    """A policy-sized actor: 69 -> [128, 128, 128] -> 19 with ELU."""
    sizes = [NUM_OBS, 128, 128, 128]
    layers: list[torch.nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ELU()]
    layers.append(torch.nn.Linear(sizes[-1], 19))
    return torch.nn.Sequential(*layers).to(device).eval()


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (torch's and Warp's) so the clock measures finished steps."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        if "warp" in sys.modules:
            sys.modules["warp"].synchronize_device(f"cuda:{device.index or 0}")


def timed(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


def bench_bare(args: argparse.Namespace, device: torch.device) -> float:
    model = load_model()
    backend = make_backend(model, args.envs, str(device), EnvConfig().substeps, args.backend)
    home = torch.tensor(model.key("home").qpos[7:], dtype=torch.float32, device=device)
    ctrl = home.expand(args.envs, -1).contiguous()
    return timed(lambda: backend.step(ctrl), args.steps, args.warmup, device)


def bench_full(args: argparse.Namespace, device: torch.device) -> float:
    env = H1VecEnv(num_envs=args.envs, device=str(device), backend=args.backend, seed=0)
    torch.manual_seed(0)
    policy = policy_mlp(device)
    state = {"obs": env.reset()[0]}

    def step() -> None:
        with torch.no_grad():
            actions = policy(state["obs"])
        state["obs"] = env.step(actions)[0]

    return timed(step, args.steps, args.warmup, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--backend", default="auto", help="auto, mujoco or warp")
    parser.add_argument("--envs", type=int, default=8, help="parallel envs")
    parser.add_argument("--steps", type=int, default=2000, help="timed control steps")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except H1FaultError as exc:
        sys.exit(f"error: {exc}")

    bare = min(bench_bare(args, device) for _ in range(args.repeats))
    full = min(bench_full(args, device) for _ in range(args.repeats))
    env_steps = args.envs * args.steps
    result = {
        "device": str(device),
        "backend": args.backend,
        "envs": args.envs,
        "steps": args.steps,
        "bare_env_steps_per_s": env_steps / bare,
        "full_env_steps_per_s": env_steps / full,
        "ratio_full_over_bare": bare / full,
        "load_avg_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "host": platform.node(),
    }
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"device={result['device']} backend={args.backend} envs={args.envs} steps={args.steps} "
        f"load(1m)={result['load_avg_1m']:.2f} cpus={result['cpu_count']} "
        f"torch_threads={result['torch_threads']}"
    )
    print(f"{'run':<6}{'seconds':>10}{'env-steps/s':>14}")
    print(f"{'bare':<6}{bare:>10.3f}{result['bare_env_steps_per_s']:>14,.0f}")
    print(f"{'full':<6}{full:>10.3f}{result['full_env_steps_per_s']:>14,.0f}")
    print(f"ratio full/bare: {result['ratio_full_over_bare']:.1%}")


if __name__ == "__main__":
    main()
