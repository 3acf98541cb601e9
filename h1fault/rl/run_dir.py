"""Run directories in the Isaac Lab + skrl layout, with the code state saved for reproducibility."""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path


def new_run_dir(root: str | Path, experiment: str, suffix: str = "ppo_torch") -> Path:
    """``<root>/<experiment>/<YYYY-MM-DD_HH-MM-SS>_<suffix>/`` (made unique if it exists)."""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = Path(root) / experiment
    run = base / f"{stamp}_{suffix}"
    k = 1
    while run.exists():
        run = base / f"{stamp}-{k}_{suffix}"
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
