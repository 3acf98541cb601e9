"""Discriminator configuration: one frozen dataclass, defaults are the documentation."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, fields
from typing import Any

from h1fault.errors import H1FaultError

CLASS_WEIGHTING_MODES = ("inverse", "sqrt", "none")
TRAIN_LABEL_MODES = ("saturation", "onset")
SELECT_METRICS = ("balanced_accuracy", "loss")
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
    train_labels: str = "saturation"
    """Fault target from first saturation (before it the cut is unobservable) or from onset."""
    fault_threshold: float = 0.0
    """Decision rule: argmax, but a fault class wins only if its probability >= this (0 = off)."""
    std_floor: float = 1e-2
    """Lower bound on the normalisation std, so near-constant features do not blow up."""
    select_metric: str = "balanced_accuracy"
    """Best checkpoint by val balanced accuracy (higher is better) or val loss (lower)."""
    seed: int = 0
    """Seed for weights init and episode shuffling."""
    device: str = "auto"
    """Torch device: auto (cuda if available), cpu, cuda or cuda:N."""

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "chunk_len", "batch_lanes", "epochs"):
            if getattr(self, name) < 1:
                raise H1FaultError(f"disc config: {name} must be >= 1, got {getattr(self, name)}")
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
        ):
            if getattr(self, name) not in allowed:
                raise H1FaultError(
                    f"disc config: {name} must be one of {', '.join(allowed)}, "
                    f"got '{getattr(self, name)}'"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are a one-line error."""
        return apply_overrides(cls(), dict(data))


def _convert(name: str, value: Any, default: Any) -> Any:
    """Convert an override value (often a string from the command line) to the field's type."""
    kind = type(default)
    if not isinstance(value, str):
        return kind(value) if kind is float and isinstance(value, int) else value
    try:
        if kind is bool:
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
    except ValueError:
        raise H1FaultError(f"disc config: {name} expects {kind.__name__}, got '{value}'") from None
    return value


def apply_overrides(cfg: DiscConfig, overrides: dict[str, Any]) -> DiscConfig:
    """Return ``cfg`` with fields replaced; keys may carry a ``disc.`` prefix."""
    names = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        name = key.removeprefix("disc.")
        if name not in names:
            close = difflib.get_close_matches(name, list(names), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise H1FaultError(f"unknown disc config key '{key}'{hint}")
        changes[name] = _convert(name, value, names[name])
    return dataclasses.replace(cfg, **changes)


def parse_override_args(args: list[str]) -> dict[str, str]:
    """Parse trailing ``key=value`` words (e.g. ``hidden_size=256 disc.lr=3e-4``)."""
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise H1FaultError(f"expected a key=value override, got '{arg}'")
        out[key.strip()] = value.strip()
    return out
