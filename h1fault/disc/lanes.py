"""Lane schedules: how episodes are played through a batch of recurrent "lanes".

A lane is one row of the batch. It plays whole episodes back to back, ``chunk_len`` steps per
iteration, so the hidden state can be carried from one iteration to the next within an episode
and zeroed exactly where the lane starts a new episode. Each episode starts at a chunk boundary
(its last chunk is padded), so ``nn.GRU`` never sees an episode boundary inside a chunk.

With ``chunk_len = 1`` the same schedule drives step-by-step streaming evaluation.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class LaneSchedule:
    """Iteration ``i`` feeds lane ``b`` the rows ``start[i, b] + arange(length[i, b])``."""

    start: torch.Tensor
    """First row (in the split's arrays) of each lane's chunk. Shape: (I, B) int64 (0 when idle)."""
    length: torch.Tensor
    """Valid steps in the chunk, 0 for an idle lane. Shape: (I, B) int64."""
    first: torch.Tensor
    """Chunk is the first of an episode (or idle): zero the lane's hidden before it. (I, B) bool."""
    chunk_len: int
    """Steps per chunk (T)."""

    @property
    def num_iters(self) -> int:
        return int(self.start.shape[0])

    @property
    def num_lanes(self) -> int:
        return int(self.start.shape[1])

    def to(self, device: torch.device | str) -> LaneSchedule:
        return LaneSchedule(
            self.start.to(device), self.length.to(device), self.first.to(device), self.chunk_len
        )

    def rows(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Row indices and validity of iteration ``i``: both (B, T); invalid rows point at 0."""
        t = torch.arange(self.chunk_len, device=self.start.device)
        valid = t < self.length[i].unsqueeze(1)
        idx = torch.where(valid, self.start[i].unsqueeze(1) + t, torch.zeros_like(t))
        return idx, valid


def assign_lanes(
    costs: np.ndarray, num_lanes: int, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy balancing: each episode (in ``order``) goes to the currently shortest lane.

    costs: (E,) chunks per episode. Returns lane (E,) and offset (E,), the iteration at which the
    episode's first chunk plays in that lane.
    """
    n = len(costs)
    lane = np.zeros(n, dtype=np.int64)
    offset = np.zeros(n, dtype=np.int64)
    heap = [(0, b) for b in range(num_lanes)]
    for e in range(n) if order is None else order:
        load, b = heapq.heappop(heap)
        lane[e], offset[e] = b, load
        heapq.heappush(heap, (load + int(costs[e]), b))
    return lane, offset


def lane_schedule(
    ep_start: np.ndarray,
    ep_length: np.ndarray,
    num_lanes: int,
    chunk_len: int,
    rng: np.random.Generator | None = None,
) -> LaneSchedule:
    """Schedule every episode exactly once over ``min(num_lanes, E)`` lanes.

    ep_start, ep_length: (E,) rows of each episode. ``rng`` shuffles the episode order (training);
    None keeps the file order (evaluation).
    """
    n_ep = len(ep_start)
    lanes = max(1, min(num_lanes, n_ep))
    nch = -(-ep_length.astype(np.int64) // chunk_len)  # ceil
    order = rng.permutation(n_ep) if rng is not None else None
    lane, offset = assign_lanes(nch, lanes, order)
    total = int(nch.sum())
    ep_of_chunk = np.repeat(np.arange(n_ep), nch)
    k = np.arange(total) - np.repeat(np.cumsum(nch) - nch, nch)  # chunk index inside episode
    row = offset[ep_of_chunk] + k
    col = lane[ep_of_chunk]
    iters = int(row.max()) + 1 if total else 0
    start = np.zeros((iters, lanes), dtype=np.int64)
    length = np.zeros((iters, lanes), dtype=np.int64)
    first = np.ones((iters, lanes), dtype=bool)
    start[row, col] = ep_start[ep_of_chunk] + k * chunk_len
    length[row, col] = np.minimum(chunk_len, ep_length[ep_of_chunk] - k * chunk_len)
    first[row, col] = k == 0
    return LaneSchedule(
        torch.from_numpy(start), torch.from_numpy(length), torch.from_numpy(first), chunk_len
    )
