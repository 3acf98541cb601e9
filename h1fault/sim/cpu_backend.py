"""MuJoCo C backend: one ``MjData`` per env, stepped on a few threads, state mirrored into torch."""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from h1fault.sim.backend import PhysicsBackend

_BAD_STATE = [
    int(mujoco.mjtWarning.mjWARN_BADQPOS),
    int(mujoco.mjtWarning.mjWARN_BADQVEL),
    int(mujoco.mjtWarning.mjWARN_BADQACC),
]
"""MuJoCo's non-finite/huge state warnings (it resets the data itself when it raises them)."""


MAX_DEFAULT_THREADS = 8
"""Default cap on stepping threads: each holds a copy of the H1 model (~63 MB, mostly meshes)."""


def default_num_threads(num_envs: int) -> int:
    """Stepping threads for ``num_envs`` envs: one per usable CPU core, at most one per env and
    at most :data:`MAX_DEFAULT_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, num_envs, MAX_DEFAULT_THREADS))


class CpuBackend(PhysicsBackend):
    """``num_envs`` MuJoCo ``MjData`` stepped on ``num_threads`` threads.

    Envs are split into ``num_threads`` contiguous chunks; each chunk is stepped by its own thread
    with its own copy of the ``MjModel`` (``mj_step`` releases the GIL, so chunks run in
    parallel). Per-env torque limits: the chunk's model copy gets the env's
    ``actuator_forcerange`` row right before that env is stepped, so every env is clamped by
    MuJoCo itself, exactly as mujoco_warp clamps with its per-world ``actuator_forcerange``.
    Results do not depend on ``num_threads``: each env always sees the same model values.

    ``model`` itself is never written to (its forcerange stays nominal); :meth:`reset` computes
    the new state with it, i.e. with nominal limits, as every reset restores them.

    Read-outs are float32 torch views of staging buffers that :meth:`step` and :meth:`reset`
    rewrite in place (like WarpBackend's views): clone one to keep an old value.
    """

    def __init__(
        self, model: mujoco.MjModel, num_envs: int, substeps: int, num_threads: int | None = None
    ) -> None:
        self.model = model
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.substeps = substeps
        self.num_threads = num_threads or default_num_threads(num_envs)
        """Threads stepping the envs (the caller's thread is one of them)."""
        n, t = num_envs, self.num_threads
        self._datas = [mujoco.MjData(model) for _ in range(n)]
        self._chunks = [range(k * n // t, (k + 1) * n // t) for k in range(t)]
        self._models = [copy.copy(model) for _ in range(t)]
        self._pool = ThreadPoolExecutor(t - 1, thread_name_prefix="h1fault-mj") if t > 1 else None
        # forcerange per env, (n, nu, 2) float64: [-limit, +limit]
        self._forcerange = np.repeat(model.actuator_forcerange[None], n, axis=0)
        self._ctrl = np.zeros((n, model.nu))
        # float32 staging buffers, one row per env, written by the thread that steps the env;
        # the torch read-outs share their memory
        f32 = np.float32
        self._np = {
            "qpos": np.zeros((n, model.nq), f32),
            "qvel": np.zeros((n, model.nv), f32),
            "actuator_force": np.zeros((n, model.nu), f32),
            "sensordata": np.zeros((n, model.nsensordata), f32),
            "site_xpos": np.zeros((n, model.nsite, 3), f32),
        }
        self._torch = {k: torch.from_numpy(v) for k, v in self._np.items()}
        self._bad = np.zeros(n, dtype=bool)
        for i, d in enumerate(self._datas):
            mujoco.mj_resetDataKeyframe(model, d, 0)
            mujoco.mj_forward(model, d)
            self._stage(i)

    def close(self) -> None:
        """Stop the worker threads (also done at interpreter exit)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # -- read-outs ---------------------------------------------------------------------------
    @property
    def qpos(self) -> torch.Tensor:
        return self._torch["qpos"]

    @property
    def qvel(self) -> torch.Tensor:
        return self._torch["qvel"]

    @property
    def actuator_force(self) -> torch.Tensor:
        return self._torch["actuator_force"]

    @property
    def sensordata(self) -> torch.Tensor:
        return self._torch["sensordata"]

    @property
    def site_xpos(self) -> torch.Tensor:
        return self._torch["site_xpos"]

    def unstable(self) -> torch.Tensor:
        return torch.from_numpy(self._bad.copy())

    @property
    def torque_limits(self) -> torch.Tensor:
        """Symmetric torque limits MuJoCo clamps each env with (a copy, for tests and logs).

        Shape: (num_envs, nu) float64, N·m.
        """
        return torch.from_numpy(self._forcerange[:, :, 1].copy())

    # -- control -----------------------------------------------------------------------------
    def set_torque_limits(self, limits: torch.Tensor) -> None:
        upper = limits.detach().cpu().numpy()  # float32; widened exactly on assignment
        self._forcerange[:, :, 0] = -upper
        self._forcerange[:, :, 1] = upper

    def step(self, ctrl: torch.Tensor) -> None:
        self._ctrl[:] = ctrl.detach().cpu().numpy()
        if self._pool is None:
            self._step_chunk(0)
        else:
            others = [self._pool.submit(self._step_chunk, k) for k in range(1, self.num_threads)]
            self._step_chunk(0)
            for future in others:
                future.result()

    def _step_chunk(self, k: int) -> None:
        """Step the envs of chunk ``k`` with the chunk's own model copy (runs on any thread)."""
        m = self._models[k]
        for i in self._chunks[k]:
            d = self._datas[i]
            m.actuator_forcerange[:] = self._forcerange[i]
            d.ctrl[:] = self._ctrl[i]
            mujoco.mj_step(m, d, nstep=self.substeps)
            # MuJoCo resets an env whose state blew up and counts a warning: never keep it
            self._bad[i] = d.warning.number[_BAD_STATE].any()
            self._stage(i)

    def reset(
        self,
        env_mask: torch.Tensor,
        qpos: torch.Tensor,
        qvel: torch.Tensor,
        *,
        forward: bool = True,
    ) -> None:
        idx = torch.nonzero(env_mask, as_tuple=False).flatten().tolist()
        if not idx:
            return
        qpos_np = qpos.detach().to("cpu", torch.float64).numpy()
        qvel_np = qvel.detach().to("cpu", torch.float64).numpy()
        for i in idx:
            d = self._datas[i]
            mujoco.mj_resetData(self.model, d)  # also clears the warning counters
            d.qpos[:] = qpos_np[i]
            d.qvel[:] = qvel_np[i]
            d.ctrl[:] = qpos_np[i, 7:]
            if forward:  # else derived quantities stay as mj_resetData left them: zero
                mujoco.mj_forward(self.model, d)
            self._bad[i] = False
            self._stage(i)

    def _stage(self, i: int) -> None:
        """Copy env ``i``'s state into row ``i`` of the staging buffers (as float32)."""
        d, buf = self._datas[i], self._np
        buf["qpos"][i] = d.qpos
        buf["qvel"][i] = d.qvel
        buf["actuator_force"][i] = d.actuator_force
        buf["sensordata"][i] = d.sensordata
        buf["site_xpos"][i] = d.site_xpos
