"""The physics backend contract: batched MuJoCo state as torch tensors, one row per env.

Two implementations simulate the same ``MjModel``: :class:`~h1fault.sim.cpu_backend.CpuBackend`
(MuJoCo C, one ``MjData`` per env) and :class:`~h1fault.sim.warp_backend.WarpBackend`
(mujoco_warp, ``nworld = num_envs``). Both clamp actuator torque with MuJoCo's own per-actuator
``forcerange``, set per env via :meth:`PhysicsBackend.set_torque_limits`, so a cut limit means the
same thing on both.

:func:`~h1fault.sim.backend_factory.make_backend` builds one by name (where a new backend plugs
in). Every tensor below lives on :attr:`PhysicsBackend.device` and is float32 unless stated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import mujoco
import torch


class PhysicsBackend(ABC):
    """Batched physics for ``num_envs`` copies of one H1 model.

    State read-outs are valid after :meth:`step` or :meth:`reset` and are refreshed by them;
    callers must not write into them.
    """

    model: mujoco.MjModel
    """The host-side model (shared by all envs; per-env torque limits live in the backend)."""
    num_envs: int
    """Number of parallel envs (worlds)."""
    device: torch.device
    """Torch device of every tensor this backend returns or accepts."""
    substeps: int
    """Physics steps per :meth:`step` call (control decimation)."""

    @property
    @abstractmethod
    def qpos(self) -> torch.Tensor:
        """Generalised positions. Shape: (num_envs, nq=26).

        Layout: base pos world (3), base quat wxyz (4), joint angles (19).
        """

    @property
    @abstractmethod
    def qvel(self) -> torch.Tensor:
        """Generalised velocities. Shape: (num_envs, nv=25).

        Layout: base lin vel world (3), base ang vel body (3), joint velocities (19).
        """

    @property
    @abstractmethod
    def actuator_force(self) -> torch.Tensor:
        """Applied (clamped) actuator torques of the last substep. Shape: (num_envs, nu=19), N·m."""

    @property
    @abstractmethod
    def sensordata(self) -> torch.Tensor:
        """MuJoCo sensor readings (model's sensor layout). Shape: (num_envs, nsensordata=40)."""

    @property
    @abstractmethod
    def site_xpos(self) -> torch.Tensor:
        """World positions of the model's sites. Shape: (num_envs, nsite, 3)."""

    @abstractmethod
    def set_torque_limits(self, limits: torch.Tensor) -> None:
        """Set the symmetric per-env per-actuator torque limit used from the next substep on.

        limits: (num_envs, nu) float32, N·m, each >= 0 (forcerange becomes [-limit, +limit]).
        """

    @abstractmethod
    def step(self, ctrl: torch.Tensor) -> None:
        """Apply position targets and advance ``substeps`` physics steps.

        ctrl: (num_envs, nu) float32 joint position targets (rad).
        """

    @abstractmethod
    def reset(
        self,
        env_mask: torch.Tensor,
        qpos: torch.Tensor,
        qvel: torch.Tensor,
        *,
        forward: bool = True,
    ) -> None:
        """Set the state of the masked envs (``ctrl`` = their joint angles, no solver warmstart).

        env_mask: (num_envs,) bool. qpos: (num_envs, nq). qvel: (num_envs, nv).
        Rows where ``env_mask`` is False are ignored. Unmasked envs are untouched.

        forward: recompute the masked envs' derived read-outs (``actuator_force``, ``sensordata``,
        ``site_xpos``) with mj_forward. With False they read zero until the next :meth:`step`,
        which recomputes everything from the state alone: the next step's result is the same
        either way. False never waits on the device (the env resets this way every step).
        """

    @abstractmethod
    def unstable(self) -> torch.Tensor:
        """Envs whose state is non-finite or whose solver overflowed. Shape: (num_envs,) bool.

        The env layer resets these and marks their step as terminated; their data is never
        passed on as valid.
        """
