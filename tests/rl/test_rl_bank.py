"""The policy bank: warm start equals the healthy policy, file round trip, one-line errors."""

from __future__ import annotations

import pytest
import torch

from h1fault.errors import H1FaultError
from h1fault.rl.bank import bank_from_healthy, load_bank
from h1fault.rl.policy import load_policy
from h1fault.sim.model import DEFAULT_FAULT_CANDIDATES, joint_index

CANDIDATES = [joint_index(j) for j in DEFAULT_FAULT_CANDIDATES]


@pytest.fixture(scope="module")
def healthy():
    return load_policy()


@pytest.mark.parametrize("structure", ["experts", "conditioned"])
def test_warm_start_is_the_healthy_policy(healthy, structure: str) -> None:
    bank = bank_from_healthy(healthy, CANDIDATES, structure)
    obs = torch.randn(len(CANDIDATES) + 1, 69)
    joint = torch.tensor([*CANDIDATES, -1])
    torch.testing.assert_close(bank(obs, joint), healthy(obs), atol=1e-5, rtol=1e-5)


def test_experts_are_independent(healthy) -> None:
    bank = bank_from_healthy(healthy, CANDIDATES, "experts")
    with torch.no_grad():
        bank.actor.net.w0[3].add_(0.5)  # change the 4th expert only
    obs = torch.randn(3, 69)
    j3 = torch.full((3,), CANDIDATES[3])
    j4 = torch.full((3,), CANDIDATES[4])
    assert not torch.allclose(bank(obs, j3), healthy(obs))
    torch.testing.assert_close(bank(obs, j4), healthy(obs), atol=1e-5, rtol=1e-5)


def test_round_trip_and_errors(tmp_path, healthy) -> None:
    bank = bank_from_healthy(healthy, CANDIDATES[:3], "conditioned")
    path = bank.save(tmp_path / "bank.pt", {"command": "test"})
    again = load_bank(path, require_joints=CANDIDATES[:3])
    obs, joint = torch.randn(4, 69), torch.tensor([CANDIDATES[0], CANDIDATES[2], -1, 5])
    torch.testing.assert_close(again(obs, joint), bank(obs, joint))
    assert again.meta == {"command": "test"}
    with pytest.raises(H1FaultError, match="no expert for"):
        load_bank(path, require_joints=CANDIDATES[:4])
    with pytest.raises(H1FaultError, match="not found"):
        load_bank(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(H1FaultError, match="cannot read bank"):
        load_bank(tmp_path / "junk.pt")
    with pytest.raises(H1FaultError, match="not an h1fault policy bank"):
        load_bank(load_policy.__globals__["default_policy_path"]())
    data = torch.load(path, weights_only=True)
    data["actor"]["net.0.weight"] = torch.zeros(3, 3)  # wrong shape
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(H1FaultError, match="do not match"):
        load_bank(tmp_path / "bad.pt")
