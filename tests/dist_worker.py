"""Run by tests/test_dist.py under ``torch.distributed.run`` (gloo, CPU): exercises every
collective of :mod:`h1fault.dist` and saves what this rank saw to ``<out>/rank<r>.pt``."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from h1fault import dist as hdist


def main(out: Path) -> None:
    d = hdist.init("cpu")
    torch.manual_seed(100 + d.rank)  # every rank starts from different weights
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    with torch.no_grad():
        model[1].running_mean.add_(d.rank + 1.0)  # a buffer that differs too
    d.broadcast_module(model)
    after_broadcast = {k: v.clone() for k, v in model.state_dict().items()}
    # each rank's shard of rows: different lengths and distributions
    x = torch.randn(5 + 3 * d.rank, 3) * (1 + d.rank) + 10 * d.rank
    model(x).pow(2).mean().backward()
    params = list(model.parameters())
    local_grads = [p.grad.clone() for p in params]
    d.allreduce_grads(params)
    moments = d.reduce_moments(*hdist.batch_moments(x))
    torch.save({
        "state": after_broadcast, "x": x, "local_grads": local_grads,
        "grads": [p.grad.clone() for p in params], "moments": moments,
        "mean_tensor": d.allreduce_mean(torch.tensor([float(d.rank), 2.0])),
        "mean_float": d.allreduce_mean(float(d.rank)), "sum_float": d.allreduce_sum(3.0),
        "gathered": d.gather_object(("rank", d.rank)),
        "broadcast": d.broadcast_object(f"from rank {d.rank}"),
        "seed": d.seed(7), "env_offset": d.env_id_offset(4), "world": d.world_size,
    }, out / f"rank{d.rank}.pt")  # fmt: skip
    d.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
