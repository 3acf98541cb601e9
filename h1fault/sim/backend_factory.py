"""Physics backends by name: the one place that knows the implementations of
:class:`~h1fault.sim.backend.PhysicsBackend` (a new backend plugs in here).

Implementations are imported on demand, so MuJoCo Warp loads only when asked for.
"""

from __future__ import annotations

import mujoco

from h1fault.console import resolve_device
from h1fault.errors import H1FaultError
from h1fault.sim.backend import PhysicsBackend


def make_backend(
    model: mujoco.MjModel, num_envs: int, device: str, substeps: int, backend: str = "auto"
) -> PhysicsBackend:
    """Build a backend by name. ``auto``: mujoco_warp on CUDA devices, MuJoCo C on CPU.

    backend: ``auto`` | ``mujoco`` (MuJoCo C, CPU only) | ``warp`` (mujoco_warp, CPU or CUDA).
    """
    torch_device = resolve_device(device)
    if backend == "auto":
        backend = "warp" if torch_device.type == "cuda" else "mujoco"
    if backend == "mujoco":
        if torch_device.type != "cpu":
            raise H1FaultError(
                "the 'mujoco' backend runs on the CPU only; use --backend warp on CUDA"
            )
        from h1fault.sim.cpu_backend import CpuBackend

        return CpuBackend(model, num_envs, substeps)
    if backend == "warp":
        from h1fault.sim.warp_backend import WarpBackend

        return WarpBackend(model, num_envs, torch_device, substeps)
    raise H1FaultError(f"unknown backend '{backend}' (choose auto, mujoco or warp)")
