"""Constants and dtypes of the raw and built file formats (see ``docs/data_format.md``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from h1fault.sim.event_fields import EVENT_KEYS

OBS_DIM = 88
"""Discriminator observation width: 69 policy observations + 19 applied joint torques."""
RAW_FORMAT = "h1fault-raw"
DATASET_FORMAT = "h1fault-dataset"
FORMAT_VERSION = 1

EVENT_DTYPE = np.dtype(
    list(zip(EVENT_KEYS, ("<i4", "<i4", "<i4", "<i8", "<i2", "<f4", "<f4"), strict=True))
)
"""One row per fault onset in a raw file's ``events`` table (fields: ``EVENT_KEYS``)."""

EPISODE_DTYPE = np.dtype(
    [
        ("source", "<i2"),
        ("env", "<i4"),
        ("episode", "<i4"),
        ("start", "<i8"),
        ("length", "<i4"),
        ("fault_joint", "<i2"),
        ("onset", "<i4"),
        ("scale", "<f4"),
        ("first_saturation", "<i4"),
        ("terminated", "?"),
        ("ended", "?"),
        ("num_events", "<i2"),
        ("mismatches", "<i4"),
        ("split", "i1"),
    ]
)
"""One row per episode of a built dataset's ``episodes`` table (fields in the format doc)."""

RAW_STEP_DATASETS: dict[str, np.dtype] = {
    "done": np.dtype("?"),
    "terminated": np.dtype("?"),
    "truncated": np.dtype("?"),
    "fault_joint": np.dtype("i1"),
    "saturated": np.dtype("?"),
    "episode": np.dtype("<i4"),
    "step_in_episode": np.dtype("<i4"),
    "torque_limit": np.dtype("<f4"),
}
"""Per-step ``[T, N]`` datasets of a raw file and their dtypes (``obs`` is separate)."""

SPLIT_NAMES = ("train", "val", "test")
"""Split codes 0, 1, 2 of the ``split`` field."""

OBS_DTYPES = ("float32", "float16")
"""Allowed stored observation dtypes."""


def to_json(value: Any) -> str:
    """JSON text for a JSON-valued attr (tuples become lists, numpy scalars plain numbers)."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        return str(obj)

    return json.dumps(value, default=default)
