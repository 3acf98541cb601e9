"""Cold start of the physics backend: Warp's lazy one-after-another compile vs the parallel one.

Each variant runs in a fresh process with an empty Warp kernel cache (and an empty CUDA JIT
cache), builds the mujoco_warp backend (compile, warm-up, CUDA graph capture) and steps it once;
the ratio is lazy time / parallel time, measured in the same run.

    python3 benchmarks/cold_start.py --device cuda --envs 4096
    python3 benchmarks/cold_start.py --device cpu --envs 2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, warp as wp, mujoco_warp
wp.config.kernel_cache_dir = sys.argv[1]
from h1fault.sim.model import load_model
from h1fault.sim.warp_backend import WarpBackend
device, envs, workers = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t1 = time.perf_counter()
b = WarpBackend(load_model(), envs, torch.device(device), 5, compile_workers=workers)
b.step(torch.zeros(envs, b.model.nu, device=device))
torch.cuda.synchronize() if device.startswith("cuda") else None
t2 = time.perf_counter()
r = b.precompile_report
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1,
                  "modules": r.modules if r else None,
                  "dry_pass_s": r.dry_pass_s if r else None,
                  "compile_s": r.compile_s if r else None}))
"""


def run(device: str, envs: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CUDA_CACHE_PATH=os.path.join(cache, "nv"))
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, os.path.join(cache, "warp"), device, str(envs),
             str(workers)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["process_s"] = time.perf_counter() - t0
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--envs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="parallel threads (0: one per core)")
    args = parser.parse_args()
    from h1fault.sim.warp_compile import default_workers

    workers = args.workers or default_workers()
    lazy = run(args.device, args.envs, 0)
    parallel = run(args.device, args.envs, workers)
    print(f"lazy (Warp default):      {lazy['build_s']:7.1f} s to build + first step "
          f"({lazy['process_s']:.1f} s process)")  # fmt: skip
    print(f"parallel ({workers:2d} threads):    {parallel['build_s']:7.1f} s "
          f"({parallel['process_s']:.1f} s process; dry pass {parallel['dry_pass_s']:.2f} s, "
          f"{parallel['modules']} modules compiled in {parallel['compile_s']:.1f} s)")  # fmt: skip
    print(f"ratio lazy / parallel: {lazy['build_s'] / parallel['build_s']:.2f}x")


if __name__ == "__main__":
    main()
