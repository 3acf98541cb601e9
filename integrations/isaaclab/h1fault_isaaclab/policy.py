"""Deterministic actors for Isaac Lab tasks: skrl agent checkpoints, or a seeded random MLP.

skrl agent checkpoints (``logs/skrl/<exp>/<run>/checkpoints/agent_<t>.pt`` or ``best_agent.pt``)
are dicts of state dicts, read with ``torch.load(..., weights_only=True)`` (no code runs). The
actor is the ``policy`` entry: the model instantiator's ``<name>_container.<i>`` Linear layers
(ELU between them, Isaac Lab's skrl configs) and its ``policy_layer`` (shared model) or
``output_layer`` (separate model); an ``observation_preprocessor`` / ``state_preprocessor``
(RunningStandardScaler) is applied first. The action is the Gaussian mean.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from h1fault.errors import H1FaultError

OUTPUT_LAYERS = ("policy_layer", "output_layer")


class Actor(nn.Module):
    """obs (N, num_obs) float32 -> actions (N, num_actions) float32, deterministic."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ELU())
        self.net = nn.Sequential(*layers)
        self.register_buffer("obs_mean", torch.zeros(sizes[0]))
        self.register_buffer("obs_std", torch.ones(sizes[0]))
        self.clip = 5.0

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = ((obs - self.obs_mean) / (self.obs_std + 1e-8)).clamp(-self.clip, self.clip)
        return self.net(x)


def random_actor(num_obs: int, num_actions: int, seed: int = 0) -> Actor:
    """Isaac Lab's H1 skrl actor shape (128-128-128, ELU), seeded init, small output layer."""
    gen = torch.manual_seed(seed)
    actor = Actor([num_obs, 128, 128, 128, num_actions])
    with torch.no_grad():
        for m in actor.net:
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight, generator=gen)
                m.bias.zero_()
        actor.net[-1].weight.mul_(0.01)  # near-default pose, as a fresh PPO actor
    return actor.eval()


def load_skrl_actor(path: str | Path, num_obs: int, num_actions: int) -> Actor:
    """The deterministic actor of a skrl agent checkpoint; one-line errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise H1FaultError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise H1FaultError(f"cannot read checkpoint {path}: {first[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("policy"), dict):
        raise H1FaultError(f"{path} is not a skrl agent checkpoint (no 'policy' state dict)")
    state = data["policy"]
    hidden = sorted(
        (k for k in state if "_container." in k and k.endswith(".weight") and state[k].ndim == 2),
        key=lambda k: (k.split("_container.")[0], int(k.split("_container.")[1].split(".")[0])),
    )
    out = next((f"{n}.weight" for n in OUTPUT_LAYERS if f"{n}.weight" in state), None)
    if not hidden or out is None:
        raise H1FaultError(f"{path}: no skrl MLP actor found (keys: {sorted(state)[:6]} ...)")
    keys = [*hidden, out]
    sizes = [int(state[keys[0]].shape[1])] + [int(state[k].shape[0]) for k in keys]
    if sizes[0] != num_obs or sizes[-1] != num_actions:
        raise H1FaultError(
            f"{path}: actor maps {sizes[0]} obs -> {sizes[-1]} actions, "
            f"the task needs {num_obs} -> {num_actions}"
        )
    actor = Actor(sizes)
    linear = [m for m in actor.net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for m, k in zip(linear, keys, strict=True):
            m.weight.copy_(state[k])
            m.bias.copy_(state[k[: -len("weight")] + "bias"])
    pre = data.get("observation_preprocessor") or data.get("state_preprocessor")
    if isinstance(pre, dict) and "running_mean" in pre:
        actor.obs_mean.copy_(pre["running_mean"].float())
        actor.obs_std.copy_(pre["running_variance"].float().sqrt())
    return actor.eval()
