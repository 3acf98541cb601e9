"""The shipped bank earns its place: on a knee fault its expert falls less than the healthy one."""

from __future__ import annotations

import dataclasses

import pytest

from h1fault.closedloop import closed_loop, with_forced_fault
from h1fault.rl.bank import default_bank_path, load_bank
from h1fault.sim.task import EnvConfig


@pytest.mark.skipif(not default_bank_path().is_file(),
                    reason=f"no shipped policy bank yet ({default_bank_path().name})")  # fmt: skip
def test_shipped_knee_expert_falls_less_than_the_healthy_policy(policy) -> None:
    base = dataclasses.replace(EnvConfig(), episode_length_s=3.0)
    cfg = with_forced_fault(base, "left_knee", scale=0.1, onset_s=1.0)
    report, _ = closed_loop(cfg, policy, load_bank(), rows=("healthy", "oracle_onset"),
                            num_envs=6, seed=0)  # fmt: skip
    healthy = report["controllers"]["healthy"]["faulted"]
    switched = report["controllers"]["oracle_onset"]["faulted"]
    assert healthy["episodes"] == switched["episodes"] == 6
    # measured: see the README's closed-loop section (healthy policy falls on nearly all)
    assert healthy["falls"] >= 4
    assert switched["falls"] < healthy["falls"]
