"""Writer input for the raw-writer tests: a :class:`StepBatch` whose obs column 0 is the row."""

from __future__ import annotations

import numpy as np

from h1fault.data.schema import RAW_STEP_DATASETS
from h1fault.data.writer import StepBatch


def step_batch(t0: int, k: int, num_envs: int, with_event: bool = False) -> StepBatch:
    """Rows ``t0 .. t0+k-1`` of ``num_envs`` envs, no faults; ``with_event`` adds one fault
    event (env 1, joint 3) at step ``t0``. obs: (k, num_envs, 88) float32."""
    obs = np.zeros((k, num_envs, 88), np.float32)
    obs[:, :, 0] = np.arange(t0, t0 + k)[:, None]
    flags = {name: np.zeros((k, num_envs), dt) for name, dt in RAW_STEP_DATASETS.items()}
    flags["fault_joint"][:] = -1
    if not with_event:
        return StepBatch(t0, obs, flags)
    ev = {"env": [1], "episode": [0], "step_in_episode": [t0], "global_step": [t0],
          "joint": [3], "scale": [0.1], "limit": [30.0]}  # fmt: skip
    return StepBatch(t0, obs, flags, {key: np.asarray(v) for key, v in ev.items()})
