"""Issue 12's quality bar for a 256-episode play (README, Performance), shared by the GPU scripts.

python3 scripts/quality_bar.py run/policy.json [...]   # exit 0 if every run's play met it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MAX_LIN_VEL_ERROR = 0.10
"""m/s."""
MAX_YAW_RATE_ERROR = 0.15
"""rad/s."""
MAX_FALL_RATE = 0.01
"""Exclusive: falls must stay under 1 %."""
MIN_LENGTH_RATIO = 0.95
"""Mean episode length over the maximum."""


def meets_bar(play: dict) -> bool:
    """Whether a ``policy.json`` ``play`` section meets the bar (the wall-clock is separate)."""
    return (
        play["lin_vel_error"] <= MAX_LIN_VEL_ERROR
        and play["ang_vel_error"] <= MAX_YAW_RATE_ERROR
        and play["fall_rate"] < MAX_FALL_RATE
        and play["episode_length_ratio"] >= MIN_LENGTH_RATIO
    )


def worst_tracking_share(play: dict) -> float:
    """The larger of the lin and yaw errors as a share of their bar (1.0: exactly at the bar)."""
    return max(
        play["lin_vel_error"] / MAX_LIN_VEL_ERROR, play["ang_vel_error"] / MAX_YAW_RATE_ERROR
    )


if __name__ == "__main__":
    plays = [json.loads(Path(path).read_text())["play"] for path in sys.argv[1:]]
    sys.exit(0 if plays and all(meets_bar(p) for p in plays) else 1)
