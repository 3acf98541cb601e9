"""Recorder overhead on a real Isaac Lab task: steps/s with and without recording, same run.

One env (default ``Isaac-Velocity-Flat-H1``, 64 envs, CPU, fault term on) and one seeded actor.
Rounds alternate: a bare loop (``env.reset()`` then ``env.step(actor(obs))`` on the Isaac Lab env)
and the recorded loop (h1fault's ``collect`` over :class:`RecorderEnv`: disc stream, fault
state, background HDF5 writer) for the same number of steps, so machine drift hits both alike.
Prints JSON: per-round steps/s and ``ratio`` = recorded / bare (1.0 = free).

Example (adapter env): python integrations/isaaclab/benchmarks/recorder_overhead.py --envs 64
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="Isaac-Velocity-Flat-H1")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--steps", type=int, default=64, help="steps per round")
    p.add_argument("--rounds", type=int, default=2, help="rounds of (bare, recorded)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    from h1fault_isaaclab.collect import build, run_collect
    from h1fault_isaaclab.policy import random_actor

    from h1fault.data.writer import WriterConfig
    from h1fault.sim.faults import FaultConfig

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        rec = build(args.task, args.envs, FaultConfig(), seed=0, device=args.device)
    startup = time.perf_counter() - t0
    env = rec.env
    actor = random_actor(69, int(env.action_manager.total_action_dim), 0).to(rec.device)

    def bare() -> float:
        start = time.perf_counter()
        obs, _ = env.reset()
        with torch.no_grad():
            for _ in range(args.steps):
                obs, *_ = env.step(actor(obs["policy"]))
        return args.steps / (time.perf_counter() - start)

    def recorded(out: Path) -> float:
        res = run_collect(args.task, out, args.envs, args.steps, env=rec, force=True,
                          progress=False, writer=WriterConfig(flush_steps=32))  # fmt: skip
        return res.num_steps / res.seconds

    bare()  # warm-up: Warp kernels, first resets
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            b = bare()
            w = recorded(Path(tmp) / f"raw{r}.h5")
            rows.append({"bare_steps_per_s": b, "recorded_steps_per_s": w})
            print(f"round {r}: bare {b:.2f} steps/s, recorded {w:.2f} steps/s", file=sys.stderr)
    bare_mean = sum(r["bare_steps_per_s"] for r in rows) / len(rows)
    rec_mean = sum(r["recorded_steps_per_s"] for r in rows) / len(rows)
    print(json.dumps({
        "task": args.task, "envs": args.envs, "device": args.device, "steps_per_round": args.steps,
        "startup_s": startup, "rounds": rows, "bare_env_steps_per_s": bare_mean * args.envs,
        "recorded_env_steps_per_s": rec_mean * args.envs, "ratio": rec_mean / bare_mean,
    }, indent=2))  # fmt: skip
    env.close()


if __name__ == "__main__":
    main()
