"""Where a PPO training iteration spends its time: act, env step, record, update (synchronised).

Prints the per-phase share of one iteration (rollouts steps + one update) averaged over
``--iterations`` after a warm-up iteration, and torch.profiler's top ops of one update.

    python benchmarks/profile_train.py --device cuda --envs 4096 --iterations 5
"""

from __future__ import annotations

import argparse
import time

import torch

from h1fault.rl.config import TrainRunConfig
from h1fault.rl.train import build_ppo
from h1fault.sim.vec_env import H1VecEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    cfg = TrainRunConfig()
    env = H1VecEnv(cfg.env, num_envs=args.envs, device=args.device, seed=0)
    ppo = build_ppo(env.num_obs, env.num_actions, args.envs, cfg.agent, env.device)
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    obs, _ = env.reset()
    phases = dict.fromkeys(("act", "env.step", "record", "update"), 0.0)

    def timed(name, fn, *a):
        sync()
        t0 = time.perf_counter()
        out = fn(*a)
        sync()
        phases[name] += time.perf_counter() - t0
        return out

    for it in range(args.iterations + 1):
        if it == 1:
            phases = dict.fromkeys(phases, 0.0)
        for _ in range(cfg.agent.ppo.rollouts):
            actions = timed("act", ppo.act, obs)
            obs, reward, term, trunc, _ = timed("env.step", env.step, actions)
            timed("record", ppo.record, reward, term, trunc)
        timed("update", ppo.update, obs)
    total = sum(phases.values())
    steps = args.iterations * cfg.agent.ppo.rollouts * args.envs
    print(f"{args.envs} envs, {args.iterations} iterations: {steps / total:,.0f} env-steps/s "
          "(synchronised per phase, so slower than the real loop)")  # fmt: skip
    for k, v in phases.items():
        print(f"  {k:<10}{1e3 * v / args.iterations:9.1f} ms/iter  {100 * v / total:5.1f} %")
    for _ in range(cfg.agent.ppo.rollouts):
        obs, reward, term, trunc, _ = env.step(ppo.act(obs))
        ppo.record(reward, term, trunc)
    acts = [torch.profiler.ProfilerActivity.CPU]
    if env.device.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=acts) as prof:
        ppo.update(obs)
        sync()
    key = "cuda_time_total" if env.device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=12))


if __name__ == "__main__":
    main()
