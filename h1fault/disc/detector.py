"""One loader for both detector kinds: the GRU checkpoint (``.pt``) and the residual JSON.

The closed loop, ``disc eval`` and ``disc calibrate`` take either; with no path,
:func:`load_detector` returns the residual detector shipped in ``h1fault/assets`` (see its
``.meta.json`` for how it was made). Both stream through
:class:`~h1fault.disc.model.StreamingDiscriminator` (same ``reset``/``step``/``decide``/
``step_decision``), and both carry a :class:`~h1fault.disc.checkpoint.DiscMeta` with the class
list: class ``k > 0`` is model joint ``meta.class_joints[k]``, class 0 healthy.

Example::

    from h1fault.disc import load_detector
    det = load_detector(None, device="cuda")            # the shipped residual detector
    disc = det.streaming(num_envs=4096, cuda_graph=True)
    declared, scores = disc.step_decision(obs, episode_start)   # (N, 88), (N,) bool -> (N,) int64
    joint = det.class_joints_tensor[declared]          # (N,) model joint index, -1 = healthy
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from h1fault.disc.checkpoint import DiscMeta, load_checkpoint
from h1fault.disc.decision import DecisionRule
from h1fault.disc.model import StreamingDiscriminator
from h1fault.disc.residual import is_residual_file, load_residual

DEFAULT_DETECTOR = "h1_residual_detector.json"
"""File name of the shipped residual detector inside ``h1fault/assets``."""


def default_detector_path() -> Path:
    """Path of the shipped residual detector (its ``.meta.json`` says how it was made)."""
    return Path(str(resources.files("h1fault") / "assets" / DEFAULT_DETECTOR))


def load_any(path: str | Path, device: str | torch.device = "cpu") -> tuple[Any, DiscMeta]:
    """(model, meta) of a GRU checkpoint or a residual JSON; the model streams through
    :class:`StreamingDiscriminator`. Anything else is a one-line error."""
    if is_residual_file(path):
        return load_residual(path, device)
    return load_checkpoint(path, device)


@dataclass
class LoadedDetector:
    """A loaded detector of either kind."""

    kind: str
    """``gru`` or ``residual``."""
    model: Any
    """:class:`~h1fault.disc.model.DiscriminatorNet` or
    :class:`~h1fault.disc.residual.ResidualDetector`."""
    meta: DiscMeta
    """Classes, decision rule, provenance."""
    path: Path
    """Where it was loaded from."""
    device: torch.device
    """Device of ``model``."""

    @property
    def rule(self) -> DecisionRule:
        """The stored decision rule (picked on val by ``disc calibrate``)."""
        return self.meta.rule

    @property
    def class_joints(self) -> tuple[int, ...]:
        """Model joint index per class; -1 for class 0 (healthy)."""
        return self.meta.class_joints

    @property
    def class_joints_tensor(self) -> torch.Tensor:
        """``class_joints`` as a (C,) int64 tensor on ``device``: index it with declared."""
        return torch.tensor(self.class_joints, dtype=torch.long, device=self.device)

    def streaming(
        self, num_envs: int, cuda_graph: bool = False, rule: DecisionRule | None = None
    ) -> StreamingDiscriminator:
        """A streaming detector for ``num_envs`` envs with the stored rule (or ``rule``)."""
        return StreamingDiscriminator(
            self.model, num_envs, device=self.device, cuda_graph=cuda_graph,
            rule=rule or self.rule,
        )  # fmt: skip


def load_detector(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> LoadedDetector:
    """Load a detector of either kind; ``None`` = the shipped residual detector."""
    p = Path(path) if path is not None else default_detector_path()
    dev = torch.device(device)
    model, meta = load_any(p, dev)
    kind = "residual" if meta.features == "residual" else "gru"
    return LoadedDetector(kind=kind, model=model, meta=meta, path=p, device=dev)
