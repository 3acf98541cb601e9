"""The discriminator stream of an Isaac Lab H1 task, in h1fault's raw format, for all envs at once.

:class:`RecorderEnv` wraps a manager-based env that carries the :class:`~h1fault_isaaclab.faults.
FaultEvent` term and gives it h1fault's vector-env contract, so h1fault's own collect loop and
background HDF5 writer (:func:`h1fault.data.collect.collect`, :class:`~h1fault.data.writer.
RawWriter`) write the file: same schema version, ``complete`` flag, batching, kill-safety and
Ctrl-C/SIGTERM behaviour as ``h1fault collect``. Every step is a handful of tensor ops over all
envs (gathers by a fixed joint permutation); nothing loops over envs in Python.

Row ``t`` (see ``docs/data_format.md``): ``obs[t]`` = the task's 69 policy observations before
action ``t`` (joint blocks mapped to h1fault's model order) + the 19 joint torques applied during
step ``t-1`` (the articulation's applied-effort telemetry, model order); the flags describe
transition ``t``: the fault state in effect during it, whether the cut joint's applied torque sat
at its cut limit, done/terminated/truncated, per-env episode counter and step in episode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from h1fault.errors import H1FaultError
from h1fault.sim.faults import FaultConfig
from h1fault.sim.model import JOINT_NAMES
from h1fault_isaaclab.faults import TERM_NAME, FaultEvent

POLICY_OBS = 69
"""Width of the H1 velocity tasks' policy observation (no height scan)."""
JOINT_BLOCKS = ("joint_pos", "joint_vel", "actions")
"""Policy-observation terms that are 19 joint values each (reordered to model order)."""


@dataclass(frozen=True)
class AdapterConfig:
    """What the Isaac Lab run was; stored as the raw file's ``env_config`` attr."""

    task: str
    """Registered Isaac Lab task id."""
    faults: FaultConfig
    """The fault distribution the event term draws from."""
    physics: str
    """Physics backend of the env (Isaac Lab's ``sim.physics`` class)."""
    episode_length_s: float
    """Time-out length of the task's episodes (s)."""


def _policy_layout(env: Any) -> dict[str, int]:
    """Start column of each joint block in the policy observation; one-line error if the task's
    policy group is not the H1 velocity layout (3+3+3+3 base terms, then three 19-wide blocks)."""
    om = env.observation_manager
    names = list(om.active_terms.get("policy", []))
    dims = [int(torch.tensor(d).prod()) for d in om.group_obs_term_dim.get("policy", [])]
    if sum(dims) != POLICY_OBS or any(b not in names for b in JOINT_BLOCKS):
        raise H1FaultError(
            f"the task's policy observation is {sum(dims)} wide with terms {names}; the recorder "
            f"needs the {POLICY_OBS}-wide H1 velocity layout (flat terrain, no height scan)"
        )
    starts = dict(zip(names, [sum(dims[:i]) for i in range(len(dims))], strict=True))
    for b in JOINT_BLOCKS:
        if dims[names.index(b)] != len(JOINT_NAMES):
            raise H1FaultError(f"policy term '{b}' is {dims[names.index(b)]} wide, expected 19")
    return {b: starts[b] for b in JOINT_BLOCKS}


class RecorderEnv:
    """h1fault's vector-env contract over an Isaac Lab env with the fault term.

    ``reset() -> (obs, info)`` and ``step(actions) -> (obs, reward, terminated, truncated, info)``
    with obs the task's own policy observation (num_envs, 69) in Isaac Lab's order (what its
    policies were trained on) and info holding ``disc_obs`` (num_envs, 88) in model order plus the
    per-step fault state h1fault's collect records: ``fault_joint`` (num_envs,) int64 model index
    or -1, ``fault_limit`` (num_envs,) float32 N·m or NaN, ``saturated`` / ``fault_onset``
    (num_envs,) bool, ``episode`` / ``step_in_episode`` (num_envs,) int64.
    """

    def __init__(self, env: Any, task: str, seed: int = 0) -> None:
        self.env = env
        try:
            term = env.event_manager.get_term_cfg(TERM_NAME).func
        except (KeyError, ValueError, AttributeError):
            term = None
        if not isinstance(term, FaultEvent):
            raise H1FaultError(f"the env has no '{TERM_NAME}' fault event term (add_fault_event)")
        self.fault: FaultEvent = term
        self.robot = term.asset
        self.num_envs = int(env.num_envs)
        self.device = torch.device(env.device)
        self.seed = seed
        self.control_dt = float(env.step_dt)
        self.max_episode_steps = int(env.max_episode_length)
        art = term.art_of_model
        self.nominal_limits = term.nominal[0, art].detach().cpu()
        """(19,) float32: nominal effort limits (N·m) in model order (env 0)."""
        physics = type(getattr(env.cfg.sim, "physics", None)).__name__
        self.cfg = AdapterConfig(task, term.schedule.cfg, physics, float(env.max_episode_length_s))
        self.backend_name = physics
        """Physics backend name recorded in the raw file's ``backend`` attr."""
        starts = _policy_layout(env)
        cols = torch.arange(POLICY_OBS, device=self.device)
        for s in starts.values():
            cols[s : s + len(JOINT_NAMES)] = s + art
        self._obs_cols = cols
        """(69,) int64: policy-obs column feeding each model-order disc column."""
        self._art = art
        self._episode = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._onset = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        self._disc = torch.zeros(self.num_envs, 88, device=self.device)

    def _torque(self) -> torch.Tensor:
        """Applied joint torques, model order. Shape: (num_envs, 19) float32."""
        applied = self.robot.actuators.applied_effort.torch
        return applied[:, self._art]

    def _disc_obs(self, policy_obs: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
        """(num_envs, 88): policy obs with joint blocks in model order, then torques."""
        return torch.cat([policy_obs[:, self._obs_cols], torque], dim=1)

    def reset(self) -> tuple[torch.Tensor, dict]:
        """Reset every env. Returns policy obs (num_envs, 69), ``{"disc_obs": (num_envs, 88)}``."""
        obs, _ = self.env.reset(seed=self.seed)
        self._episode.zero_()
        self._onset = self.fault.take_onsets()
        self._disc = self._disc_obs(obs["policy"], self._torque())
        return obs["policy"], {"disc_obs": self._disc}

    def step(self, actions: torch.Tensor) -> tuple[Any, Any, Any, Any, dict]:
        """One env step for all envs; the info of transition ``t`` (see class docstring)."""
        # the fault state of this transition was set by the last step's events (or the reset)
        joint = self.fault.fault_joint()
        limit = self.fault.fault_limit()
        step_in_episode = self.env.episode_length_buf.clone()
        episode = self._episode.clone()
        onset = self._onset
        obs, reward, terminated, truncated, _extras = self.env.step(actions)
        torque = self._torque()
        at = torque.gather(1, joint.clamp(min=0)[:, None])[:, 0].abs()
        # relative tolerance as h1fault's FaultSchedule.saturated (float32 round trips)
        saturated = (joint >= 0) & (at >= limit * (1.0 - 1e-4) - 1e-5)
        self._episode += terminated | truncated
        self._onset = self.fault.take_onsets()
        self._disc = self._disc_obs(obs["policy"], torque)
        info = {
            "disc_obs": self._disc, "fault_joint": joint, "fault_limit": limit,
            "saturated": saturated, "episode": episode, "step_in_episode": step_in_episode,
            "fault_onset": onset,
        }  # fmt: skip
        return obs["policy"], reward, terminated, truncated, info

    def attrs(self) -> dict[str, Any]:
        """Extra raw-file attrs: Isaac Lab provenance (task, versions, joint order)."""
        from importlib.metadata import PackageNotFoundError, version

        versions = {}
        for name in ("isaaclab", "newton", "mujoco-warp", "warp-lang", "torch", "skrl"):
            try:
                versions[name] = version(name)
            except PackageNotFoundError:
                continue
        return {
            "isaaclab_task": self.cfg.task,
            "isaaclab_versions": versions,
            "isaaclab_articulation_joint_names": list(self.robot.joint_names),
            "backend": self.cfg.physics,
            "env_config": dataclasses.asdict(self.cfg),
        }
