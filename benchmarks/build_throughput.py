"""Benchmark ``dataset build``: MB of raw observations per second and peak RSS.

Writes a synthetic raw file (default 4096 envs x 1500 steps x 88 float32 = 2.16 GB of obs, 1000-step
episodes with falls, the default fault distribution), then builds it in a child process so the
child's peak RSS is the build's alone. Targets: >= 300 MB/s and < 2 GB peak RSS.

The raw file has just been written and synced, so it is probably still in the page cache, and the
output goes to the page cache too: this measures the build's own cost (CPU, copies, HDF5), not
the disk.

    python benchmarks/build_throughput.py [--envs 4096] [--steps 1500] [--dir /tmp] [--repeat 3]

Each build runs in a fresh child process; the median MB/s over the repeats is reported with each
run's CPU seconds and the load average before it (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from h1fault.data.build import BuildConfig, build_dataset
t = time.perf_counter()
r = build_dataset([sys.argv[1]], sys.argv[2], BuildConfig(tile_mb=int(sys.argv[3])), force=True)
print(json.dumps({"seconds": time.perf_counter() - t, "raw_obs_bytes": r.raw_obs_bytes,
                  "samples": r.num_samples, "episodes": r.num_episodes}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--episode-steps", type=int, default=1000)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--tile-mb", type=int, default=128)
    ap.add_argument("--dir", default=None, help="where to put the files (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=3, help="builds to run (median reported)")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    ap.add_argument(
        "--no-checksum",
        action="store_true",
        help="raw file without fletcher32 chunk checksums (to measure their cost)",
    )
    args = ap.parse_args()

    from h1fault.data.synthetic import SyntheticSpec, write_synthetic_raw
    from h1fault.data.writer import WriterConfig

    tmp = Path(args.dir or tempfile.mkdtemp(prefix="h1fault-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    raw, out = tmp / "bench_raw.h5", tmp / "bench_ds.h5"
    spec = SyntheticSpec(
        num_envs=args.envs, num_steps=args.steps, episode_steps=args.episode_steps,
        fall_prob=0.0005, onset_window_steps=(50, 500), sat_prob=0.3, dtype=args.dtype,
    )  # fmt: skip
    t = time.perf_counter()
    write_synthetic_raw(raw, spec, WriterConfig(dtype=args.dtype, checksum=not args.no_checksum))
    gen_s = time.perf_counter() - t
    print(f"synthetic raw: {raw} {raw.stat().st_size / 1e9:.2f} GB in {gen_s:.1f} s", flush=True)
    # a raw file is normally old when it is built: flush it to disk so its dirty pages do not
    # throttle the build's own writes (it may still be in the page cache)
    os.sync()

    runs = []
    for _ in range(args.repeat):
        out.unlink(missing_ok=True)
        os.sync()
        time.sleep(2)  # let writeback of the previous output settle
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(raw), str(out), str(args.tile_mb)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            sys.exit(f"build failed:\n{proc.stderr}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rate = res["raw_obs_bytes"] / 1e6 / res["seconds"]
        runs.append({"seconds": res["seconds"], "mb_per_s": rate, "cpu_s": cpu,
                     "load_before": load})  # fmt: skip
        print(json.dumps(runs[-1]), flush=True)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child's peak (KiB on Linux)
    peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    mbs = sorted(r["mb_per_s"] for r in runs)[len(runs) // 2]
    result = {
        "raw_obs_gb": res["raw_obs_bytes"] / 1e9, "samples": res["samples"],
        "episodes": res["episodes"], "median_mb_per_s": mbs,
        "best_mb_per_s": max(r["mb_per_s"] for r in runs),
        "peak_rss_gb": peak_rss / 1e9, "cpus": os.cpu_count(), "tile_mb": args.tile_mb,
        "checksum": not args.no_checksum,
        "target_mb_per_s": 300, "target_peak_rss_gb": 2.0,
        "pass": mbs >= 300 and peak_rss < 2e9,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if not args.keep:
        for p in (raw, out):
            p.unlink(missing_ok=True)
        if args.dir is None:
            tmp.rmdir()


if __name__ == "__main__":
    main()
