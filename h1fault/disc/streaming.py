"""The deployed streaming pass over a dataset split (shared by ``disc eval`` and ``calibrate``).

Each lane is one env of a :class:`~h1fault.disc.model.StreamingDiscriminator`; it plays the
split's episodes back to back, one step per call, with ``episode_start`` true on each episode's
first step, and its decision rule (threshold, persistence, latch) runs in the same loop. No
chunking, no look-ahead: the same code path a controller would run.
"""

from __future__ import annotations

import torch

from h1fault.console import make_progress
from h1fault.disc.dataset import SplitData
from h1fault.disc.decision import DecisionRule
from h1fault.disc.lanes import lane_schedule
from h1fault.disc.model import DiscriminatorNet, StreamingDiscriminator


def stream_split_decisions(
    net: DiscriminatorNet | torch.nn.Module,
    split: SplitData,
    rule: DecisionRule | None = None,
    *,
    num_envs: int = 4096,
    device: str | torch.device = "cpu",
    cuda_graph: bool = False,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and declared classes under ``rule`` for every row of ``split``,
    streamed step by step (:meth:`StreamingDiscriminator.step_decision`).

    Returns (S, C) float32 and (S,) int64, both on the CPU.
    """
    device = torch.device(device)
    sched = lane_schedule(split.ep_start, split.ep_length, num_envs, chunk_len=1)
    lanes = sched.num_lanes
    disc = StreamingDiscriminator(net, lanes, device=device, cuda_graph=cuda_graph, rule=rule)
    obs_all = split.obs.to(device)
    n = split.num_samples
    # One spare row absorbs idle lanes' outputs, so no boolean indexing (and no GPU sync) per step.
    out = torch.zeros(n + 1, net.num_classes, device=device)
    declared = torch.zeros(n + 1, dtype=torch.int64, device=device)
    sched = sched.to(device)
    write_idx = torch.where(sched.length > 0, sched.start, torch.full_like(sched.start, n))
    with make_progress(progress, fields=("info",)) as bar:
        task = bar.add_task(f"streaming {split.name}", total=sched.num_iters, info="")
        for i in range(sched.num_iters):
            dec, probs = disc.step_decision(obs_all.index_select(0, sched.start[i]), sched.first[i])
            out.index_copy_(0, write_idx[i], probs)
            declared.index_copy_(0, write_idx[i], dec)
            bar.advance(task)
    return out[:n].cpu(), declared[:n].cpu()


def stream_split(
    net: DiscriminatorNet | torch.nn.Module,
    split: SplitData,
    *,
    num_envs: int = 4096,
    device: str | torch.device = "cpu",
    cuda_graph: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Class probabilities for every row of ``split``, streamed step by step.

    Returns (S, C) float32 on the CPU.
    """
    probs, _ = stream_split_decisions(
        net, split, num_envs=num_envs, device=device, cuda_graph=cuda_graph, progress=progress
    )
    return probs
