"""The vectorised env contract everything above the physics depends on (collect, play, PPO, the
closed loop): :class:`VecEnv`, its :class:`StepResult` and the :data:`Policy` callable.

:class:`~h1fault.sim.vec_env.H1VecEnv` implements it on MuJoCo / MuJoCo Warp; the tests' physics-
free fake (``tests/data/data_fake_env.py``) implements it too. A new env (another simulator,
another robot with the same observation layout) plugs in by implementing it; ``isinstance(env,
VecEnv)`` checks that the members exist (not their shapes: the tests do).

Shapes (``N`` = ``num_envs``), every tensor on :attr:`VecEnv.device`:

- ``obs``: (N, ``num_obs`` = 69) float32 policy observations; ``info["disc_obs"]``: (N,
  ``num_disc_obs`` = 88) discriminator observations (the 69 + the applied joint torques, N·m),
  both for the *next* action.
- ``actions``: (N, ``num_actions`` = 19) float32, joint targets = default pose + action_scale *
  action.
- ``reward``: (N,) float32; ``terminated`` (fall/unstable), ``truncated`` (time-out): (N,) bool.
  Envs that are done are reset inside ``step``; the returned obs is then the first observation of
  the new episode.

Per-transition ``info`` of :meth:`VecEnv.step` (values of the step just taken, before any reset):

- ``disc_obs`` (N, 88) float32, as above.
- ``fault_joint`` (N,) int64 (-1 none), ``fault_limit`` (N,) float32 (NaN none), ``saturated``
  (N,) bool: the faulted joint's torque sits at its cut limit.
- ``episode`` and ``step_in_episode`` (N,) int64.
- ``fault_events``: mapping of 1-D tensors ``env, episode, step_in_episode, global_step, joint,
  scale, limit`` (:data:`~h1fault.sim.step_info.EVENT_KEYS`), the onsets that took effect in
  this step.
- ``fault_onset`` (N,) bool, optional: the dense form of ``fault_events`` (the env's fault took
  effect in this step); consumers fall back to ``fault_events`` without it.
- ``log``: mapping of scalar episode statistics of the episodes that ended in this step (Isaac
  Lab style, for TensorBoard; empty if none ended).
- ``lin_vel_error`` (N,) |cmd_xy - v_xy| in the yaw frame (m/s) and ``ang_vel_error`` (N,)
  |cmd_wz - w_z| (rad/s) of this step.

Every returned tensor is fresh: later steps never change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:  # only a type here: the contract imports torch alone, no MuJoCo
    from h1fault.sim.task import EnvConfig

STEP_INFO_KEYS = (
    "disc_obs", "fault_joint", "fault_limit", "saturated", "episode", "step_in_episode",
    "fault_events", "log", "lin_vel_error", "ang_vel_error",
)  # fmt: skip
"""Keys every :meth:`VecEnv.step` info has (``fault_onset`` is optional)."""

Policy = Callable[[torch.Tensor], torch.Tensor]
"""obs (num_envs, 69) float32 -> actions (num_envs, 19) float32, on the env's device."""


class StepResult(NamedTuple):
    """What :meth:`VecEnv.step` returns; unpacks as Gymnasium's 5-tuple."""

    obs: torch.Tensor
    """(num_envs, 69) float32 policy observation for the next action (after any reset)."""
    reward: torch.Tensor
    """(num_envs,) float32 reward of the step just taken."""
    terminated: torch.Tensor
    """(num_envs,) bool: the episode ended in a fall or an unstable state."""
    truncated: torch.Tensor
    """(num_envs,) bool: the episode timed out (never together with ``terminated``)."""
    info: dict[str, Any]
    """Per-transition tensors and mappings; keys in the module docstring."""


@runtime_checkable
class VecEnv(Protocol):
    """``num_envs`` copies of the H1 velocity task with torque-limit faults, auto-resetting."""

    num_envs: int
    """Number of parallel envs (N)."""
    num_obs: int
    """Policy observation width (69)."""
    num_disc_obs: int
    """Discriminator observation width (88)."""
    num_actions: int
    """Action width (19 joints, model order)."""
    device: torch.device
    """Device of every tensor the env takes or returns."""
    control_dt: float
    """Seconds per :meth:`step`."""
    max_episode_steps: int
    """Steps before a time-out."""
    seed: int
    """Seed of the env's random stream."""
    cfg: EnvConfig
    """The task, fault distribution included (recorded with collected data)."""
    nominal_limits: torch.Tensor
    """(num_actions,) float32 healthy torque limits (N·m), model joint order."""
    commands: torch.Tensor
    """(num_envs, 3) float32 current velocity commands vx, vy (m/s, yaw frame), wz (rad/s)."""
    backend_name: str
    """What simulates the envs (recorded with collected data), e.g. ``CpuBackend``."""

    def reset(self) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reset every env. Returns obs (N, 69) and info with ``disc_obs`` (N, 88)."""
        ...

    def step(self, actions: torch.Tensor) -> StepResult:
        """Advance one control step. actions: (N, 19) float32. See the module docstring."""
        ...
