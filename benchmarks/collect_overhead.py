"""Benchmark ``collect``: env-steps/s with logging vs the same rollout without logging.

One process, one env, one policy: after a warm-up (CUDA graphs, kernel compilation) it
alternates the bare rollout (policy + env.step, nothing stored) and ``collect`` writing a raw file
(staging on the device, async copy to the host, background writer), ``--repeat`` times each, and
reports the ratio of the median throughputs. Target on one GPU at 4096 envs: ratio >= 0.85.

    python benchmarks/collect_overhead.py --device cuda --envs 4096 --steps 1000
    python benchmarks/collect_overhead.py --device cpu --envs 8 --steps 200   # smoke test

The logged time covers the whole ``collect`` call: file creation, reset, rollout and the final
drain of the write queue (the user waits for all of it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_rollout(env, policy, steps: int) -> float:
    """Seconds for reset + ``steps`` steps with nothing logged."""
    device = torch.device(env.device)
    _sync(device)
    t = time.perf_counter()
    with torch.no_grad():
        obs, _info = env.reset()
        for _ in range(steps):
            obs, _r, _te, _tr, _info = env.step(policy(obs))
    _sync(device)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--envs", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--checkpoint", default=None, help="policy (default: the shipped one)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--compression", default="none", choices=["none", "lzf", "gzip"])
    ap.add_argument("--flush-steps", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--dir", default=None, help="where the raw files go (default: a temp dir)")
    ap.add_argument(
        "--no-checksum",
        action="store_true",
        help="raw file without fletcher32 chunk checksums (to measure their cost)",
    )
    args = ap.parse_args()

    from h1fault.data.collect import collect
    from h1fault.data.writer import WriterConfig
    from h1fault.rl.policy import load_policy
    from h1fault.sim.task import EnvConfig
    from h1fault.sim.vec_env import H1VecEnv

    env = H1VecEnv(EnvConfig(), num_envs=args.envs, device=args.device, backend=args.backend)
    policy = load_policy(args.checkpoint, args.device)
    wcfg = WriterConfig(dtype=args.dtype, compression=args.compression,
                        flush_steps=args.flush_steps, checksum=not args.no_checksum)  # fmt: skip
    out_dir = Path(args.dir or tempfile.mkdtemp(prefix="h1fault-collect-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "bench_raw.h5"

    t = time.perf_counter()
    bare_rollout(env, policy, args.warmup)
    warmup_s = time.perf_counter() - t
    bare, logged, details = [], [], []
    n_env_steps = args.envs * args.steps
    for _ in range(args.repeat):
        bare.append(n_env_steps / bare_rollout(env, policy, args.steps))
        t = time.perf_counter()
        res = collect(env, policy, out, args.steps, writer=wcfg, force=True, progress=False)
        seconds = time.perf_counter() - t
        logged.append(n_env_steps / seconds)
        details.append({"loop_s": res.seconds, "total_s": seconds, "mb": res.bytes_written / 1e6,
                        "sim_waited_on_disk_s": res.wait_s, "events": res.num_events})  # fmt: skip
        out.unlink(missing_ok=True)
    ratio = statistics.median(logged) / statistics.median(bare)
    result = {
        "device": str(env.device),
        "gpu": torch.cuda.get_device_name(env.device) if env.device.type == "cuda" else None,
        "envs": args.envs, "steps": args.steps, "dtype": args.dtype,
        "compression": args.compression, "flush_steps": args.flush_steps,
        "checksum": not args.no_checksum,
        "warmup_s": warmup_s, "cpus": os.cpu_count(),
        "bare_env_steps_per_s": bare, "logged_env_steps_per_s": logged, "logged_runs": details,
        "ratio_logged_vs_bare": ratio, "target_ratio": 0.85, "pass": ratio >= 0.85,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.dir is None:
        out_dir.rmdir()


if __name__ == "__main__":
    main()
