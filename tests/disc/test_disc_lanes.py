"""Lane schedules: every row once, resets exactly at episode starts, balanced lanes."""

from __future__ import annotations

import numpy as np
import pytest

from h1fault.disc.lanes import lane_schedule


@pytest.mark.parametrize(("lanes", "chunk"), [(1, 4), (3, 4), (4, 1), (100, 16)])
def test_schedule_covers_each_row_once_and_resets_at_episode_starts(lanes: int, chunk: int):
    rng = np.random.default_rng(0)
    length = rng.integers(1, 30, size=17)
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    sched = lane_schedule(start, length, lanes, chunk, rng=np.random.default_rng(1))
    assert sched.num_lanes == min(lanes, 17)
    s, n, first = sched.start.numpy(), sched.length.numpy(), sched.first.numpy()
    seen = np.zeros(int(length.sum()), dtype=int)
    ep_first_rows = set(start.tolist())
    for i in range(sched.num_iters):
        for b in range(sched.num_lanes):
            if n[i, b] == 0:
                assert first[i, b]  # idle lanes hold a zero state
                continue
            seen[s[i, b] : s[i, b] + n[i, b]] += 1
            # reset exactly when the chunk opens an episode, never inside an episode
            assert first[i, b] == (s[i, b] in ep_first_rows)
            if not first[i, b]:
                # a carried chunk continues the previous chunk of the same lane
                assert i > 0 and s[i - 1, b] + n[i - 1, b] == s[i, b] and n[i - 1, b] == chunk
    assert (seen == 1).all()


def test_lanes_are_balanced() -> None:
    length = np.full(40, 64)
    start = np.arange(40) * 64
    sched = lane_schedule(start, length, 8, 16, rng=np.random.default_rng(0))
    assert sched.num_iters == 5 * 4  # 5 episodes of 4 chunks per lane, no idle iterations
    assert (sched.length.numpy() == 16).all()
