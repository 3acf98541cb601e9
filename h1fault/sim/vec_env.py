"""The vectorised H1 env: torch in, torch out, auto-reset, per-env faults.

This is the contract everything above the physics uses (PPO, collect, play):

- ``reset() -> (obs, info)``; ``step(actions) -> (obs, reward, terminated, truncated, info)``
- ``obs``: (num_envs, 69) float32 policy observations; ``info["disc_obs"]``: (num_envs, 88)
  discriminator observations (the 69 + 19 applied torques in N·m), both for the *next* action.
- ``actions``: (num_envs, 19) float32, joint targets = default pose + action_scale * action.
- ``reward``: (num_envs,) float32; ``terminated`` (fall/unstable), ``truncated`` (time-out):
  (num_envs,) bool. Envs that are done are reset inside ``step``; the returned obs is then the
  first observation of the new episode.
- Per-transition info (values of the step just taken, before any reset): ``fault_joint``
  (num_envs,) int64 (-1 none), ``fault_limit`` (num_envs,) float32 (NaN none), ``saturated``
  (num_envs,) bool, ``episode`` and ``step_in_episode`` (num_envs,) int64, ``fault_events``
  (dict of 1-D tensors env, episode, step_in_episode, global_step, joint, scale, limit: the
  onsets that took effect in this step), ``log`` (dict of scalar episode statistics of the
  episodes that ended in this step, Isaac Lab style, for TensorBoard), ``lin_vel_error``
  (num_envs,) |cmd_xy - v_xy| in the yaw frame (m/s) and ``ang_vel_error`` (num_envs,)
  |cmd_wz - w_z| (rad/s) of this step.

Observation layout (69): base lin vel body (3), base ang vel body (3), projected gravity (3),
command vx vy wz (3), joint pos - default (19), joint vel (19), last action (19).
"""

from __future__ import annotations

import torch

from h1fault.sim.backend import PhysicsBackend, make_backend, resolve_device
from h1fault.sim.faults import FaultSchedule
from h1fault.sim.model import (
    JOINT_NAMES,
    NUM_JOINTS,
    default_joint_pos,
    load_model,
    nominal_torque_limits,
)
from h1fault.sim.task import EnvConfig, quat_to_matrix, yaw_quat

NUM_OBS = 69
"""Policy observation width."""
NUM_DISC_OBS = 88
"""Discriminator observation width: policy obs + 19 applied torques."""

_HIP = [JOINT_NAMES.index(n) for n in JOINT_NAMES if "hip_yaw" in n or "hip_roll" in n]
_ARMS = [JOINT_NAMES.index(n) for n in JOINT_NAMES if "shoulder" in n or "elbow" in n]
_TORSO = [JOINT_NAMES.index("torso")]
_ANKLES = [JOINT_NAMES.index("left_ankle"), JOINT_NAMES.index("right_ankle")]

REWARD_TERMS = (
    "track_lin_vel_xy", "track_ang_vel_z", "feet_air_time", "feet_slide", "termination",
    "ankle_limits", "joint_deviation_hip", "joint_deviation_arms", "joint_deviation_torso",
    "flat_orientation", "lin_vel_z", "ang_vel_xy", "action_rate", "joint_acc", "joint_torque",
)  # fmt: skip


class H1VecEnv:
    """Batched H1 flat velocity tracking with torque-limit faults. See the module docstring."""

    num_obs = NUM_OBS
    num_disc_obs = NUM_DISC_OBS
    num_actions = NUM_JOINTS

    def __init__(
        self,
        cfg: EnvConfig | None = None,
        num_envs: int = 4,
        device: str = "cpu",
        backend: str = "auto",
        seed: int = 0,
    ) -> None:
        self.cfg = cfg = cfg or EnvConfig()
        self.num_envs = num_envs
        self.device = resolve_device(device)
        self.seed = seed
        self.model = load_model()
        self.control_dt = cfg.substeps * float(self.model.opt.timestep)
        self.max_episode_steps = round(cfg.episode_length_s / self.control_dt)
        self._resample_steps = max(1, round(cfg.commands.resample_s / self.control_dt))
        self.backend: PhysicsBackend = make_backend(
            self.model, num_envs, str(self.device), cfg.substeps, backend
        )
        dev = self.device
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(seed)
        m = self.model
        self.default_qpos = torch.tensor(m.key("home").qpos, dtype=torch.float32, device=dev)
        self.default_joint_pos = torch.tensor(default_joint_pos(m), dtype=torch.float32, device=dev)
        self.joint_lower = torch.tensor(m.jnt_range[1:, 0], dtype=torch.float32, device=dev)
        self.joint_upper = torch.tensor(m.jnt_range[1:, 1], dtype=torch.float32, device=dev)
        self.nominal_limits = torch.tensor(
            nominal_torque_limits(m), dtype=torch.float32, device=dev
        )
        self.faults = FaultSchedule(
            cfg.faults, self.nominal_limits, num_envs, self.control_dt, cfg.episode_length_s,
            self.generator,
        )  # fmt: skip

        def sensor_columns(name: str) -> list[int]:
            s = m.sensor(name)
            return list(range(int(s.adr[0]), int(s.adr[0] + s.dim[0])))

        # constants as device tensors, built once: no per-step host->device copies
        self._foot_contact_idx = torch.tensor(
            [
                [int(m.sensor(f"{side}_foot{k}_floor_found").adr[0]) for k in (1, 2, 3)]
                for side in ("left", "right")
            ],
            device=dev,
        )  # (2 feet, 3 contact sensors) columns of sensordata
        self._foot_vel_idx = torch.tensor(
            [sensor_columns(f"{side}_foot_global_linvel") for side in ("left", "right")],
            device=dev,
        )  # (2 feet, xyz) columns of sensordata
        self._hip, self._arms, self._torso, self._ankles = (
            torch.tensor(idx, device=dev) for idx in (_HIP, _ARMS, _TORSO, _ANKLES)
        )
        ankle_lo, ankle_hi = self.joint_lower[self._ankles], self.joint_upper[self._ankles]
        self._ankle_mid = (ankle_lo + ankle_hi) / 2
        self._ankle_half = (ankle_hi - ankle_lo) / 2 * 0.9
        c = cfg.commands
        self._cmd_lo = torch.tensor([c.lin_vel_x[0], c.lin_vel_y[0], c.ang_vel_z[0]], device=dev)
        self._cmd_hi = torch.tensor([c.lin_vel_x[1], c.lin_vel_y[1], c.ang_vel_z[1]], device=dev)
        self._reward_scales = torch.tensor(
            [getattr(cfg.rewards, k) * self.control_dt for k in REWARD_TERMS], device=dev
        )  # weight * dt per term, in REWARD_TERMS order
        nz = cfg.obs_noise
        noise = [nz.lin_vel] * 3 + [nz.ang_vel] * 3 + [nz.gravity] * 3 + [0.0] * 3
        noise += [nz.joint_pos] * NUM_JOINTS + [nz.joint_vel] * NUM_JOINTS + [0.0] * NUM_JOINTS
        self._obs_noise = torch.tensor(noise, device=dev) if nz.enabled else None
        """(69,) uniform noise amplitude per policy observation column, None without noise."""
        n = num_envs
        z = lambda *s, **k: torch.zeros(*s, device=dev, **k)  # noqa: E731
        self.actions = z(n, NUM_JOINTS)
        self.last_actions = z(n, NUM_JOINTS)
        self.last_joint_vel = z(n, NUM_JOINTS)
        self.commands = z(n, 3)
        self.episode = z(n, dtype=torch.long)
        self.step_in_episode = z(n, dtype=torch.long)
        self.global_step = 0
        self.air_time = z(n, 2)
        self.contact_time = z(n, 2)
        self.episode_sums = z(n, len(REWARD_TERMS))
        """(num_envs, len(REWARD_TERMS)) weighted reward terms summed over the episode so far."""
        self._obs = z(n, NUM_OBS)
        self._disc_obs = z(n, NUM_DISC_OBS)
        self._started = False

    # -- public API ---------------------------------------------------------------------------
    def reset(self) -> tuple[torch.Tensor, dict]:
        """Reset every env. Returns obs (num_envs, 69) and info with ``disc_obs`` (num_envs, 88)."""
        all_envs = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._started = False  # a full reset restarts the episode counters at 0
        self.episode.zero_()
        self.global_step = 0
        self._reset_envs(all_envs)
        self._started = True
        self._compute_obs()
        return self._obs, {"disc_obs": self._disc_obs}

    def step(self, actions: torch.Tensor):
        """Advance one control step (see module docstring for shapes and info keys)."""
        if not self._started:
            self.reset()
        cfg = self.cfg
        self.actions = actions.detach().to(self.device, torch.float32).clamp(-100.0, 100.0)
        # faults: onsets take effect before this step's physics
        onset_now = self.faults.apply_onsets(self.step_in_episode)
        self.backend.set_torque_limits(self.faults.limits)
        targets = self.default_joint_pos + cfg.action_scale * self.actions
        self.backend.step(torch.maximum(torch.minimum(targets, self.joint_upper), self.joint_lower))

        # transition info (pre-reset)
        b = self.backend
        fault_joint = self.faults.fault_joint()
        fault_limit = self.faults.fault_limit()
        saturated = self.faults.saturated(b.actuator_force)
        episode = self.episode.clone()
        step_in_episode = self.step_in_episode.clone()

        unstable = b.unstable()
        qpos, qvel = b.qpos, b.qvel
        rot = quat_to_matrix(qpos[:, 3:7])  # base orientation, body to world
        gravity = -rot[:, 2, :]  # world down in the body frame (projected gravity)
        fell = (qpos[:, 2] < cfg.min_base_height) | (gravity[:, :2].norm(dim=1) > cfg.max_tilt)
        terminated = fell | unstable | ~torch.isfinite(qpos).all(dim=1)
        self.step_in_episode += 1
        truncated = (self.step_in_episode >= self.max_episode_steps) & ~terminated
        reward = self._reward(qpos, qvel, rot, terminated)
        reward = torch.where(torch.isfinite(reward), reward, torch.zeros_like(reward))

        self.last_actions = self.actions
        self.last_joint_vel = qvel[:, 6:].clone()
        done = terminated | truncated
        # commands are resampled on a fixed period inside the episode
        resample = (self.step_in_episode % self._resample_steps == 0) & ~done
        # the step's one host sync (matters on GPUs): which of the rare branches are needed
        any_onset, any_resample, any_done = torch.stack(
            [onset_now.any(), resample.any(), done.any()]
        ).tolist()
        events = self._events(onset_now if any_onset else None, step_in_episode)
        if any_resample:
            self._resample_commands(resample)
        log: dict[str, torch.Tensor] = {}
        if any_done:
            log = self._episode_log(done, terminated)
            self._reset_envs(done)
        self.global_step += 1
        self._compute_obs(None if any_done else rot)
        info = {
            "disc_obs": self._disc_obs,
            "fault_joint": fault_joint,
            "fault_limit": fault_limit,
            "saturated": saturated,
            "episode": episode,
            "step_in_episode": step_in_episode,
            "fault_events": events,
            "log": log,
            "lin_vel_error": self.lin_vel_error,
            "ang_vel_error": self.ang_vel_error,
        }
        return self._obs, reward, terminated, truncated, info

    @property
    def obs(self) -> torch.Tensor:
        """Current policy observation. Shape: (num_envs, 69)."""
        return self._obs

    @property
    def disc_obs(self) -> torch.Tensor:
        """Current discriminator observation. Shape: (num_envs, 88)."""
        return self._disc_obs

    # -- internals ----------------------------------------------------------------------------
    def _rand(self, *shape: int) -> torch.Tensor:
        """Uniform in [-1, 1)."""
        return 2.0 * torch.rand(*shape, device=self.device, generator=self.generator) - 1.0

    def _reset_envs(self, mask: torch.Tensor) -> None:
        n, cfg = self.num_envs, self.cfg
        qpos = self.default_qpos.expand(n, -1).clone()
        yaw = cfg.init_yaw_range * self._rand(n)
        qpos[:, 3:7] = yaw_quat(yaw)
        joints = self.default_joint_pos + cfg.init_joint_noise * self._rand(n, NUM_JOINTS)
        qpos[:, 7:] = torch.maximum(torch.minimum(joints, self.joint_upper), self.joint_lower)
        qvel = torch.zeros(n, self.model.nv, device=self.device)
        self.backend.reset(mask, qpos, qvel)
        self.faults.resample(mask)
        self.backend.set_torque_limits(self.faults.limits)
        m = mask[:, None]
        zeros = torch.zeros_like(self.actions)
        self.actions = torch.where(m, zeros, self.actions)
        self.last_actions = torch.where(m, zeros, self.last_actions)
        self.last_joint_vel = torch.where(m, zeros, self.last_joint_vel)
        self.air_time = torch.where(m, 0.0, self.air_time)
        self.contact_time = torch.where(m, 0.0, self.contact_time)
        if self._started:
            self.episode += mask.long()
        self.step_in_episode = torch.where(mask, 0, self.step_in_episode)
        self.episode_sums.masked_fill_(mask[:, None], 0.0)
        self._resample_commands(mask)

    def _resample_commands(self, mask: torch.Tensor) -> None:
        n, g, dev = self.num_envs, self.generator, self.device
        lo, hi = self._cmd_lo, self._cmd_hi
        cmd = lo + (hi - lo) * torch.rand(n, 3, device=dev, generator=g)
        standing = torch.rand(n, device=dev, generator=g) < self.cfg.commands.standing_fraction
        cmd = torch.where(standing[:, None], 0.0, cmd)
        self.commands = torch.where(mask[:, None], cmd, self.commands)

    def _events(
        self, onset_now: torch.Tensor | None, step_in_episode: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Fault onsets of this step (call before resets); ``onset_now`` None: no onsets."""
        if onset_now is None:
            rows = torch.zeros(0, dtype=torch.long, device=self.device)
        else:
            rows = torch.nonzero(onset_now).flatten()
        joints = self.faults.planned_joint[rows]
        return {
            "env": rows,
            "episode": self.episode[rows],
            "step_in_episode": step_in_episode[rows],
            "global_step": torch.full_like(rows, self.global_step),
            "joint": joints,
            "scale": self.faults.scale[rows],
            "limit": self.faults.limits[rows, joints],
        }

    def _foot_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Foot contact (num_envs, 2) bool and foot velocity (num_envs, 2, 3) world."""
        s = self.backend.sensordata
        contact = (s[:, self._foot_contact_idx] > 0).any(dim=2)
        return contact, s[:, self._foot_vel_idx]

    def _reward(
        self,
        qpos: torch.Tensor,
        qvel: torch.Tensor,
        rot: torch.Tensor,
        terminated: torch.Tensor,
    ) -> torch.Tensor:
        w, dt = self.cfg.rewards, self.control_dt
        # base velocity in the yaw frame (Isaac Lab's track_lin_vel_xy_yaw_frame_exp): rotate the
        # world xy velocity by -yaw; (cos, sin) of yaw is the heading of the body x axis
        heading = rot[:, :2, 0]
        cos_yaw, sin_yaw = (heading / heading.norm(dim=1, keepdim=True).clamp(min=1e-6)).unbind(1)
        vx, vy = qvel[:, 0], qvel[:, 1]
        vel_yaw = torch.stack([cos_yaw * vx + sin_yaw * vy, cos_yaw * vy - sin_yaw * vx], dim=1)
        ang_vel_body = qvel[:, 3:6]
        world_wz = (rot[:, 2, :] * ang_vel_body).sum(dim=1)
        lin_err = (self.commands[:, :2] - vel_yaw).square().sum(dim=1)
        ang_err = (self.commands[:, 2] - world_wz).square()
        self.lin_vel_error = lin_err.sqrt()
        self.ang_vel_error = ang_err.sqrt()
        std2 = w.tracking_std**2
        joint_pos = qpos[:, 7:]
        joint_vel = qvel[:, 6:]
        dev_pos = (joint_pos - self.default_joint_pos).abs()

        contact, foot_vel = self._foot_state()
        self.air_time = torch.where(contact, 0.0, self.air_time + dt)
        self.contact_time = torch.where(contact, self.contact_time + dt, 0.0)
        single_stance = contact.sum(dim=1) == 1
        in_mode = torch.where(contact, self.contact_time, self.air_time)
        air = torch.where(single_stance[:, None], in_mode, 0.0).amin(dim=1)
        air = air.clamp(max=w.air_time_threshold) * (self.commands[:, :2].norm(dim=1) > 0.1)

        mid, half = self._ankle_mid, self._ankle_half
        ankle = joint_pos[:, self._ankles]
        ankle_out = ((ankle - (mid + half)).clamp(min=0) + ((mid - half) - ankle).clamp(min=0)).sum(
            1
        )

        terms = {
            "track_lin_vel_xy": torch.exp(-lin_err / std2),
            "track_ang_vel_z": torch.exp(-ang_err / std2),
            "feet_air_time": air,
            "feet_slide": (foot_vel[:, :, :2].norm(dim=2) * contact).sum(dim=1),
            "termination": terminated.float(),
            "ankle_limits": ankle_out,
            "joint_deviation_hip": dev_pos[:, self._hip].sum(dim=1),
            "joint_deviation_arms": dev_pos[:, self._arms].sum(dim=1),
            "joint_deviation_torso": dev_pos[:, self._torso].sum(dim=1),
            "flat_orientation": rot[:, 2, :2].square().sum(dim=1),  # projected gravity xy
            "lin_vel_z": qvel[:, 2].square(),
            "ang_vel_xy": ang_vel_body[:, :2].square().sum(dim=1),
            "action_rate": (self.actions - self.last_actions).square().sum(dim=1),
            "joint_acc": ((joint_vel - self.last_joint_vel) / dt).square().sum(dim=1),
            "joint_torque": self.backend.actuator_force.square().sum(dim=1),
        }
        # all terms at once: (num_envs, terms) * (weight * dt)
        weighted = torch.stack([terms[k] for k in REWARD_TERMS], dim=1) * self._reward_scales
        self.episode_sums += weighted
        return weighted.sum(dim=1)

    def _episode_log(self, done: torch.Tensor, terminated: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean per-second reward terms and episode stats over the envs that just finished."""
        length_s = self.step_in_episode[done].float() * self.control_dt
        per_second = self.episode_sums[done] / length_s.clamp(min=self.control_dt)[:, None]
        log = {
            f"Episode_Reward/{k}": v
            for k, v in zip(REWARD_TERMS, per_second.mean(dim=0).unbind(), strict=True)
        }
        log["Episode/length_s"] = length_s.mean()
        log["Episode/fall_rate"] = terminated[done].float().mean()
        return log

    def _compute_obs(self, rot: torch.Tensor | None = None) -> None:
        """Observations of the backend's current state; ``rot``: its base rotation, if known."""
        b = self.backend
        qpos, qvel = b.qpos, b.qvel
        n = self.num_envs
        rot = quat_to_matrix(qpos[:, 3:7]) if rot is None else rot
        lin_vel = (qvel[:, 0:3, None] * rot).sum(dim=1)  # R^T v: world to body frame
        ang_vel = qvel[:, 3:6]
        gravity = -rot[:, 2, :]
        joint_pos = qpos[:, 7:] - self.default_joint_pos
        joint_vel = qvel[:, 6:]
        parts = [lin_vel, ang_vel, gravity, self.commands, joint_pos, joint_vel, self.actions]
        obs = torch.cat(parts, dim=1)
        if self._obs_noise is not None:
            obs = obs + self._obs_noise * self._rand(n, NUM_OBS)
        self._obs = obs
        self._disc_obs = torch.cat([obs, b.actuator_force], dim=1)


def describe_obs() -> list[tuple[str, int]]:
    """(name, width) of each block of the 88-dim discriminator observation, in order."""
    return [
        ("base_lin_vel_body", 3), ("base_ang_vel_body", 3), ("projected_gravity", 3),
        ("command", 3), ("joint_pos_rel", 19), ("joint_vel", 19), ("last_action", 19),
        ("joint_torque", 19),
    ]  # fmt: skip
