"""What a discriminator (GRU checkpoint or residual detector file) says about itself besides its
weights: :class:`DiscMeta`. Imports nothing heavier than the class list and the decision rule,
so every detector kind can describe itself without importing another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from h1fault.disc.dataset import ClassSpec
from h1fault.disc.decision import DecisionRule


@dataclass(frozen=True)
class DiscMeta:
    """What a checkpoint says about itself besides its weights."""

    obs_dim: int
    """Observation width the model expects (88)."""
    hidden_size: int
    """GRU hidden units."""
    num_layers: int
    """GRU layers."""
    class_joints: tuple[int, ...]
    """Model joint index per class, -1 for class 0 (healthy)."""
    class_names: tuple[str, ...]
    """Class names, healthy first."""
    control_dt: float
    """Seconds per step of the data it was trained on."""
    fault_threshold: float
    """Default decision threshold (see :func:`h1fault.disc.model.decide`)."""
    train_labels: str
    """Target definition used in training: saturation or onset."""
    persistence: int = 1
    """Default decision rule: steps a raw fault decision must persist before it is declared."""
    latch: bool = False
    """Default decision rule: the first declaration stands until the episode ends."""
    features: str = "raw"
    """Derived input features inside the model (:mod:`h1fault.disc.features`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Config, dataset path, epoch, val metrics, calibration (informational)."""

    @property
    def classes(self) -> ClassSpec:
        return ClassSpec(joints=self.class_joints, names=self.class_names)

    @property
    def rule(self) -> DecisionRule:
        """The checkpoint's decision rule (threshold, persistence, latch)."""
        return DecisionRule(self.fault_threshold, self.persistence, self.latch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "obs_dim": self.obs_dim,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "class_joints": list(self.class_joints),
            "class_names": list(self.class_names),
            "control_dt": self.control_dt,
            "fault_threshold": self.fault_threshold,
            "train_labels": self.train_labels,
            "persistence": self.persistence,
            "latch": self.latch,
            "features": self.features,
            **self.extra,
        }
