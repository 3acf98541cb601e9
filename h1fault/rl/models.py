"""skrl models: a Gaussian MLP policy and an MLP value function, plus the deployable actor."""

from __future__ import annotations

import gymnasium
import torch
from torch import nn

from h1fault.dist import import_skrl
from h1fault.errors import H1FaultError

import_skrl()  # under torchrun skrl would otherwise start NCCL on import (see h1fault.dist)
from skrl.models.torch import DeterministicMixin, GaussianMixin, Model  # noqa: E402

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


class Policy(GaussianMixin, Model):
    """Gaussian policy: obs (N, 69) -> mean actions (N, 19), state-independent log std."""

    def __init__(
        self,
        observation_space: gymnasium.Space,
        action_space: gymnasium.Space,
        device: torch.device,
        hidden: tuple[int, ...],
        activation: str,
        initial_log_std: float,
    ) -> None:
        Model.__init__(
            self, observation_space=observation_space, action_space=action_space, device=device
        )
        GaussianMixin.__init__(self, clip_actions=False, clip_log_std=True, min_log_std=-20.0,
                               max_log_std=2.0, reduction="sum")  # fmt: skip
        self.net = mlp(self.num_observations, hidden, self.num_actions, activation)
        self.log_std_parameter = nn.Parameter(torch.full((self.num_actions,), initial_log_std))

    def compute(self, inputs, role=""):
        return self.net(inputs["observations"]), {"log_std": self.log_std_parameter}


class Value(DeterministicMixin, Model):
    """Value function: obs (N, 69) -> value (N, 1)."""

    def __init__(
        self,
        observation_space: gymnasium.Space,
        action_space: gymnasium.Space,
        device: torch.device,
        hidden: tuple[int, ...],
        activation: str,
    ) -> None:
        Model.__init__(
            self, observation_space=observation_space, action_space=action_space, device=device
        )
        DeterministicMixin.__init__(self, clip_actions=False)
        self.net = mlp(self.num_observations, hidden, 1, activation)

    def compute(self, inputs, role=""):
        return self.net(inputs["observations"]), {}
