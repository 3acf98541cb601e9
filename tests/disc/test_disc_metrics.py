"""Eval metrics on hand-made predictions equal hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from h1fault.disc.dataset import ClassSpec, SplitData
from h1fault.disc.metrics import detection_step, evaluate_predictions

CLASSES = ClassSpec(joints=(-1, 3, 7), names=("healthy", "j3", "j7"))
# (fault joint, onset, first saturation, predicted classes per step)
EPISODES = [
    (-1, -1, -1, [0, 0, 0, 0, 0, 0]),  # E0 healthy, quiet
    (-1, -1, -1, [0, 1, 0, 0, 0]),  # E1 healthy, one false alarm
    (3, 2, 4, [0, 0, 0, 1, 0, 1, 1, 1, 1, 1]),  # E2 detected at 5: onset +3, saturation +1
    (7, 1, -1, [0, 0, 2, 2, 2, 2, 2, 2]),  # E3 never saturates, detected at 2: onset +1
    (7, 0, 2, [0, 0, 0, 2, 2, 2, 2, 2, 2, 1]),  # E4 wrong at the last step: undetected
    (3, 1, 1, [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]),  # E5 alarm before onset, detected at 8
]


def _split() -> tuple[SplitData, np.ndarray]:
    length = np.array([len(p) for *_, p in EPISODES])
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    label, pred = [], []
    for joint, onset, _, p in EPISODES:
        lab = np.full(len(p), -1)
        if joint >= 0:
            lab[onset:] = joint
        label.append(lab)
        pred.extend(p)
    split = SplitData(
        name="test",
        obs=torch.zeros(int(length.sum()), 88),
        label=np.concatenate(label).astype(np.int16),
        saturated=np.zeros(int(length.sum()), dtype=bool),
        ep_start=start,
        ep_length=length,
        ep_fault_joint=np.array([e[0] for e in EPISODES]),
        ep_onset=np.array([e[1] for e in EPISODES]),
        ep_first_saturation=np.array([e[2] for e in EPISODES]),
        ep_terminated=np.zeros(len(EPISODES), dtype=bool),
    )
    return split, np.array(pred)


def test_detection_step() -> None:
    split, pred = _split()
    ep_cls = CLASSES.label_to_class(split.ep_fault_joint)
    det = detection_step(pred, split.ep_start, split.ep_length, ep_cls)
    assert det.tolist() == [0, 2, 5, 2, 10, 8]  # healthy: "stays healthy from"; E4 = length


def test_metrics_match_hand_computation() -> None:
    split, pred = _split()
    rep, arr = evaluate_predictions(
        pred, split, CLASSES, target_labels="onset", control_dt=0.1, window_s=0.5
    )
    assert rep["window_steps"] == 5
    assert arr.latency_onset.tolist() == [-1, -1, 3, 1, -1, 7]
    assert arr.latency_saturation.tolist() == [-1, -1, 1, -1, -1, 7]

    fa = rep["false_alarms"]
    assert fa["healthy_steps"] == 15  # 6 + 5 + 2 + 1 + 0 + 1 steps labelled -1
    assert fa["healthy_step_alarms"] == 2  # E1 step 1, E5 step 0
    assert fa["healthy_step_rate"] == pytest.approx(2 / 15)
    assert (fa["healthy_episodes"], fa["healthy_episodes_with_alarm"]) == (2, 1)
    assert fa["healthy_episode_rate"] == 0.5
    assert fa["fault_episodes_with_alarm_before_onset"] == 1  # E5 step 0
    assert fa["fault_episode_alarm_before_onset_rate"] == 0.25
    assert fa["healthy_alarm_onsets"] == 2  # E1 step 1, E5 step 0
    assert fa["alarms_per_healthy_hour"] == pytest.approx(2 / (15 * 0.1 / 3600))
    assert fa["pooled_false_alarm_rate"] == pytest.approx(2 / (15 / 12))  # longest episode 12

    overall = rep["detection"]["overall"]
    assert overall["episodes"] == 4 and overall["saturating_episodes"] == 3
    assert overall["identified_within_window_of_saturation"] == pytest.approx(1 / 3)  # E2 only
    assert overall["detected_rate"] == 0.75  # E4 missed

    j3, j7 = rep["detection"]["per_joint"]
    assert j3["joint"] == "j3" and j3["joint_index"] == 3
    assert j3["identified_within_window_of_saturation"] == 0.5  # E2 (+1) yes, E5 (+7) no
    assert j3["latency_from_saturation_median_steps"] == 1  # nearest rank of [1, 7]
    assert j3["latency_from_saturation_p90_steps"] == 7
    assert j3["latency_from_onset_median_s"] == pytest.approx(0.3)  # [3, 7] * 0.1 s
    assert j3["latency_from_onset_p90_s"] == pytest.approx(0.7)
    assert j7["saturating_episodes"] == 1 and j7["identified_within_window_of_saturation"] == 0
    assert j7["latency_from_saturation_median_steps"] is None  # the only one is undetected
    assert j7["latency_from_onset_median_steps"] == 1  # [1, never]
    assert j7["latency_from_onset_p90_steps"] is None
    assert j7["final_wrong_joint_rate"] == 0.5  # E4 ends on j3

    # confusion matrix against an independent loop (rows target, columns prediction)
    lab = CLASSES.label_to_class(split.label)
    want = np.zeros((3, 3), dtype=int)
    for t, p in zip(lab, pred, strict=True):
        want[t, p] += 1
    assert rep["confusion_matrix"] == want.tolist()
    assert rep["per_class_accuracy"]["j7"] == pytest.approx(want[2, 2] / want[2].sum())
    assert rep["quality_bar"]["pass"] is False
    assert rep["quality_bar"]["joints_below_identify_target"] == ["j3", "j7"]


def test_saturation_targets() -> None:
    """Saturation labels: fault class from the observation after the first saturated step
    (obs[t] shows step t - 1); never-saturating faults are healthy throughout."""
    split, _ = _split()
    t = split.targets(CLASSES, "saturation")
    ep = np.split(t, split.ep_start[1:])
    assert ep[2].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]  # first saturation 4
    assert ep[3].tolist() == [0] * 8
    assert ep[4].tolist() == [0, 0, 0] + [2] * 7  # first saturation 2


def test_perfect_predictions_pass_the_bar() -> None:
    split, _ = _split()
    pred = split.targets(CLASSES, "saturation")
    rep, _ = evaluate_predictions(pred, split, CLASSES, control_dt=0.1, window_s=0.5)
    assert rep["detection"]["overall"]["identified_within_window_of_saturation"] == 1.0
    assert rep["false_alarms"]["healthy_episode_rate"] == 0.0
    bar = rep["quality_bar"]
    assert bar["observed_pass"] is True
    # a handful of healthy episodes cannot certify < 1 % false alarms: the bar fails
    assert bar["certified"] is False and bar["pass"] is False
    n = rep["num_healthy_episodes"]
    assert bar["false_alarm_upper_bound"] == pytest.approx(1 - 0.05 ** (1 / n))
