"""``h1fault-isaaclab collect``: an Isaac Lab task rolled out under the fault model into a raw file.

Builds the task kit-less with the fault event term, wraps it in :class:`RecorderEnv` and runs
h1fault's own collect loop (:func:`h1fault.data.collect.collect`): the file is what
``h1fault collect`` writes, readable by ``h1fault dataset build`` / ``dataset stats``.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from h1fault.config import apply_overrides
from h1fault.data.collect import CollectResult, collect
from h1fault.data.h5io import remove_if_exists
from h1fault.data.writer import WriterConfig
from h1fault.errors import H1FaultError
from h1fault.sim.faults import FaultConfig
from h1fault_isaaclab.launch import make_env, make_env_cfg, use_local_assets


def build(
    task: str,
    num_envs: int,
    faults: FaultConfig,
    seed: int = 0,
    device: str = "cpu",
    episode_length_s: float | None = None,
):
    """The task's env with the fault term, wrapped for recording. Returns a ``RecorderEnv``.

    episode_length_s: the task's time-out in seconds (default: the task's own).
    """
    use_local_assets()
    from h1fault_isaaclab.faults import add_fault_event
    from h1fault_isaaclab.recorder import RecorderEnv

    cfg = make_env_cfg(task, num_envs, device=device, seed=seed)
    if episode_length_s is not None:
        if episode_length_s <= 0:
            raise H1FaultError(f"--episode-length-s must be > 0, got {episode_length_s}")
        cfg.episode_length_s = float(episode_length_s)
    faults.validate(float(cfg.episode_length_s))
    add_fault_event(cfg, faults, seed=seed)
    return RecorderEnv(make_env(cfg), task, seed=seed)


def fault_config(overrides: list[str] | None) -> FaultConfig:
    """h1fault's default fault model with ``faults.<field>=value`` overrides (validated)."""
    items = []
    for o in overrides or []:
        key = o.split("=", 1)[0]
        if not key.startswith(("faults.", "env.faults.")):
            raise H1FaultError(f"only faults.* overrides are supported here, got '{o}'")
        items.append(o.split("faults.", 1)[1])
    return apply_overrides(FaultConfig(), items)


def run_collect(
    task: str,
    out: str | Path,
    num_envs: int,
    num_steps: int,
    *,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    overrides: list[str] | None = None,
    episode_length_s: float | None = None,
    writer: WriterConfig | None = None,
    force: bool = False,
    progress: bool = True,
    env: Any = None,
) -> CollectResult:
    """Validate everything cheap first, then build the env, load the actor and collect."""
    out = Path(out)
    if num_envs < 1 or num_steps < 1:
        raise H1FaultError("--envs and --steps must be >= 1")
    (writer or WriterConfig()).validate()
    if not out.parent.exists():
        raise H1FaultError(f"output folder {out.parent} does not exist")
    if out.exists() and not force:
        remove_if_exists(out, force)  # the one-line "exists" error before minutes of start-up
    faults = fault_config(overrides)
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise H1FaultError(f"checkpoint not found: {checkpoint}")
    from h1fault.fileio import file_sha256
    from h1fault_isaaclab.policy import load_skrl_actor, random_actor

    if env is None:
        # Isaac Lab prints its manager tables to stdout: keep stdout for --json
        with contextlib.redirect_stdout(sys.stderr):
            env = build(task, num_envs, faults, seed, device, episode_length_s)
    rec = env
    num_obs = 69
    num_actions = int(rec.env.action_manager.total_action_dim)
    if checkpoint is not None:
        actor = load_skrl_actor(checkpoint, num_obs, num_actions).to(rec.device)
        attrs = {"policy_checkpoint": str(checkpoint), "policy_sha256": file_sha256(checkpoint)}
    else:
        actor = random_actor(num_obs, num_actions, seed).to(rec.device)
        attrs = {"policy_checkpoint": f"random-init MLP (seed {seed})", "policy_sha256": ""}
    attrs["seed"] = seed
    attrs.update(rec.attrs())
    return collect(rec, actor, out, num_steps, writer=writer, attrs=attrs, force=force,
                   progress=progress)  # fmt: skip
