"""Discriminator training samples/s vs dataset size: does ``disc train`` need several GPUs?

For each dataset size M (samples held on the device, as ``disc train`` holds its train split),
time the real training step (:func:`~h1fault.disc.train.lane_batches` gather +
:func:`~h1fault.disc.train.train_step`) on batches drawn from the whole array, and report
samples/s, seconds per epoch, device memory of the obs, and the time ``collect`` needs to make
that many samples at ``--collect-rate`` env-steps/s (the H200 figure by default). The ratio
epoch / collect says how much of a data-to-detector loop the discriminator takes.

Usage::

    python benchmarks/disc_scaling.py --device cpu --sizes 1e5,1e6,4e6
    python benchmarks/disc_scaling.py --device cuda --sizes 1e6,4e6,16e6,64e6 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from h1fault.disc.features import pd_constants
from h1fault.disc.lanes import lane_schedule
from h1fault.disc.model import DiscriminatorNet
from h1fault.disc.train import lane_batches, reset_hidden, train_step

OBS_DIM = 88
NUM_CLASSES = 18
EP_LEN = 1000  # 20 s episodes at 50 Hz


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_size(device: torch.device, m: int, lanes: int, chunk: int, iters: int) -> dict:
    """Training samples/s with the train split of ``m`` samples resident on ``device``."""
    torch.manual_seed(0)
    n_ep = max(lanes, m // EP_LEN)
    m = n_ep * EP_LEN
    start = np.arange(n_ep, dtype=np.int64) * EP_LEN
    length = np.full(n_ep, EP_LEN, dtype=np.int64)
    obs = torch.randn(m, OBS_DIM, device=device)
    targets = torch.randint(0, NUM_CLASSES, (m,), device=device)
    weight = torch.ones(NUM_CLASSES, device=device)
    net = DiscriminatorNet(OBS_DIM, NUM_CLASSES, 128, 1, features="pd",
                           feature_constants=pd_constants()).to(device)  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = lane_schedule(start, length, lanes, chunk, np.random.default_rng(0)).to(device)
    batches = lane_batches(obs, targets, sched)
    h = net.initial_state(lanes, device)
    warm = 3
    for i in range(warm + iters):
        if i == warm:
            _sync(device)
            t0 = time.perf_counter()
        x, y, first, _ = next(batches)
        _, h = train_step(net, opt, x, y, reset_hidden(h, first), weight, 1.0)
    _sync(device)
    dt = (time.perf_counter() - t0) / iters
    sps = lanes * chunk / dt
    return {"samples": m, "obs_gb": m * OBS_DIM * 4 / 1e9, "samples_per_s": sps,
            "epoch_s": m / sps}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="1e5,1e6,4e6", help="dataset sizes (samples), comma list")
    ap.add_argument("--lanes", type=int, default=None, help="default 4096 GPU, 256 CPU")
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--iters", type=int, default=None, help="default 50 GPU, 5 CPU")
    ap.add_argument(
        "--collect-rate",
        type=float,
        default=900e3,
        help="collect env-steps/s to compare with (H200, 4096 envs: ~0.9M)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    lanes = args.lanes or (4096 if gpu else 256)
    iters = args.iters or (50 if gpu else 5)
    rows = []
    for m in (int(float(s)) for s in args.sizes.split(",")):
        r = bench_size(device, m, lanes, args.chunk, iters)
        r.update(device=str(device), lanes=lanes, chunk=args.chunk,
                 collect_s=r["samples"] / args.collect_rate)  # fmt: skip
        r["epoch_vs_collect"] = r["epoch_s"] / r["collect_s"]
        rows.append(r)
        print(f"{r['samples']:>12,} samples ({r['obs_gb']:6.2f} GB): "
              f"{r['samples_per_s'] / 1e6:8.3f} M samples/s, epoch {r['epoch_s']:8.2f} s, "
              f"collect at {args.collect_rate / 1e3:.0f}k/s {r['collect_s']:8.1f} s, "
              f"epoch/collect {r['epoch_vs_collect']:.3f}", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
