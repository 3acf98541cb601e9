"""The MLP every network of h1fault is built from (policy, value function, bank experts).

Layer names follow ``nn.Sequential`` (``net.0.weight``, ...), as skrl's MLP models name them, so
weights move between our checkpoints and skrl's."""

from __future__ import annotations

from torch import nn

from h1fault.errors import H1FaultError

_ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(inputs: int, hidden: tuple[int, ...], outputs: int, activation: str) -> nn.Sequential:
    """inputs -> hidden... -> outputs MLP with the named hidden activation."""
    if activation not in _ACTIVATIONS:
        raise H1FaultError(f"unknown activation '{activation}' (choose {', '.join(_ACTIVATIONS)})")
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(inputs, width), _ACTIVATIONS[activation]()]
        inputs = width
    layers.append(nn.Linear(inputs, outputs))
    return nn.Sequential(*layers)
