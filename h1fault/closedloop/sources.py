"""Switch sources: what tells the closed loop, per env and step, which joint has failed.

A *switch source* proposes one model joint index per env at every control step (-1: nothing to
report). The loop latches the first served proposal of an episode (see
:class:`~h1fault.closedloop.controller.Controller`). Three kinds:

- :class:`DetectorSource`: a streaming detector over the 88-dim ``info["disc_obs"]`` stream (the
  GRU discriminator, or any object with the :class:`Detector` API), its declared class mapped
  to a joint through the detector's class list;
- :class:`OracleOnset`: the true faulted joint from the first observation after the cut;
- :class:`OracleSaturation`: the true joint from the first step whose faulted joint's torque sat
  at its cut limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from h1fault.errors import H1FaultError


@runtime_checkable
class Detector(Protocol):
    """A streaming fault detector (the GRU :class:`~h1fault.disc.model.StreamingDiscriminator`
    or the physics-residual detector): one internal state per env, advanced once per step."""

    def reset(self) -> None:
        """Forget every env's state (hidden state and decision-rule state)."""

    def step_decision(self, obs: torch.Tensor, episode_start: torch.Tensor):
        """obs: (num_envs, 88) float32, episode_start: (num_envs,) bool (zero that env's state
        first). Returns the declared class (num_envs,) int64 (0 = healthy), or a tuple whose
        first item is it (the GRU also returns its probabilities)."""


class SwitchSource(Protocol):
    """Proposes a joint per env and step; ``name`` labels the controller row."""

    def reset(self) -> None:
        """Start every env afresh (the loop calls it once after ``env.reset()``)."""

    def propose(
        self, disc_obs: torch.Tensor, episode_start: torch.Tensor, info: dict | None
    ) -> torch.Tensor:
        """disc_obs: (num_envs, 88) observation the next action is computed from;
        episode_start: (num_envs,) bool, true on an episode's first observation; info: the
        env's info of the step that produced ``disc_obs`` (None right after ``reset``).
        Returns (num_envs,) int64 model joint index, -1 = no fault known."""


class DetectorSource:
    """A :class:`Detector` whose declared class is mapped to a model joint.

    class_joints: model joint per class, ``-1`` for class 0 (healthy), as in the GRU
    checkpoint's ``class_joints``.
    """

    def __init__(self, detector: Detector, class_joints: Sequence[int], device: str | torch.device):
        joints = [int(j) for j in class_joints]
        if not joints or joints[0] != -1:
            raise H1FaultError(f"detector class list must start with healthy (-1), got {joints}")
        self.detector = detector
        self.class_joints = tuple(joints)
        self._lut = torch.tensor(joints, dtype=torch.long, device=device)

    def reset(self) -> None:
        self.detector.reset()

    def propose(
        self, disc_obs: torch.Tensor, episode_start: torch.Tensor, info: dict | None
    ) -> torch.Tensor:
        out = self.detector.step_decision(disc_obs, episode_start)
        declared = out[0] if isinstance(out, tuple) else out
        return self._lut[declared.to(self._lut.device).long()]


class OracleOnset:
    """The true faulted joint, known from the first observation after the cut took effect."""

    def reset(self) -> None:
        pass

    def propose(
        self, disc_obs: torch.Tensor, episode_start: torch.Tensor, info: dict | None
    ) -> torch.Tensor:
        if info is None:
            return torch.full_like(episode_start, -1, dtype=torch.long)
        # on an episode's first observation, info still describes the previous episode
        return info["fault_joint"].masked_fill(episode_start, -1)


class OracleSaturation:
    """The true faulted joint, from the first step whose faulted joint sat at its cut limit."""

    def reset(self) -> None:
        pass

    def propose(
        self, disc_obs: torch.Tensor, episode_start: torch.Tensor, info: dict | None
    ) -> torch.Tensor:
        if info is None:
            return torch.full_like(episode_start, -1, dtype=torch.long)
        fired = info["saturated"] & ~episode_start
        return info["fault_joint"].masked_fill(~fired, -1)


DetectorFactory = Callable[[int], DetectorSource]
"""``make(num_envs) -> DetectorSource``: a fresh detector for a rollout of ``num_envs`` envs."""


def gru_detector_factory(path: str | Path, device: str | torch.device = "cpu") -> DetectorFactory:
    """A factory of :class:`DetectorSource` from a GRU discriminator checkpoint (its own decision
    rule). The checkpoint is read (and checked) once, here; a bad file is a one-line error."""
    from h1fault.disc.checkpoint import load_checkpoint
    from h1fault.disc.model import StreamingDiscriminator

    net, meta = load_checkpoint(path, device="cpu")
    if meta.obs_dim != 88:
        raise H1FaultError(f"{path}: discriminator expects obs width {meta.obs_dim}, not 88")

    def make(num_envs: int) -> DetectorSource:
        graph = torch.device(device).type == "cuda"  # one launch per step; see detector_factory
        disc = StreamingDiscriminator(
            net, num_envs, device=device, cuda_graph=graph, rule=meta.rule
        )
        return DetectorSource(disc, meta.class_joints, device)

    return make


def detector_factory(
    path: str | Path | None, device: str | torch.device = "cpu"
) -> DetectorFactory | None:
    """The detector of the detector-driven row: ``path`` (a GRU checkpoint, or anything
    ``h1fault.disc.detector.load_detector`` reads), or the shipped default detector when
    ``path`` is None. Returns None when no path is given and this h1fault ships no detector."""
    try:
        from h1fault.disc.detector import default_detector_path, load_detector
    except ImportError:  # an h1fault without the detector loader: GRU checkpoints only
        return None if path is None else gru_detector_factory(path, device)
    if path is None and not default_detector_path().is_file():
        return None
    loaded = load_detector(path, device=device)
    dev = torch.device(device)

    def make(num_envs: int) -> DetectorSource:
        # a CUDA graph replays the detector's step in one launch; its outputs are static
        # buffers, which DetectorSource maps to joints at once
        stream = loaded.streaming(num_envs, cuda_graph=dev.type == "cuda")
        return DetectorSource(stream, loaded.class_joints, dev)

    return make
