"""Kit-less Isaac Lab env creation, offline: the asset root shipped in this package, no AppLauncher.

Isaac Lab reads ``ISAACSIM_ASSET_ROOT`` once, when :mod:`isaaclab.utils.assets` is first imported,
so :func:`use_local_assets` must run before anything imports Isaac Lab (this module's functions
call it first). The shipped root holds what the H1 velocity tasks load: the H1 robot converted
from MuJoCo Menagerie's full-collision ``unitree_h1`` and a ground plane
(``tools/build_assets.sh`` rebuilds them; ``assets/README.md`` says how).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from h1fault.errors import H1FaultError

ASSET_ROOT = Path(__file__).resolve().parent / "assets"
"""The offline asset root (``Isaac/IsaacLab/...`` below it, like the remote server's layout)."""

H1_JOINTS_NEEDED = 19


def use_local_assets() -> str:
    """Point Isaac Lab at the shipped asset root unless the user set ``ISAACSIM_ASSET_ROOT``.

    Returns the root in use. Raises if Isaac Lab's asset module was already imported with another
    root (it would keep fetching from there).
    """
    root = os.environ.setdefault("ISAACSIM_ASSET_ROOT", str(ASSET_ROOT))
    mod = sys.modules.get("isaaclab.utils.assets")
    if mod is not None and getattr(mod, "NUCLEUS_ASSET_ROOT_DIR", root) != root.rstrip("/\\"):
        raise H1FaultError(
            "isaaclab.utils.assets was imported before ISAACSIM_ASSET_ROOT was set; "
            "import h1fault_isaaclab first"
        )
    return root


def make_env_cfg(task: str, num_envs: int, device: str = "cpu", seed: int = 0) -> Any:
    """The registered task's env config with ``num_envs``, ``device`` and ``seed`` set.

    Unknown task ids are a one-line error listing close matches.
    """
    use_local_assets()
    if num_envs < 1:
        raise H1FaultError("--envs must be >= 1")
    import gymnasium as gym
    import isaaclab_tasks  # noqa: F401 - registers the tasks
    from isaaclab_tasks.utils.parse_cfg import parse_env_cfg

    if task not in gym.registry:
        import difflib

        close = difflib.get_close_matches(task, [k for k in gym.registry if "Isaac" in k], n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise H1FaultError(f"unknown Isaac Lab task '{task}'{hint}")
    cfg = parse_env_cfg(task, device=device, num_envs=num_envs)
    cfg.seed = seed
    return cfg


def make_env(cfg: Any) -> Any:
    """Build the manager-based RL env of ``cfg`` (kit-less; physics as the task configures it)."""
    use_local_assets()
    from isaaclab.envs import ManagerBasedRLEnv

    if not hasattr(cfg, "events"):
        raise H1FaultError(f"{type(cfg).__name__} is not a manager-based env config (no events)")
    return ManagerBasedRLEnv(cfg)
