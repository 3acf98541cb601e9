"""Discriminator configuration: one frozen dataclass, defaults are the documentation."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from h1fault.config import apply_overrides as apply_config_overrides
from h1fault.config import from_dict, to_dict
from h1fault.disc.features import FEATURE_SETS
from h1fault.errors import H1FaultError

CLASS_WEIGHTING_MODES = ("inverse", "sqrt", "none")
TRAIN_LABEL_MODES = ("saturation", "onset")
SELECT_METRICS = ("balanced_accuracy", "loss", "calibrated")
LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class DiscConfig:
    """Everything that decides a discriminator training run (dumped to ``params/disc.yaml``)."""

    hidden_size: int = 128
    """GRU hidden units per layer."""
    num_layers: int = 1
    """Stacked GRU layers."""
    chunk_len: int = 64
    """TBPTT chunk length in steps; the hidden state is carried between chunks of one episode."""
    batch_lanes: int = 256
    """Chunks per batch (lanes); each lane plays whole episodes back to back (capped at the
    number of train episodes). Updates per epoch ~ train chunks / lanes, so fewer lanes = more
    updates; more lanes = more samples/s."""
    lr: float = 1e-3
    """AdamW learning rate (peak, see lr_schedule)."""
    lr_schedule: str = "cosine"
    """Per-epoch learning-rate schedule: cosine (down to 5% of lr at the last epoch) or constant."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 disables clipping)."""
    epochs: int = 50
    """Passes over the train split; the val split is scored after each one."""
    class_weighting: str = "sqrt"
    """Cross-entropy class weights from train-split counts: sqrt (1/sqrt n), inverse (1/n), none.
    sqrt by default: full inverse weighting buys fault recall with healthy false alarms."""
    healthy_weight: float = 3.0
    """Extra factor on the healthy class's loss weight (false alarms are expensive)."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing."""
    train_labels: str = "saturation"
    """Fault target from first saturation (before it the cut is unobservable) or from onset."""
    fault_threshold: float = 0.0
    """Decision rule: argmax, but a fault class wins only if its probability >= this (0 = off)."""
    persistence: int = 1
    """Decision rule: declare a fault once the same fault class won this many steps in a row."""
    latch: bool = False
    """Decision rule: keep the first declared fault until the episode ends (else per step)."""
    calibrate: bool = True
    """After training, pick the decision rule on val (as disc calibrate) and store it in best.pt;
    false keeps fault_threshold/persistence/latch above."""
    features: str = "pd"
    """Model inputs: raw (the 88 observations), pd (plus each joint's PD position error and
    torque residual), or phys (policy-invariant: per joint the torque shortfall over its noise
    bound, torque and command over the nominal limit, plus gravity; no gait inputs). All are
    computed inside the model (h1fault.disc.features)."""
    std_floor: float = 1e-2
    """Lower bound on the normalisation std, so near-constant features do not blow up."""
    select_metric: str = "calibrated"
    """Best checkpoint by val balanced accuracy, val loss, or calibrated (identification within
    the window under the best latched rule of a small grid with < 1% healthy-episode alarms)."""
    seed: int = 0
    """Seed for weights init and episode shuffling."""
    device: str = "auto"
    """Torch device: auto (cuda if available), cpu, cuda or cuda:N."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise H1FaultError(f"disc config: {f.name} must be a finite number, got {value}")
        for name in ("weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise H1FaultError(f"disc config: {name} must be >= 0, got {getattr(self, name)}")
        positive = ("hidden_size", "num_layers", "chunk_len", "batch_lanes", "epochs")
        for name in (*positive, "persistence"):
            if getattr(self, name) < 1:
                raise H1FaultError(f"disc config: {name} must be >= 1, got {getattr(self, name)}")
        if self.healthy_weight <= 0:
            raise H1FaultError(
                f"disc config: healthy_weight must be > 0, got {self.healthy_weight}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise H1FaultError(
                f"disc config: label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        if self.lr <= 0:
            raise H1FaultError(f"disc config: lr must be > 0, got {self.lr}")
        if not 0.0 <= self.fault_threshold <= 1.0:
            raise H1FaultError(
                f"disc config: fault_threshold must be in [0, 1], got {self.fault_threshold}"
            )
        if self.std_floor <= 0:
            raise H1FaultError(f"disc config: std_floor must be > 0, got {self.std_floor}")
        for name, allowed in (
            ("class_weighting", CLASS_WEIGHTING_MODES),
            ("train_labels", TRAIN_LABEL_MODES),
            ("select_metric", SELECT_METRICS),
            ("lr_schedule", LR_SCHEDULES),
            ("features", FEATURE_SETS),
        ):
            if getattr(self, name) not in allowed:
                raise H1FaultError(
                    f"disc config: {name} must be one of {', '.join(allowed)}, "
                    f"got '{getattr(self, name)}'"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are a one-line error."""
        return from_dict(cls, data)


def apply_overrides(cfg: DiscConfig, overrides: list[str]) -> DiscConfig:
    """Return ``cfg`` with trailing ``key=value`` words applied (``hidden_size=256``; a
    ``disc.`` prefix is accepted), using the project-wide override rules of
    :mod:`h1fault.config`."""
    return apply_config_overrides(cfg, [o.removeprefix("disc.") for o in overrides])
