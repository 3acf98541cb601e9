"""Discriminator speed: streaming step latency and training samples/s, each next to a baseline.

Baselines are measured in the same run on the same device: a plain ``nn.GRU`` (sequence length
1) + ``nn.Linear`` forward for the streaming step (no normalisation, reset or softmax), and a plain
``nn.GRU`` + ``nn.Linear`` forward/backward/AdamW step on a pre-made batch for training (no
gather, no class weights, no clipping, no hidden carry). ``ratio`` = ours / baseline time.

Goals (issue): 4096-env streaming step <= 0.2 ms on the GPU; training >= 1M samples/s on the GPU.

Usage::

    python benchmarks/disc_speed.py --device cpu                  # laptop/CI numbers
    python benchmarks/disc_speed.py --device cuda --json out.json # GPU numbers (+ CUDA graphs)
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from h1fault.disc.decision import DecisionRule
from h1fault.disc.features import pd_constants, phys_constants
from h1fault.disc.lanes import lane_schedule
from h1fault.disc.model import DiscriminatorNet, StreamingDiscriminator, StreamingStep
from h1fault.disc.residual import ResidualDetector, ResidualParams
from h1fault.disc.train import lane_batches, reset_hidden, train_step

OBS_DIM = 88
NUM_CLASSES = 18  # healthy + 17 candidate joints


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_per_call(
    fn: Callable[[], object], device: torch.device, iters: int, warmup: int, sync_each: bool
) -> float:
    """Mean seconds per call. ``sync_each``: wait for the GPU after every call (true latency)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
        if sync_each:
            _sync(device)
    _sync(device)
    return (time.perf_counter() - t0) / iters


def _net(hidden: int, layers: int, features: str) -> DiscriminatorNet:
    consts = {"pd": pd_constants, "phys": phys_constants}.get(features, lambda: None)()
    return DiscriminatorNet(
        OBS_DIM, NUM_CLASSES, hidden, layers, features=features, feature_constants=consts
    )


RULE = DecisionRule(0.95, 3, latch=True)
"""A typical calibrated decision rule, timed in the ``+ rule`` variants."""


def bench_streaming(
    num_envs: int,
    device: torch.device,
    hidden: int,
    layers: int,
    iters: int,
    cuda_graph: bool,
    features: str = "raw",
) -> list[dict]:
    """Streaming step for ``num_envs`` envs: ours (eager, scripted, CUDA graph; with and without
    the decision rule) vs nn.GRU+Linear."""
    torch.manual_seed(0)
    net = _net(hidden, layers, features).to(device).eval()
    obs = torch.randn(num_envs, OBS_DIM, device=device)
    start = torch.rand(num_envs, device=device) < 0.001
    rows = []
    sync_modes = (True, False) if device.type == "cuda" else (True,)

    gru = nn.GRU(net.input_dim, hidden, layers, batch_first=True).to(device).eval()
    head = nn.Linear(hidden, NUM_CLASSES).to(device).eval()
    h = torch.zeros(layers, num_envs, hidden, device=device)
    obs_in = torch.randn(num_envs, net.input_dim, device=device)  # baseline: features given

    def baseline() -> torch.Tensor:
        out, _ = gru(obs_in.unsqueeze(1), h)
        return head(out[:, 0])

    variants: list[tuple[str, Callable[[], object]]] = []
    disc = StreamingDiscriminator(net, num_envs, device=device, rule=RULE)
    variants.append(("ours eager", lambda: disc.step(obs, start)))
    variants.append(("ours eager + rule", lambda: disc.step_decision(obs, start)))
    scripted = torch.jit.script(StreamingStep(net).eval())
    hs = scripted.initial_state(num_envs)

    def scripted_step() -> object:
        nonlocal hs
        p, hs = scripted(obs, start, hs)
        return p

    variants.append(("ours torchscript", scripted_step))
    if cuda_graph and device.type == "cuda":
        graphed = StreamingDiscriminator(net, num_envs, device=device, cuda_graph=True, rule=RULE)
        variants.append(("ours cuda graph", lambda: graphed.step(obs, start)))
        variants.append(("ours cuda graph + rule", lambda: graphed.step_decision(obs, start)))
    # the physics-residual detector through the same streaming wrapper
    candidates = (-1, *(j for j in range(19) if j not in (4, 9)))  # all joints but the ankles
    res = ResidualDetector(ResidualParams.from_model(smoothing=0.6), candidates)
    res_disc = StreamingDiscriminator(res, num_envs, device=device, rule=RULE)
    variants.append(("residual eager + rule", lambda: res_disc.step_decision(obs, start)))
    if cuda_graph and device.type == "cuda":
        res_g = StreamingDiscriminator(res, num_envs, device=device, cuda_graph=True, rule=RULE)
        variants.append(("residual cuda graph + rule", lambda: res_g.step_decision(obs, start)))

    with torch.inference_mode():
        for sync_each in sync_modes:
            base = _time_per_call(baseline, device, iters, iters // 10 + 5, sync_each)
            mode = "latency (sync each step)" if sync_each else "throughput (back to back)"
            rows.append(
                dict(
                    bench="stream",
                    envs=num_envs,
                    device=str(device),
                    variant="baseline nn.GRU+Linear",
                    mode=mode,
                    ms=1e3 * base,
                    ratio=1.0,
                )
            )
            for name, fn in variants:
                t = _time_per_call(fn, device, iters, iters // 10 + 5, sync_each)
                rows.append(
                    dict(
                        bench="stream",
                        envs=num_envs,
                        device=str(device),
                        variant=name,
                        mode=mode,
                        ms=1e3 * t,
                        ratio=t / base,
                    )
                )
    return rows


def bench_training(
    device: torch.device,
    hidden: int,
    layers: int,
    lanes: int,
    chunk: int,
    ep_len: int,
    iters: int,
    features: str = "raw",
) -> list[dict]:
    """Training samples/s: our lane/TBPTT loop vs a plain GRU fwd/bwd/step on a fixed batch."""
    torch.manual_seed(0)
    warm = max(3, iters // 10)
    n_ep = lanes * -(-(iters + warm) * chunk // ep_len)  # enough episodes for every iteration
    length = np.full(n_ep, ep_len, dtype=np.int64)
    start = np.arange(n_ep, dtype=np.int64) * ep_len
    obs = torch.randn(n_ep * ep_len, OBS_DIM, device=device)
    targets = torch.randint(0, NUM_CLASSES, (n_ep * ep_len,), device=device)
    weight = torch.rand(NUM_CLASSES, device=device) + 0.5

    net = _net(hidden, layers, features).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = lane_schedule(start, length, lanes, chunk, np.random.default_rng(0)).to(device)
    batches = lane_batches(obs, targets, sched)
    h = net.initial_state(lanes, device)

    def ours() -> None:
        nonlocal h
        x, y, first, _ = next(batches)
        _, h = train_step(net, opt, x, y, reset_hidden(h, first), weight, 1.0)

    t_ours = _time_per_call(ours, device, iters, warm, sync_each=False)

    gru = nn.GRU(net.input_dim, hidden, layers, batch_first=True).to(device)
    head = nn.Linear(hidden, NUM_CLASSES).to(device)
    bopt = torch.optim.AdamW([*gru.parameters(), *head.parameters()], lr=1e-3)
    xb = torch.randn(lanes, chunk, net.input_dim, device=device)  # baseline: features given
    yb = torch.randint(0, NUM_CLASSES, (lanes * chunk,), device=device)

    def baseline() -> None:
        out, _ = gru(xb)
        loss = nn.functional.cross_entropy(head(out).reshape(-1, NUM_CLASSES), yb)
        bopt.zero_grad(set_to_none=True)
        loss.backward()
        bopt.step()

    t_base = _time_per_call(baseline, device, iters, warm, sync_each=False)
    samples = lanes * chunk
    return [
        dict(
            bench="train",
            device=str(device),
            variant="baseline nn.GRU fwd/bwd",
            lanes=lanes,
            chunk=chunk,
            samples_per_s=samples / t_base,
            ms_per_iter=1e3 * t_base,
            ratio=1.0,
        ),
        dict(
            bench="train",
            device=str(device),
            variant="ours (gather+TBPTT+weighted CE+clip)",
            lanes=lanes,
            chunk=chunk,
            samples_per_s=samples / t_ours,
            ms_per_iter=1e3 * t_ours,
            ratio=t_ours / t_base,
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--envs", type=int, default=4096, help="streaming envs on --device")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--stream-iters", type=int, default=None, help="default 2000 GPU, 200 CPU")
    ap.add_argument(
        "--lanes", type=int, default=None, help="train lanes; default 4096 GPU, 256 CPU"
    )
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--features", default="pd", choices=["raw", "pd", "phys"], help="model inputs")
    ap.add_argument("--train-iters", type=int, default=None, help="default 50 GPU, 10 CPU")
    ap.add_argument("--no-cuda-graph", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.jit in torch 2.13
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    rows = []
    rows += bench_streaming(
        args.envs,
        dev,
        args.hidden,
        args.layers,
        args.stream_iters or (2000 if gpu else 200),
        not args.no_cuda_graph,
        args.features,
    )
    rows += bench_streaming(
        1,
        torch.device("cpu"),
        args.hidden,
        args.layers,
        args.stream_iters or 2000,
        False,
        args.features,
    )
    rows += bench_training(
        dev,
        args.hidden,
        args.layers,
        args.lanes or (4096 if gpu else 256),
        args.chunk,
        1000,
        args.train_iters or (50 if gpu else 10),
        args.features,
    )

    name = torch.cuda.get_device_name(dev) if gpu else f"CPU x{torch.get_num_threads()} threads"
    print(
        f"# disc_speed on {name}, torch {torch.__version__}, hidden {args.hidden}, "
        f"layers {args.layers}, features {args.features}, rule {RULE.describe()}"
    )
    for r in rows:
        if r["bench"] == "stream":
            print(
                f"stream {r['envs']:>5} envs {r['device']:<6} {r['variant']:<24} "
                f"{r['mode']:<26} {r['ms']:8.4f} ms/step  x{r['ratio']:.2f} baseline"
            )
        else:
            print(
                f"train  {r['lanes']:>5} lanes x {r['chunk']} {r['device']:<6} "
                f"{r['variant']:<38} {r['samples_per_s'] / 1e6:7.3f} M samples/s "
                f"({r['ms_per_iter']:.2f} ms/iter)  x{r['ratio']:.2f} baseline time"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
