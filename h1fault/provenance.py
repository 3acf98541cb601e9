"""Where results came from: timestamped run dirs, git state, package versions.

Shared by PPO runs (``logs/skrl/...``), discriminator runs (``logs/disc/...``), shipped
policies and collected data.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path


def new_run_dir(root: str | Path, experiment: str, suffix: str = "") -> Path:
    """``<root>/<experiment>/<YYYY-MM-DD_HH-MM-SS>[_<suffix>]/`` with ``params/`` and
    ``checkpoints/`` (made unique if two runs start within one second)."""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    tail = f"_{suffix}" if suffix else ""
    base = Path(root) / experiment
    run = base / f"{stamp}{tail}"
    k = 1
    while run.exists():
        run = base / f"{stamp}-{k}{tail}"
        k += 1
    (run / "params").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    return run


def save_code_state(params_dir: Path) -> None:
    """Write ``git.txt``: commit, status and diff of the working tree (if in a git checkout)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=here, capture_output=True, text=True, timeout=10
            )
            return out.stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    text = (
        f"commit: {git('rev-parse', 'HEAD').strip() or 'unknown'}\n\n"
        f"status:\n{git('status', '--short')}\n\ndiff:\n{git('diff', 'HEAD')}"
    )
    (params_dir / "git.txt").write_text(text)


def git_commit() -> str:
    """Current commit hash of the h1fault checkout, or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        commit = out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    # a copied tree without git history answers with junk: only accept a real hash
    is_hash = len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)
    return commit if is_hash else "unknown"


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine a result (installed metadata, no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("h1fault", "mujoco", "mujoco-warp", "warp-lang", "torch", "skrl", "numpy",
                 "h5py"):  # fmt: skip
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
