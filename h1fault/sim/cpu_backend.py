"""MuJoCo C backend: one ``MjData`` per env stepped in a loop, state mirrored into torch (CPU)."""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from h1fault.sim.backend import PhysicsBackend


class CpuBackend(PhysicsBackend):
    """``num_envs`` MuJoCo ``MjData`` sharing one ``MjModel``.

    Per-env torque limits: the shared model's ``actuator_forcerange`` is rewritten with the env's
    row right before that env is stepped, so every env is clamped by MuJoCo itself, exactly as
    mujoco_warp clamps with its per-world ``actuator_forcerange``.
    """

    def __init__(self, model: mujoco.MjModel, num_envs: int, substeps: int) -> None:
        self.model = model
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.substeps = substeps
        self._datas = [mujoco.MjData(model) for _ in range(num_envs)]
        self._limits = np.repeat(np.abs(model.actuator_forcerange[None, :, 1]), num_envs, axis=0)
        self._nominal_forcerange = model.actuator_forcerange.copy()
        n = num_envs
        # float64 staging buffers filled per env, converted to float32 torch once per step
        self._np = {
            "qpos": np.zeros((n, model.nq)),
            "qvel": np.zeros((n, model.nv)),
            "actuator_force": np.zeros((n, model.nu)),
            "sensordata": np.zeros((n, model.nsensordata)),
            "site_xpos": np.zeros((n, model.nsite, 3)),
        }
        self._torch: dict[str, torch.Tensor] = {}
        self._unstable = torch.zeros(n, dtype=torch.bool)
        for d in self._datas:
            mujoco.mj_resetDataKeyframe(model, d, 0)
            mujoco.mj_forward(model, d)
        self._sync(range(n))

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
        return self._unstable.clone()

    @property
    def torque_limits(self) -> torch.Tensor:
        """Symmetric torque limits MuJoCo clamps each env with (a copy, for tests and logs).

        Shape: (num_envs, nu) float64, N·m.
        """
        return torch.from_numpy(self._limits.copy())

    # -- control -----------------------------------------------------------------------------
    def set_torque_limits(self, limits: torch.Tensor) -> None:
        self._limits = limits.detach().to("cpu", torch.float64).numpy().copy()

    def step(self, ctrl: torch.Tensor) -> None:
        ctrl_np = ctrl.detach().to("cpu", torch.float64).numpy()
        m = self.model
        forcerange = m.actuator_forcerange
        for i, d in enumerate(self._datas):
            forcerange[:, 0] = -self._limits[i]
            forcerange[:, 1] = self._limits[i]
            d.ctrl[:] = ctrl_np[i]
            mujoco.mj_step(m, d, nstep=self.substeps)
            # warnings count solver/contact overflows; treat like NaN (never silently kept)
            bad = (
                not np.isfinite(d.qacc).all() or d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number
            )
            self._unstable[i] = bool(bad)
        forcerange[:] = self._nominal_forcerange
        self._sync(range(self.num_envs))

    def reset(self, env_mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        idx = torch.nonzero(env_mask, as_tuple=False).flatten().tolist()
        if not idx:
            return
        qpos_np = qpos.detach().to("cpu", torch.float64).numpy()
        qvel_np = qvel.detach().to("cpu", torch.float64).numpy()
        for i in idx:
            d = self._datas[i]
            mujoco.mj_resetData(self.model, d)
            d.qpos[:] = qpos_np[i]
            d.qvel[:] = qvel_np[i]
            d.ctrl[:] = qpos_np[i, 7:]
            mujoco.mj_forward(self.model, d)
            self._unstable[i] = False
        self._sync(idx)

    def _sync(self, idx) -> None:
        buf = self._np
        for i in idx:
            d = self._datas[i]
            buf["qpos"][i] = d.qpos
            buf["qvel"][i] = d.qvel
            buf["actuator_force"][i] = d.actuator_force
            buf["sensordata"][i] = d.sensordata
            buf["site_xpos"][i] = d.site_xpos
        self._torch = {k: torch.from_numpy(v.astype(np.float32)) for k, v in buf.items()}
