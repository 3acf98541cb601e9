"""Quaternion helpers for batched base orientations (wxyz, MuJoCo's convention)."""

from __future__ import annotations

import torch


def yaw_quat(yaw: torch.Tensor) -> torch.Tensor:
    """Quaternion of a pure yaw rotation. yaw: (N,) -> (N, 4) wxyz."""
    zeros = torch.zeros_like(yaw)
    return torch.stack([torch.cos(yaw / 2), zeros, zeros, torch.sin(yaw / 2)], dim=1)


def _quat_to_matrix_table() -> torch.Tensor:
    """(16, 9) table T with ``R.flatten() = (q outer q).flatten() @ T`` for unit wxyz q."""
    # R[i][j] = sum of coefficient * q_a * q_b, written {"ab": coefficient}
    entries = (
        ({"ww": 1, "xx": 1, "yy": -1, "zz": -1}, {"xy": 2, "wz": -2}, {"xz": 2, "wy": 2}),
        ({"xy": 2, "wz": 2}, {"ww": 1, "xx": -1, "yy": 1, "zz": -1}, {"yz": 2, "wx": -2}),
        ({"xz": 2, "wy": -2}, {"yz": 2, "wx": 2}, {"ww": 1, "xx": -1, "yy": -1, "zz": 1}),
    )
    component = {"w": 0, "x": 1, "y": 2, "z": 3}
    table = torch.zeros(16, 9)
    for i, row in enumerate(entries):
        for j, entry in enumerate(row):
            for (a, b), coef in entry.items():
                table[4 * component[a] + component[b], 3 * i + j] = coef
    return table


_QUAT_TO_MATRIX: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
"""The table per device and dtype (copied to a GPU once, not every step)."""


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (body to world) of unit wxyz quaternions. q: (N, 4) -> (N, 3, 3).

    Every entry is a quadratic form in q, so a batch costs an outer product and a weighted sum
    with a constant table: a handful of torch ops instead of dozens (this runs every step).
    Elementwise on purpose: a matmul could run in TF32 on GPUs if a caller allows it.
    """
    table = _QUAT_TO_MATRIX.get((q.device, q.dtype))
    if table is None:
        table = _QUAT_TO_MATRIX[(q.device, q.dtype)] = _quat_to_matrix_table().to(q.device, q.dtype)
    outer = (q[:, :, None] * q[:, None, :]).reshape(-1, 16, 1)
    return (outer * table).sum(dim=1).reshape(-1, 3, 3)
