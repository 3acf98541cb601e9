"""Record H1VecEnv rollouts as a golden fixture: ``tests/sim/fixtures/env_golden.npz``.

Made once with the env code *before* its task terms moved into pure functions (commit
09c2692); ``test_sim_golden.py`` asserts that today's env reproduces it. Re-run it only for a
deliberate change of the task's behaviour, and say so in the commit:

    PYTHONPATH=$PWD python tests/sim/make_env_golden.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from h1fault.rl.policy import load_policy
from h1fault.sim.faults import FaultConfig
from h1fault.sim.task import CommandConfig, EnvConfig
from h1fault.sim.torque_sensor import TorqueSensorConfig
from h1fault.sim.vec_env import H1VecEnv

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "env_golden.npz"
NUM_ENVS, STEPS, SEED = 4, 30, 7
_NO_SENSOR = TorqueSensorConfig(enabled=False)
"""The fixture predates torque-sensor noise (it changes the 88-dim torques by design)."""
CONFIGS = {
    "default": EnvConfig(torque_sensor=_NO_SENSOR),
    # resets (time-outs and falls), command resamples and fault onsets inside 30 steps
    "stress": EnvConfig(
        torque_sensor=_NO_SENSOR,
        episode_length_s=0.3,
        min_base_height=0.95,
        commands=CommandConfig(resample_s=0.1, standing_fraction=0.25),
        faults=FaultConfig(p_fault=1.0, onset_window_s=(0.0, 0.2), scale_range=(0.0, 0.05)),
    ),
}
"""The rollouts recorded: name -> env config (CPU, MuJoCo C backend, shipped policy)."""


def golden_rollout(cfg: EnvConfig) -> dict[str, np.ndarray]:
    """Roll the shipped policy for ``STEPS`` steps; everything the env returns, as arrays.

    Keys: ``obs0`` / ``disc0`` (reset), then per step (STEPS, NUM_ENVS, ...): ``obs``,
    ``disc_obs``, ``reward``, ``terminated``, ``truncated``, ``fault_joint``, ``saturated``,
    ``lin_vel_error``, ``ang_vel_error``, ``commands``, ``log_totals`` (STEPS, 1 + 17; zeros where
    no episode ended: the count and the 17 statistics the log had when the fixture was recorded;
    the episode tracking errors added later are checked against the per-step errors elsewhere).
    """
    policy = load_policy()
    env = H1VecEnv(cfg, num_envs=NUM_ENVS, device="cpu", backend="mujoco", seed=SEED)
    obs, info = env.reset()
    out: dict[str, list] = {"obs0": [obs], "disc0": [info["disc_obs"]]}
    keys = ("disc_obs", "fault_joint", "saturated", "lin_vel_error", "ang_vel_error")
    with torch.no_grad():
        for _ in range(STEPS):
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            row = {"obs": obs, "reward": reward, "terminated": terminated,
                   "truncated": truncated, "commands": env.commands.clone()}  # fmt: skip
            row.update({k: info[k] for k in keys})
            totals = info["log"].totals
            row["log_totals"] = torch.zeros(18) if totals is None else totals[:18]
            for k, v in row.items():
                out.setdefault(k, []).append(v)
    return {k: torch.stack(v).squeeze(0).numpy() if k in ("obs0", "disc0")
            else torch.stack(v).numpy() for k, v in out.items()}  # fmt: skip


def main() -> None:
    arrays = {}
    for name, cfg in CONFIGS.items():
        for k, v in golden_rollout(cfg).items():
            arrays[f"{name}/{k}"] = v
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    stress = {k: arrays[f"stress/{k}"] for k in ("terminated", "truncated", "fault_joint")}
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes); stress: "
          f"{int(stress['terminated'].sum())} falls, {int(stress['truncated'].sum())} time-outs, "
          f"{int((stress['fault_joint'] >= 0).sum())} faulted env-steps")  # fmt: skip


if __name__ == "__main__":
    main()
