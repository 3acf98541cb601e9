"""h1fault's fault model as an Isaac Lab event term, for any manager-based env with an articulation.

Per episode and env, with probability ``p_fault``, one candidate joint (by NAME) is drawn
uniformly, an onset step uniformly in the onset window and a kept-torque fraction uniformly in
``scale_range`` — the draws of :class:`h1fault.sim.faults.FaultSchedule`, reused as is. From the
onset step to the end of the episode that joint's effort limit is ``scale x nominal`` in that env
only; every reset restores all of the env's limits. Limits reach the physics through the
articulation's own effort-limit write (Newton's ``joint_effort_limit``; the MuJoCo-Warp solver turns
it into that world's ``jnt_actfrcrange``); explicit actuator models additionally clip with their
``actuator_effort_limit``, which is cut and restored the same way.

The term runs in mode ``"interval"`` every env step (``interval_range_s=(0, 0)``, global time):
Isaac Lab calls interval terms after the step's resets, so an onset written there is in effect
for the whole next step, exactly like ``FaultSchedule.apply_onsets`` before the physics. The
term's ``reset(env_ids)`` (called by the event manager at every episode reset) restores limits
and draws the next plan. Use :func:`fault_event_cfg` to add it to an env config.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from isaaclab.managers import EventTermCfg, ManagerTermBase, SceneEntityCfg

from h1fault.errors import H1FaultError
from h1fault.sim.faults import FaultConfig, FaultSchedule
from h1fault.sim.model import JOINT_NAMES

TERM_NAME = "h1fault"
"""Name of the event term added by :func:`add_fault_event`."""


def fault_event_cfg(faults: FaultConfig, asset_name: str = "robot", seed: int = 0) -> EventTermCfg:
    """An :class:`EventTermCfg` running :class:`FaultEvent` every step with ``faults``."""
    return EventTermCfg(
        func=FaultEvent,
        mode="interval",
        interval_range_s=(0.0, 0.0),
        is_global_time=True,
        # a plain dict: Isaac Lab's configclass rewrites nested dataclasses (ours are frozen)
        params={
            "asset_cfg": SceneEntityCfg(asset_name),
            "faults": dataclasses.asdict(faults),
            "seed": seed,
        },  # fmt: skip
    )


def _fault_config(value: FaultConfig | dict) -> FaultConfig:
    if isinstance(value, FaultConfig):
        return value
    return FaultConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})


def add_fault_event(env_cfg: Any, faults: FaultConfig, seed: int = 0) -> None:
    """Add the fault term to ``env_cfg.events`` as ``h1fault`` (in place)."""
    setattr(env_cfg.events, TERM_NAME, fault_event_cfg(faults, seed=seed))


class FaultEvent(ManagerTermBase):
    """Per-env torque-limit faults, at most one per episode (see module docstring).

    State, all (num_envs,) on the env device unless said otherwise:
    :attr:`schedule` (h1fault's plan: joint in model order, onset step, scale, active),
    :attr:`nominal` (num_envs, num_joints) the articulation's effort limits at start-up,
    :attr:`onset_flag` bool, set when a cut took effect for the coming step.
    """

    def __init__(self, cfg: EventTermCfg, env: Any) -> None:
        super().__init__(cfg, env)
        params = cfg.params
        faults = _fault_config(params["faults"])
        asset_cfg: SceneEntityCfg = params["asset_cfg"]
        self.asset = env.scene[asset_cfg.name]
        names = list(self.asset.joint_names)
        missing = [n for n in faults.candidates if n not in names]
        if missing:
            raise H1FaultError(f"fault candidates not among the articulation's joints: {missing}")
        for n in JOINT_NAMES:
            if n not in names:
                raise H1FaultError(f"articulation has no joint '{n}' (need the 19 H1 joints)")
        dev = self.device
        # model index m lives at articulation index art_of_model[m]
        self.art_of_model = torch.tensor([names.index(n) for n in JOINT_NAMES], device=dev)
        """(19,) int64: articulation joint index of each model-order joint."""
        self.nominal = self.asset.data.joint_effort_limits.torch.clone()
        """(num_envs, num_joints) float32: start-up effort limits, restored at every reset."""
        self._explicit, self._native = _actuator_limits(self.asset, self.num_envs, dev)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(params.get("seed", 0)))
        nominal_model = self.nominal[0, self.art_of_model]
        self.schedule = FaultSchedule(
            faults, nominal_model, self.num_envs, float(env.step_dt),
            float(env.max_episode_length_s), gen,
        )  # fmt: skip
        """h1fault's fault plan; joints in model order."""
        self.onset_flag = torch.zeros(self.num_envs, dtype=torch.bool, device=dev)
        """(num_envs,) bool: a cut took effect for the coming step (:meth:`take_onsets` clears)."""
        self._episode_length = env.episode_length_buf
        self._all = torch.ones(self.num_envs, dtype=torch.bool, device=dev)
        self.schedule.resample(self._all)
        self._write()

    # -- what the recorder reads -----------------------------------------------------------------
    def fault_joint(self) -> torch.Tensor:
        """Model-order joint cut now, -1 if none. Shape: (num_envs,) int64."""
        return self.schedule.fault_joint()

    def fault_limit(self) -> torch.Tensor:
        """Cut joint's effort limit (N·m) in its env, NaN if none. Shape: (num_envs,) float32."""
        s = self.schedule
        art = self.art_of_model[s.planned_joint.clamp(min=0)]
        limit = s.scale * self.nominal.gather(1, art[:, None])[:, 0]
        return limit.masked_fill(~s.active, float("nan"))

    def cut_mask(self) -> torch.Tensor:
        """Which (env, joint) limit is cut now. Shape: (num_envs, num_joints) bool, art. order."""
        s = self.schedule
        art = self.art_of_model[s.planned_joint.clamp(min=0)]
        cols = torch.arange(self.nominal.shape[1], device=self.device)
        return s.active[:, None] & (cols == art[:, None])

    def limits(self) -> torch.Tensor:
        """Effort limits per env in articulation order. Shape: (num_envs, num_joints) float32."""
        return torch.where(
            self.cut_mask(), self.schedule.scale[:, None] * self.nominal, self.nominal
        )

    def take_onsets(self) -> torch.Tensor:
        """Onsets that took effect for the coming step, then cleared. Shape: (num_envs,) bool."""
        out = self.onset_flag.clone()
        self.onset_flag.zero_()
        return out

    # -- event manager hooks -----------------------------------------------------------------------
    def reset(self, env_ids: Any = None) -> None:
        """New episodes for ``env_ids`` (indices, slice or None = all): restore, draw, write."""
        mask = self._mask(env_ids)
        self.schedule.resample(mask)
        self.onset_flag &= ~mask
        # an onset at step 0 of the new episode takes effect now (no interval call before step 0)
        zero = torch.zeros_like(self._episode_length)
        onset = self.schedule.apply_onsets(zero) & mask
        self.onset_flag |= onset
        self._write()

    def __call__(self, env: Any, env_ids: Any, asset_cfg: SceneEntityCfg, faults: dict,
                 seed: int = 0) -> None:  # fmt: skip
        """Every step, after resets: start the cuts planned for the coming step."""
        onset = self.schedule.apply_onsets(self._episode_length)
        if bool(onset.any()):
            self.onset_flag |= onset
            self._write()

    def _mask(self, env_ids: Any) -> torch.Tensor:
        if env_ids is None or (isinstance(env_ids, slice) and env_ids == slice(None)):
            return self._all
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        mask[env_ids] = True
        return mask

    def _write(self) -> None:
        """Push the whole table: solver limits, then explicit actuator clipping."""
        cut = self.cut_mask()
        self.asset.write_joint_effort_limit_to_sim_mask(limits=self.limits())
        scale = self.schedule.scale[:, None]
        for act, cols, nominal in self._explicit:
            # an unset (infinite) actuator limit is cut relative to the joint's effort limit
            base = torch.minimum(nominal, self.nominal[:, cols])
            act.actuator_effort_limit[:] = torch.where(cut[:, cols], scale * base, nominal)
        for max_effort, mapping, nominal in self._native:
            valid = mapping >= 0
            idx = mapping[valid]
            base = torch.minimum(nominal[idx], self.nominal[valid])
            scales = scale.expand_as(mapping)[valid]
            max_effort[idx] = torch.where(cut[valid], scales * base, nominal[idx])

    def actuator_limits(self) -> torch.Tensor:
        """Effort limits of explicit actuator models (Isaac Lab-executed or Newton-native), NaN
        where a joint has none. Shape: (num_envs, num_joints) float32, articulation order."""
        out = torch.full_like(self.nominal, float("nan"))
        for act, cols, _ in self._explicit:
            out[:, cols] = act.actuator_effort_limit
        for max_effort, mapping, _ in self._native:
            valid = mapping >= 0
            out[valid] = max_effort[mapping[valid]]
        return out


def _actuator_limits(asset: Any, num_envs: int, device: Any) -> tuple[list, list]:
    """The explicit actuator models' effort limits, to cut and restore with the solver's.

    Returns (explicit, native): ``(actuator, joint columns, nominal (num_envs, k))`` for Isaac
    Lab-executed explicit models, and ``(max_effort (M,), mapping (num_envs, num_joints) int64
    index into it or -1, nominal (M,))`` for Newton's native actuators (Isaac Lab 3.0 runs ideal-PD
    / DC-motor configs there on Newton; their ``ClampingMaxEffort`` is a flat per-DOF array).
    """
    import warp as wp

    coll = asset.actuators
    names = list(asset.joint_names)
    native_names = set(getattr(coll, "_native_group_names", None) or ())
    selection = getattr(coll, "_newton_selection", None)
    explicit, native, seen = [], [], set()
    for name in coll:
        act = coll[name]
        if name in native_names and selection is not None:
            u2b = selection.joint_user_to_backend_indices
            for a in act if isinstance(act, tuple) else (act,):
                if id(a) in seen:  # Newton merges identical groups into one actuator
                    continue
                seen.add(id(a))
                mapping = wp.to_torch(selection.view._get_actuator_dof_mapping(a)).long()
                mapping = mapping.reshape(num_envs, -1).to(device)
                if u2b is not None:
                    mapping = mapping[:, torch.as_tensor(u2b, device=device).long()]
                for clamp in a.clamping:
                    if hasattr(clamp, "max_effort"):
                        arr = wp.to_torch(clamp.max_effort)
                        native.append((arr, mapping, arr.clone()))
        elif not getattr(act, "is_implicit_model", True):
            idx = act.joint_indices
            cols = torch.arange(len(names), device=device)
            if not isinstance(idx, slice):
                cols = torch.as_tensor(idx, device=device).long()
            else:
                cols = cols[idx]
            explicit.append((act, cols, act.actuator_effort_limit.clone()))
    return explicit, native
