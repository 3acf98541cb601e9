"""Detectors plug into the loop: the GRU's state follows the episodes, checkpoints load safely."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from h1fault.closedloop import DetectorSource, OracleSaturation, gru_detector_factory
from h1fault.disc.checkpoint import DiscMeta, save_checkpoint
from h1fault.disc.model import DiscriminatorNet, StreamingDiscriminator
from h1fault.errors import H1FaultError

CLASS_JOINTS = (-1, 3, 8, 2)


def _net(seed: int = 0) -> DiscriminatorNet:
    torch.manual_seed(seed)
    return DiscriminatorNet(88, len(CLASS_JOINTS), hidden_size=8)


def test_gru_hidden_state_resets_with_the_episode() -> None:
    net = _net()
    torch.manual_seed(1)
    obs = torch.randn(8, 2, 88) * 3
    source = DetectorSource(StreamingDiscriminator(net, 2), CLASS_JOINTS, "cpu")
    fresh = DetectorSource(StreamingDiscriminator(net, 2), CLASS_JOINTS, "cpu")
    source.reset()
    for t in range(8):
        start = torch.tensor([t in (0, 4), t == 0])  # env 0 starts a new episode at step 4
        source.propose(obs[t], start, None)
        if t == 3:
            carried = source.detector.hidden[:, 1].clone()
        if t >= 4:  # a fresh detector fed env 0's second episode from its start
            fresh.propose(obs[t], torch.tensor([t == 4, t == 4]), None)
    h, h_fresh = source.detector.hidden, fresh.detector.hidden
    torch.testing.assert_close(h[:, 0], h_fresh[:, 0])
    assert not torch.allclose(h[:, 1], h_fresh[:, 1])  # env 1 carried its state on
    assert not torch.allclose(carried, torch.zeros_like(carried))


def test_declared_class_maps_to_the_class_joint() -> None:
    class Fixed:
        def reset(self) -> None:
            pass

        def step_decision(self, obs, episode_start):
            return torch.tensor([0, 1, 2, 3])

    source = DetectorSource(Fixed(), CLASS_JOINTS, "cpu")
    joints = source.propose(torch.zeros(4, 88), torch.zeros(4, dtype=torch.bool), None)
    assert joints.tolist() == [-1, 3, 8, 2]
    with pytest.raises(H1FaultError, match="start with healthy"):
        DetectorSource(Fixed(), (3, 8), "cpu")


def test_saturation_oracle_ignores_the_previous_episode() -> None:
    info = {"saturated": torch.tensor([True, True]), "fault_joint": torch.tensor([3, 8])}
    start = torch.tensor([False, True])  # env 1's info describes its previous episode
    assert OracleSaturation().propose(None, start, info).tolist() == [3, -1]


def test_gru_checkpoint_factory(tmp_path: Path) -> None:
    meta = DiscMeta(obs_dim=88, hidden_size=8, num_layers=1, class_joints=CLASS_JOINTS,
                    class_names=("healthy", "a", "b", "c"), control_dt=0.02,
                    fault_threshold=0.0, train_labels="saturation")  # fmt: skip
    path = save_checkpoint(tmp_path / "d.pt", _net(), meta)
    source = gru_detector_factory(path)(3)
    assert source.class_joints == CLASS_JOINTS
    joints = source.propose(torch.zeros(3, 88), torch.ones(3, dtype=torch.bool), None)
    assert joints.shape == (3,) and set(joints.tolist()) <= set(CLASS_JOINTS)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(H1FaultError):
        gru_detector_factory(tmp_path / "bad.pt")
