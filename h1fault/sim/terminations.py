"""Termination terms of the H1 velocity task: pure functions of batched state -> (N,) bool.

``qpos`` (N, 26) in MuJoCo's layout; ``rot`` (N, 3, 3) base rotation matrices, body to world.
"""

from __future__ import annotations

import torch


def fell(
    qpos: torch.Tensor, rot: torch.Tensor, min_base_height: float, max_tilt: float
) -> torch.Tensor:
    """Pelvis below ``min_base_height`` (m) or |projected gravity xy| above ``max_tilt``.

    Returns (N,) bool.
    """
    tilt = rot[:, 2, :2].norm(dim=1)
    return (qpos[:, 2] < min_base_height) | (tilt > max_tilt)


def non_finite(qpos: torch.Tensor) -> torch.Tensor:
    """Any generalised position is NaN or infinite (a blown-up simulation). Returns (N,) bool."""
    return ~torch.isfinite(qpos).all(dim=1)
