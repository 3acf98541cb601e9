"""The shipped healthy policy: loads safely, walks on the CPU backend, says how it was made."""

from __future__ import annotations

import dataclasses
import json

from h1fault.rl.play import play
from h1fault.rl.policy import default_policy_path, load_policy
from h1fault.sim.task import EnvConfig


def test_shipped_policy_walks_on_cpu() -> None:
    policy = load_policy()
    cfg = dataclasses.replace(EnvConfig(), episode_length_s=6.0)
    report = play(policy, cfg, episodes=3, device="cpu", seed=3, show_progress=False)
    assert report.fall_rate == 0.0
    assert report.episode_length_ratio == 1.0
    # a standing policy scores ~0.5 m/s here (commands are 0-1 m/s); walking tracks them
    assert report.lin_vel_error < 0.25
    summary = json.loads(json.dumps(report.to_dict()))  # what play --json and policy.json hold
    assert summary["walks"] is True and summary["episodes"] == 3


def test_shipped_policy_metadata() -> None:
    meta = json.loads(default_policy_path().with_suffix(".json").read_text())
    assert meta["command"].startswith("h1fault train-healthy")
    assert meta["play"]["walks"] is True
    assert meta["play"]["episodes"] >= 256
    for key in ("seed", "commit", "wall_clock_s", "env_steps", "versions", "how_made"):
        assert key in meta
