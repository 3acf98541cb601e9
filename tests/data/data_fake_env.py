"""A physics-free env with the H1VecEnv contract, for collect tests (also run in subprocesses).

Its discriminator observation encodes where it came from: column 0 = global step, 1 = env,
2 = episode, 3 = step in episode, 4 = first component of the previous action. Episodes time out
after ``episode_steps``; env ``fall_env`` (if set) terminates at step 7 of every episode. Faults
follow the fault model: per episode with ``p_fault`` one candidate joint, an onset step in
``onset_steps`` and a scale; the cut takes effect in the step whose ``step_in_episode`` equals
the onset and lasts to the episode end. ``info`` has the dense ``fault_onset`` mask unless
``dense_onset=False`` (then only the compact ``fault_events``).
"""

from __future__ import annotations

import torch

from h1fault.config import apply_overrides
from h1fault.data.synthetic import NOMINAL_LIMITS
from h1fault.sim.contract import StepResult
from h1fault.sim.task import EnvConfig


class FakeVecEnv:
    """See module docstring. Implements :class:`h1fault.sim.contract.VecEnv`."""

    num_obs = 69
    num_disc_obs = 88
    num_actions = 19
    backend_name = "FakeVecEnv"

    def __init__(
        self,
        num_envs: int = 4,
        episode_steps: int = 20,
        p_fault: float = 1.0,
        onset_steps: tuple[int, int] = (2, 10),
        seed: int = 0,
        fall_env: int | None = None,
        dense_onset: bool = True,
    ) -> None:
        dt = 0.02
        self.cfg = apply_overrides(EnvConfig(), [
            f"episode_length_s={episode_steps * dt}", f"faults.p_fault={p_fault}",
            f"faults.onset_window_s=[{onset_steps[0] * dt},{onset_steps[1] * dt}]",
        ])  # fmt: skip
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.control_dt = dt
        self.max_episode_steps = episode_steps
        self.seed = seed
        self.nominal_limits = torch.tensor(NOMINAL_LIMITS)
        self.commands = torch.zeros(num_envs, 3)
        self.fall_env = fall_env
        self.dense_onset = dense_onset
        self._onset = onset_steps
        self._p = p_fault
        self._cands = torch.tensor(self.cfg.faults.candidate_indices())
        self._g = torch.Generator().manual_seed(seed)

    def _draw(self, mask: torch.Tensor) -> None:
        n, g = self.num_envs, self._g
        has = torch.rand(n, generator=g) < self._p
        joint = self._cands[torch.randint(len(self._cands), (n,), generator=g)]
        onset = torch.randint(self._onset[0], self._onset[1], (n,), generator=g)
        scale = 0.3 * torch.rand(n, generator=g)
        self.planned = torch.where(mask, torch.where(has, joint, -1), self.planned)
        self.onset = torch.where(mask, onset, self.onset)
        self.scale = torch.where(mask, scale, self.scale)
        self.active = self.active & ~mask

    def _disc(self) -> torch.Tensor:
        d = torch.zeros(self.num_envs, 88)
        d[:, 0] = self.t
        d[:, 1] = torch.arange(self.num_envs)
        d[:, 2] = self.episode
        d[:, 3] = self.sie
        d[:, 4] = self.last_action[:, 0]
        d[:, 5:] = 0.01 * torch.arange(83)[None, :] + 0.1 * self.sie[:, None]
        return d

    def reset(self) -> tuple[torch.Tensor, dict]:
        n = self.num_envs
        self.t = 0
        self.episode = torch.zeros(n, dtype=torch.long)
        self.sie = torch.zeros(n, dtype=torch.long)
        self.planned = torch.full((n,), -1, dtype=torch.long)
        self.onset = torch.zeros(n, dtype=torch.long)
        self.scale = torch.ones(n)
        self.active = torch.zeros(n, dtype=torch.bool)
        self.last_action = torch.zeros(n, 19)
        self._draw(torch.ones(n, dtype=torch.bool))
        d = self._disc()
        return d[:, :69], {"disc_obs": d}

    def step(self, actions: torch.Tensor) -> StepResult:
        n = self.num_envs
        onset_now = (self.planned >= 0) & (self.sie == self.onset) & ~self.active
        rows = torch.nonzero(onset_now).flatten()
        joints = self.planned[rows]
        limit_all = self.scale * self.nominal_limits[self.planned.clamp(min=0)]
        events = {
            "env": rows, "episode": self.episode[rows], "step_in_episode": self.sie[rows],
            "global_step": torch.full_like(rows, self.t), "joint": joints,
            "scale": self.scale[rows], "limit": limit_all[rows],
        }  # fmt: skip
        self.active = self.active | onset_now
        info = {
            "fault_joint": torch.where(self.active, self.planned, -1),
            "fault_limit": torch.where(self.active, limit_all, float("nan")),
            "saturated": self.active & (self.sie % 3 == 0),
            "episode": self.episode.clone(),
            "step_in_episode": self.sie.clone(),
            "fault_events": events,
            "log": {},
            "lin_vel_error": torch.zeros(n),
            "ang_vel_error": torch.zeros(n),
        }
        if self.dense_onset:
            info["fault_onset"] = onset_now
        self.sie = self.sie + 1
        truncated = self.sie >= self.max_episode_steps
        terminated = torch.zeros(n, dtype=torch.bool)
        if self.fall_env is not None:
            terminated[self.fall_env] = bool(self.sie[self.fall_env] == 8)
        truncated &= ~terminated
        done = terminated | truncated
        self.episode = self.episode + done.long()
        self.sie = torch.where(done, 0, self.sie)
        self._draw(done)
        self.t += 1
        self.last_action = actions.detach().clone()
        d = self._disc()
        info["disc_obs"] = d
        return StepResult(d[:, :69], torch.zeros(n), terminated, truncated, info)
