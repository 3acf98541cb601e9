"""The env reproduces rollouts recorded before its task terms moved into pure functions."""

from __future__ import annotations

import numpy as np
import pytest
from make_env_golden import CONFIGS, FIXTURE, golden_rollout


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_env_reproduces_the_golden_rollout(name: str) -> None:
    expected = np.load(FIXTURE)
    got = golden_rollout(CONFIGS[name])
    assert {f"{name}/{k}" for k in got} == {k for k in expected.files if k.startswith(f"{name}/")}
    for key, value in got.items():
        want = expected[f"{name}/{key}"]
        assert value.dtype == want.dtype and value.shape == want.shape, key
        np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-6, err_msg=f"{name}/{key}")
    if name == "stress":  # the fixture exercises resets, falls and faults
        assert expected["stress/terminated"].any() and expected["stress/truncated"].any()
        assert (expected["stress/fault_joint"] >= 0).any()
