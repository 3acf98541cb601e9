"""The vectorised H1 env: torch in, torch out, auto-reset, per-env faults.

Implements :class:`~h1fault.sim.contract.VecEnv`: ``reset() -> (obs, info)``, ``step(actions)
-> StepResult(obs, reward, terminated, truncated, info)``; shapes and info keys are documented
there (:mod:`h1fault.sim.contract`).

The env keeps the state (episode counters, feet timers, last actions, commands, faults), resets
and the CUDA-graph plumbing; the task's terms are pure functions in their own modules:
:mod:`~h1fault.sim.observations` (layouts of the 69 and 88 columns),
:mod:`~h1fault.sim.rewards`, :mod:`~h1fault.sim.terminations`, :mod:`~h1fault.sim.commands`.
In the first observation of an episode the 19 torques of the discriminator observation are zero:
nothing has been applied yet in the new episode (no forward pass runs at reset).

Speed on GPUs: ``step`` never waits for the device. Done envs are reset by masked in-place
updates every step, whose random draws every env makes every step (so the random stream does not
depend on which envs reset); ``fault_events`` and ``log`` are
:class:`~h1fault.sim.step_info.FaultEvents` / :class:`~h1fault.sim.step_info.EpisodeLog`, which
build their compact form (a host sync) only when read. With ``cuda_graph=True`` on a CUDA device
the task's work before and after the physics runs as two captured CUDA graphs around the
backend's own physics graph; the eager path computes the same.
"""

from __future__ import annotations

import time
import warnings

import torch

from h1fault.console import resolve_device
from h1fault.sim import commands as cmds
from h1fault.sim import rewards as rw
from h1fault.sim.backend import PhysicsBackend
from h1fault.sim.backend_factory import make_backend
from h1fault.sim.contract import StepResult
from h1fault.sim.faults import FaultSchedule
from h1fault.sim.model import (
    JOINT_NAMES,
    NUM_JOINTS,
    default_joint_pos,
    load_model,
    nominal_torque_limits,
)
from h1fault.sim.observations import NUM_DISC_OBS, NUM_OBS, obs_noise_amplitudes, policy_obs
from h1fault.sim.quat import quat_to_matrix, yaw_quat
from h1fault.sim.rewards import REWARD_TERMS
from h1fault.sim.step_info import EpisodeLog, FaultEvents
from h1fault.sim.task import EnvConfig
from h1fault.sim.terminations import fell, non_finite
from h1fault.sim.torque_sensor import TorqueSensor

_HIP = [JOINT_NAMES.index(n) for n in JOINT_NAMES if "hip_yaw" in n or "hip_roll" in n]
_ARMS = [JOINT_NAMES.index(n) for n in JOINT_NAMES if "shoulder" in n or "elbow" in n]
_TORSO = [JOINT_NAMES.index("torso")]
_ANKLES = [JOINT_NAMES.index("left_ankle"), JOINT_NAMES.index("right_ankle")]

_LOG_NAMES = (
    *(f"Episode_Reward/{k}" for k in REWARD_TERMS),
    "Episode/length_s",
    "Episode/fall_rate",
    "Episode/lin_vel_error",
    "Episode/yaw_rate_error",
)
"""Keys of ``info["log"]``: mean per-second reward terms, episode length (s), share of falls,
and the mean tracking errors |cmd_xy - v_xy| (m/s) and |cmd_wz - w_z| (rad/s) per step."""
_NUM_UNIFORMS = 28
"""Uniform draws per env and step for resets and commands (see ``H1VecEnv._uniforms``)."""


class H1VecEnv:
    """Batched H1 flat velocity tracking with torque-limit faults. See the module docstring."""

    num_obs = NUM_OBS
    num_disc_obs = NUM_DISC_OBS
    log_names = _LOG_NAMES
    """Keys of ``info["log"]``, in the order of its totals."""
    num_actions = NUM_JOINTS

    def __init__(
        self,
        cfg: EnvConfig | None = None,
        num_envs: int = 4,
        device: str = "cpu",
        backend: str = "auto",
        seed: int = 0,
        cuda_graph: bool = True,
    ) -> None:
        """cfg: the task. device: ``auto``, ``cpu`` or ``cuda[:N]``. backend: ``auto`` |
        ``mujoco`` | ``warp`` (see :func:`~h1fault.sim.backend_factory.make_backend`). seed: of
        the env's generator. cuda_graph: on a CUDA device, capture the task's halves of step()
        as CUDA graphs (at construction, well under a second); False steps eagerly (same
        results, slower)."""
        t_build = time.perf_counter()
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
        self._cmd_lo, self._cmd_hi = cmds.command_bounds(cfg.commands, dev)
        self._reward_scales = torch.tensor(
            [getattr(cfg.rewards, k) * self.control_dt for k in REWARD_TERMS], device=dev
        )  # weight * dt per term, in REWARD_TERMS order
        noise = obs_noise_amplitudes(cfg.obs_noise)
        self._obs_noise = torch.tensor(noise, device=dev) if cfg.obs_noise.enabled else None
        """(69,) uniform noise amplitude per policy observation column, None without noise."""
        ts = cfg.torque_sensor  # its own generator: the env's random stream stays unchanged
        self._torque_sensor = (
            TorqueSensor(ts, self.nominal_limits, num_envs, dev, seed) if ts.enabled else None
        )
        n = num_envs
        z = lambda *s, **k: torch.zeros(*s, device=dev, **k)  # noqa: E731
        self._zero_qvel = z(n, m.nv)
        """(num_envs, nv) zeros: every episode starts at rest."""
        # Episode state. Updated in place only: the CUDA graphs of step() read these very tensors.
        self.actions = z(n, NUM_JOINTS)
        self.last_actions = z(n, NUM_JOINTS)
        self.last_joint_vel = z(n, NUM_JOINTS)
        self.commands = z(n, 3)
        self.episode = z(n, dtype=torch.long)
        self.step_in_episode = z(n, dtype=torch.long)
        self._time_limit = torch.full((n,), self.max_episode_steps, dtype=torch.long, device=dev)
        """(num_envs,) int64 steps before this episode times out; see spread_first_episodes."""
        self.global_step = 0
        self.air_time = z(n, 2)
        self.contact_time = z(n, 2)
        self.episode_sums = z(n, len(REWARD_TERMS))
        """(num_envs, len(REWARD_TERMS)) weighted reward terms summed over the episode so far."""
        self.episode_errors = z(n, 2)
        """(num_envs, 2) lin-vel and yaw-rate tracking errors summed over the episode so far."""
        self._obs = z(n, NUM_OBS)
        self._disc_obs = z(n, NUM_DISC_OBS)
        self.lin_vel_error = z(n)
        self.ang_vel_error = z(n)
        self._started = False
        self._sync_free = self.device.type == "cuda"
        """Never read a tensor value on the host in step(): always on CUDA (see _post_physics).
        On the CPU a read costs nothing, so step() skips the reset work of steps in which no env
        is done. Results are the same either way: the random draws do not depend on it."""
        self._graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None
        if cuda_graph and self.device.type == "cuda":
            self._capture_graphs()
        self.build_s = time.perf_counter() - t_build
        """Seconds this constructor took (physics kernels compiled, CUDA graphs captured)."""

    # -- public API ---------------------------------------------------------------------------
    def reset(self) -> tuple[torch.Tensor, dict]:
        """Reset every env. Returns obs (num_envs, 69) and info with ``disc_obs`` (num_envs, 88)."""
        all_envs = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.episode.zero_()  # a full reset restarts the episode counters at 0
        self.global_step = 0
        u = self._uniforms()
        self._resample_commands(all_envs, u)
        self._reset_envs(all_envs, u)
        self._started = True
        self._obs, self._disc_obs = self._compute_obs(quat_to_matrix(self.backend.qpos[:, 3:7]))
        return self._obs, {"disc_obs": self._disc_obs}

    def spread_first_episodes(self) -> torch.Tensor:
        """Give each env's current episode a random time limit in [1, max_episode_steps].

        After a full reset every env times out, and changes command, in the same step, for the
        whole run: PPO's rollouts then swing between all-new and all-settled commands. Cut
        short at random (the role of rsl_rl's ``init_at_random_ep_len``), the first episodes
        end at spread-out steps and the episodes after them keep the spread. Unlike moving the
        episode clock, episode lengths and per-step statistics stay true. Call after
        :meth:`reset`; draws from the env's generator. Returns the limits, (num_envs,) int64.
        """
        limits = torch.randint(1, self.max_episode_steps + 1, (self.num_envs,),
                               device=self.device, generator=self.generator)  # fmt: skip
        self._time_limit.copy_(limits)  # in place: the CUDA graphs of step() read this tensor
        return limits

    def step(self, actions: torch.Tensor) -> StepResult:
        """Advance one control step. actions: (num_envs, 19) float32.

        Shapes and info keys: :mod:`h1fault.sim.contract`.
        """
        if not self._started:
            self.reset()
        if self._graphs is not None:
            pre, post = self._graphs
            self._graph_actions.copy_(actions.detach())
            pre.replay()
            self.backend.step(self._graph_targets)
            post.replay()
            # the graphs rewrite their outputs in place: hand out copies, as the eager path does
            out = {k: v.clone() for k, v in self._graph_out.items()}
        else:
            onset, targets = self._pre_physics(actions.detach().to(self.device, torch.float32))
            self.backend.step(targets)
            out = self._post_physics(onset)
        self._obs, self._disc_obs = out["obs"], out["disc_obs"]
        self.lin_vel_error, self.ang_vel_error = out["lin_vel_error"], out["ang_vel_error"]
        info = {
            "disc_obs": out["disc_obs"],
            "fault_joint": out["fault_joint"],
            "fault_limit": out["fault_limit"],
            "saturated": out["saturated"],
            "episode": out["episode"],
            "step_in_episode": out["step_in_episode"],
            "fault_onset": out["fault_onset"],
            "fault_events": FaultEvents(
                out["fault_onset"], out["episode"], out["step_in_episode"], self.global_step,
                out["fault_joint"], out["fault_scale"], out["fault_limit"],
            ),
            "log": EpisodeLog(_LOG_NAMES, out.get("episode_totals")),
            "lin_vel_error": out["lin_vel_error"],
            "ang_vel_error": out["ang_vel_error"],
        }  # fmt: skip
        self.global_step += 1
        return StepResult(out["obs"], out["reward"], out["terminated"], out["truncated"], info)

    @property
    def obs(self) -> torch.Tensor:
        """Current policy observation. Shape: (num_envs, 69)."""
        return self._obs

    @property
    def disc_obs(self) -> torch.Tensor:
        """Current discriminator observation. Shape: (num_envs, 88)."""
        return self._disc_obs

    @property
    def backend_name(self) -> str:
        """The physics backend's class name (``CpuBackend`` or ``WarpBackend``)."""
        return type(self.backend).__name__

    @property
    def uses_cuda_graphs(self) -> bool:
        """Whether step() replays captured CUDA graphs (CUDA device and ``cuda_graph=True``)."""
        return self._graphs is not None

    # -- the step in two halves around the physics ----------------------------------------------
    def _pre_physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Take the actions, start due faults. Returns fault onsets (num_envs,) bool and the
        clamped joint targets (num_envs, 19) for the physics.

        actions: (num_envs, 19) float32 on the env device. No host syncs; state in place.
        """
        actions = actions.clamp(-100.0, 100.0)
        self.actions.copy_(actions)
        # faults: onsets take effect before this step's physics
        onset = self.faults.apply_onsets(self.step_in_episode)
        self.backend.set_torque_limits(self.faults.limits)
        targets = self.default_joint_pos + self.cfg.action_scale * actions
        return onset, targets.clamp(self.joint_lower, self.joint_upper)

    def _post_physics(self, onset: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything after the physics: transition info, rewards, episode ends, masked resets,
        command resampling, the next observations. Returns fresh tensors (see step()).

        No host syncs when ``_sync_free`` (CUDA): done envs are reset by masked, in-place updates
        every step, and the random draws of a reset are made every step for every env.
        """
        cfg, b = self.cfg, self.backend
        faults = self.faults
        out = {
            "fault_onset": onset,
            "fault_joint": faults.fault_joint(),
            "fault_limit": faults.fault_limit(),
            "fault_scale": faults.scale.clone(),
            "saturated": faults.saturated(b.actuator_force),
            "episode": self.episode.clone(),
            "step_in_episode": self.step_in_episode.clone(),
        }
        unstable = b.unstable()
        qpos, qvel = b.qpos, b.qvel
        rot = quat_to_matrix(qpos[:, 3:7])  # base orientation, body to world
        fallen = fell(qpos, rot, cfg.min_base_height, cfg.max_tilt)
        terminated = fallen | unstable | non_finite(qpos)
        self.step_in_episode += 1
        truncated = (self.step_in_episode >= self._time_limit) & ~terminated
        reward, out["lin_vel_error"], out["ang_vel_error"] = self._reward(
            qpos, qvel, rot, terminated
        )
        out["reward"] = reward.nan_to_num(0.0, 0.0, 0.0)  # a blown-up env earns nothing
        out["terminated"], out["truncated"] = terminated, truncated
        self.last_actions.copy_(self.actions)
        self.last_joint_vel.copy_(qvel[:, 6:])

        done = terminated | truncated
        u = self._uniforms()  # every step, whether or not an env resets
        # commands: new ones for new episodes and, on a fixed period, inside an episode
        new_command = cmds.resample_due(done, self.step_in_episode, self._resample_steps)
        if self._sync_free or bool(new_command.any()):
            self._resample_commands(new_command, u)
        if self._sync_free or bool(done.any()):
            out["episode_totals"] = self._episode_totals(done, terminated)
            self._reset_envs(done, u)
            self.episode += done
            rot = quat_to_matrix(b.qpos[:, 3:7])  # the new episodes' start orientation
        out["obs"], out["disc_obs"] = self._compute_obs(rot)
        return out

    # -- CUDA graphs ----------------------------------------------------------------------------
    def _capture_graphs(self) -> None:
        """Capture ``_pre_physics`` and ``_post_physics`` as two CUDA graphs (torch).

        step() then runs: copy the actions in, replay pre, the backend's own physics step (a Warp
        CUDA graph on Warp's stream, ordered with torch's default stream), replay post. Done at
        construction, before the first reset(), which rewrites every piece of state the warm-up
        and capture touched; the generator is restored so that the random stream is the eager
        one. Falls back to eager steps, with a warning, if capture is not possible.
        """
        if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):  # torch < 2.5
            warnings.warn(
                "this torch cannot capture a torch.Generator in a CUDA graph; stepping eagerly",
                stacklevel=3,
            )
            return
        n, dev = self.num_envs, self.device
        rng_state = self.generator.get_state()
        ts = self._torque_sensor
        ts_state = ts.generator.get_state() if ts is not None else None
        self._graph_actions = torch.zeros(n, NUM_JOINTS, device=dev)
        """(num_envs, 19) the graphs' input: step() copies the actions here."""
        with torch.cuda.device(dev):  # capture on the env's GPU (cuda:N)
            try:
                self._graphs = self._capture(dev)
            except RuntimeError as exc:  # a torch/driver that cannot capture: correct, slower
                why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                warnings.warn(f"CUDA graph capture failed ({why}); stepping eagerly", stacklevel=3)
            torch.cuda.synchronize(dev)
        self.generator.set_state(rng_state)
        if ts is not None:
            ts.generator.set_state(ts_state)

    def _capture(self, dev: torch.device) -> tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph]:
        """Warm up, then capture the two halves; their outputs stay in ``_graph_*`` buffers."""
        # warm-up on a side stream (torch's recipe): lazy initialisations stay out of capture
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(2):
                onset, _ = self._pre_physics(self._graph_actions)
                self._post_physics(onset)
        torch.cuda.current_stream(dev).wait_stream(side)
        pre, post = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        for graph in (pre, post):
            graph.register_generator_state(self.generator)
            if self._torque_sensor is not None:
                graph.register_generator_state(self._torque_sensor.generator)
        with torch.cuda.graph(pre):
            onset, self._graph_targets = self._pre_physics(self._graph_actions)
        with torch.cuda.graph(post):
            self._graph_out = self._post_physics(onset)
        return pre, post

    # -- internals ----------------------------------------------------------------------------
    def _uniforms(self) -> torch.Tensor:
        """One step's draws for resets and commands, every env. Shape: (num_envs, _NUM_UNIFORMS).

        Columns: yaw (1), joint noise (19), fault plan (4), command (3), standing (1).
        """
        return torch.rand(
            self.num_envs, _NUM_UNIFORMS, device=self.device, generator=self.generator
        )

    def _reset_envs(self, mask: torch.Tensor, u: torch.Tensor) -> None:
        """Start new episodes in the masked envs (masked, in place; commands not included).

        mask: (num_envs,) bool. u: this step's :meth:`_uniforms`.
        """
        n, cfg = self.num_envs, self.cfg
        yaw = cfg.init_yaw_range * (2.0 * u[:, 0] - 1.0)
        joints = self.default_joint_pos + cfg.init_joint_noise * (2.0 * u[:, 1:20] - 1.0)
        joints = joints.clamp(self.joint_lower, self.joint_upper)
        qpos = torch.cat([self.default_qpos[:3].expand(n, 3), yaw_quat(yaw), joints], dim=1)
        # no mj_forward: the torques of a fresh episode read zero (nothing applied yet), and
        # sensors are only read after the next physics step
        self.backend.reset(mask, qpos, self._zero_qvel, forward=False)
        self.faults.resample(mask, u[:, 20:24])
        self.backend.set_torque_limits(self.faults.limits)
        m = mask[:, None]
        for state in (self.actions, self.last_actions, self.last_joint_vel, self.air_time,
                      self.contact_time, self.episode_sums, self.episode_errors):  # fmt: skip
            state.masked_fill_(m, 0.0)
        self.step_in_episode.masked_fill_(mask, 0)
        self._time_limit.masked_fill_(mask, self.max_episode_steps)

    def _resample_commands(self, mask: torch.Tensor, u: torch.Tensor) -> None:
        """New velocity commands for the masked envs. u: this step's :meth:`_uniforms`."""
        c = self.cfg.commands
        cmd = cmds.sample_commands(
            u[:, 24:28], self._cmd_lo, self._cmd_hi, c.standing_fraction, c.turning_fraction
        )
        torch.where(mask[:, None], cmd, self.commands, out=self.commands)

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
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reward (num_envs,) and the velocity tracking errors |cmd_xy - v_xy|, |cmd_wz - w_z|.

        Updates the feet timers and the episode sums in place.
        """
        w, dt = self.cfg.rewards, self.control_dt
        lin_err = rw.lin_vel_error_sq(self.commands, qvel, rot)
        ang_err = rw.ang_vel_error_sq(self.commands, qvel, rot)
        joint_pos, joint_vel = qpos[:, 7:], qvel[:, 6:]
        contact, foot_vel = self._foot_state()
        self.air_time.add_(dt).masked_fill_(contact, 0.0)
        self.contact_time.add_(dt).mul_(contact)
        default = self.default_joint_pos
        terms = {
            "track_lin_vel_xy": rw.tracking_kernel(lin_err, w.tracking_std),
            "track_ang_vel_z": rw.tracking_kernel(ang_err, w.tracking_std),
            "feet_air_time": rw.feet_air_time(
                contact,
                self.contact_time,
                self.air_time,
                self.commands,
                w.air_time_threshold,
                w.air_time_when_turning,
            ),
            "feet_slide": rw.feet_slide(foot_vel, contact),
            "termination": rw.termination(terminated),
            "ankle_limits": rw.ankle_limits(
                joint_pos, self._ankles, self._ankle_mid, self._ankle_half
            ),
            "joint_deviation_hip": rw.joint_deviation_l1(joint_pos, default, self._hip),
            "joint_deviation_arms": rw.joint_deviation_l1(joint_pos, default, self._arms),
            "joint_deviation_torso": rw.joint_deviation_l1(joint_pos, default, self._torso),
            "flat_orientation": rw.flat_orientation(rot),
            "lin_vel_z": rw.lin_vel_z(qvel),
            "ang_vel_xy": rw.ang_vel_xy(qvel),
            "action_rate": rw.action_rate(self.actions, self.last_actions),
            "joint_acc": rw.joint_acc(joint_vel, self.last_joint_vel, dt),
            "joint_torque": rw.joint_torque(self.backend.actuator_force),
        }
        # all terms at once: (num_envs, terms) * (weight * dt)
        weighted = torch.stack([terms[k] for k in REWARD_TERMS], dim=1) * self._reward_scales
        self.episode_sums += weighted
        lin_err, ang_err = lin_err.sqrt(), ang_err.sqrt()
        self.episode_errors += torch.stack([lin_err, ang_err], dim=1)
        return weighted.sum(dim=1), lin_err, ang_err

    def _episode_totals(self, done: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
        """Totals over the envs that just finished, for :class:`EpisodeLog` (call before resets).

        Returns (1 + len(_LOG_NAMES),) float32: episode count, then the sums of each
        ``_LOG_NAMES`` value (per-second reward terms, length in s, fell, per-step errors).
        """
        length_s = self.step_in_episode.float() * self.control_dt
        per_second = self.episode_sums / length_s.clamp(min=self.control_dt)[:, None]
        per_step = self.episode_errors / self.step_in_episode.clamp(min=1)[:, None]
        values = torch.cat(
            [per_second, length_s[:, None], terminated[:, None].float(), per_step], dim=1
        )
        values = torch.where(done[:, None], values, 0.0)  # not multiplied: NaN * 0 is NaN
        return torch.cat([done.sum()[None].float(), values.sum(dim=0)])

    def _compute_obs(self, rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy (num_envs, 69) and discriminator (num_envs, 88) observations of the backend's
        current state, noise included; ``rot``: its base rotation matrices (num_envs, 3, 3).

        The one place the observations are assembled (terms: :mod:`h1fault.sim.observations`).
        """
        b = self.backend
        obs = policy_obs(b.qpos, b.qvel, rot, self.commands, self.default_joint_pos, self.actions)
        if self._obs_noise is not None:
            obs = obs + self._obs_noise * self._rand(self.num_envs, NUM_OBS)
        tau = b.actuator_force
        if self._torque_sensor is not None:
            tau = self._torque_sensor(tau, self.step_in_episode)
        return obs, torch.cat([obs, tau], dim=1)

    def _rand(self, *shape: int) -> torch.Tensor:
        """Uniform in [-1, 1)."""
        return 2.0 * torch.rand(*shape, device=self.device, generator=self.generator) - 1.0
