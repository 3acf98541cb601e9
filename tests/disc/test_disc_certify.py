"""Honest calibration: the Clopper-Pearson bound of the false-alarm rate, the warning when a
split is too small to certify the target, and the quality bar that needs the bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import beta

from h1fault.disc.dataset import ClassSpec, SplitData
from h1fault.disc.metrics import (
    certification,
    episodes_to_certify,
    evaluate_predictions,
    false_alarm_upper_bound,
)
from h1fault.disc.scoring import pick_on_probs

CLASSES = ClassSpec(joints=(-1, 3), names=("healthy", "j3"))


def test_bound_matches_hand_computed_clopper_pearson() -> None:
    # 0 alarms: 1 - 0.05 ** (1 / n) (closed form of Beta(1, n).ppf(0.95))
    assert false_alarm_upper_bound(0, 20) == pytest.approx(1 - 0.05 ** (1 / 20), rel=1e-12)
    assert false_alarm_upper_bound(0, 20) == pytest.approx(0.139108, abs=1e-6)
    assert false_alarm_upper_bound(2, 500) == pytest.approx(beta.ppf(0.95, 3, 498), rel=1e-12)
    assert false_alarm_upper_bound(3, 3) == 1.0 and false_alarm_upper_bound(0, 0) == 1.0
    # 299 clean healthy episodes certify < 1 % at 95 %, 298 do not
    assert episodes_to_certify(0.01) == 299
    assert false_alarm_upper_bound(0, 299) < 0.01 <= false_alarm_upper_bound(0, 298)
    assert math.log(0.05) / math.log(0.99) == pytest.approx(298.07, abs=0.01)
    c = certification(0, 299)
    assert c["certified"] and c["min_healthy_episodes_to_certify"] == 299


def _split(n_healthy: int, n_fault: int, length: int = 10) -> SplitData:
    n = n_healthy + n_fault
    label = np.full((n, length), -1, dtype=np.int16)
    label[n_healthy:, 2:] = 3
    return SplitData(
        name="val", obs=torch.zeros(n * length, 88), label=label.ravel(),
        saturated=np.zeros(n * length, dtype=bool), ep_start=np.arange(n) * length,
        ep_length=np.full(n, length), ep_fault_joint=np.array([-1] * n_healthy + [3] * n_fault),
        ep_onset=np.array([-1] * n_healthy + [2] * n_fault),
        ep_first_saturation=np.array([-1] * n_healthy + [3] * n_fault),
        ep_terminated=np.zeros(n, dtype=bool),
    )  # fmt: skip


def _perfect_probs(split: SplitData) -> torch.Tensor:
    t = split.targets(CLASSES, "saturation")
    return torch.nn.functional.one_hot(torch.from_numpy(t), 2).float()


@pytest.mark.parametrize(("n_healthy", "certified"), [(10, False), (300, True)])
def test_calibration_warns_when_val_is_too_small(n_healthy: int, certified: bool) -> None:
    split = _split(n_healthy, 5)
    cal = pick_on_probs(_perfect_probs(split), split, CLASSES, control_dt=0.1,
                        thresholds=[0.5], persistences=[1], latches=[True])  # fmt: skip
    assert cal["feasible"]  # observed: no alarm at all
    cert = cal["certification"]
    assert cert["certified"] is certified
    assert cert["false_alarm_upper_bound"] == pytest.approx(1 - 0.05 ** (1 / n_healthy))
    assert bool(cal["warnings"]) is not certified
    if not certified:
        assert "299" in cal["warnings"][0] and "10 healthy episodes" in cal["warnings"][0]


@pytest.mark.parametrize(("n_healthy", "passes"), [(20, False), (300, True)])
def test_quality_bar_needs_enough_healthy_episodes(n_healthy: int, passes: bool) -> None:
    split = _split(n_healthy, 5)
    pred = split.targets(CLASSES, "saturation")
    rep, _ = evaluate_predictions(pred, split, CLASSES, control_dt=0.1, window_s=0.5)
    bar = rep["quality_bar"]
    assert bar["observed_pass"] is True
    assert bar["pass"] is passes and bar["certified"] is passes
