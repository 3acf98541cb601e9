"""Deployable policy: normaliser + actor MLP, loaded from a checkpoint without running its code.

Two checkpoint kinds load here, both with ``torch.load(..., weights_only=True)``:

- skrl agent checkpoints (``checkpoints/agent_<t>.pt`` / ``best_agent.pt``): dict with ``policy``
  and ``observation_preprocessor`` state dicts. The network shape is read off the weights.
- exported policies (``h1fault/assets/h1_walk_policy.pt``): the same two state dicts plus
  metadata, written by :func:`export_policy`.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from h1fault.errors import H1FaultError
from h1fault.rl.models import mlp
from h1fault.sim.observations import NUM_OBS

NUM_ACTIONS = 19
DEFAULT_POLICY = "h1_walk_policy.pt"
"""File name of the shipped healthy walking policy inside ``h1fault/assets``."""


def default_policy_path() -> Path:
    """Path of the shipped healthy walking policy (see its ``.json`` for how it was made)."""
    return Path(str(resources.files("h1fault") / "assets" / DEFAULT_POLICY))


class DeployedPolicy(nn.Module):
    """Deterministic actor: obs (N, 69) float32 -> actions (N, 19) float32 (the Gaussian mean)."""

    def __init__(self, hidden: tuple[int, ...], activation: str = "elu") -> None:
        super().__init__()
        self.net = mlp(NUM_OBS, hidden, NUM_ACTIONS, activation)
        self.register_buffer("obs_mean", torch.zeros(NUM_OBS))
        self.register_buffer("obs_std", torch.ones(NUM_OBS))
        self.clip = 5.0
        self.hidden = hidden
        self.activation = activation

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = ((obs - self.obs_mean) / (self.obs_std + 1e-8)).clamp(-self.clip, self.clip)
        return self.net(x)


def _load_dict(path: Path) -> dict:
    if path.is_dir():
        raise H1FaultError(f"{path} is a directory, expected a policy checkpoint (.pt)")
    if not path.exists():
        raise H1FaultError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise H1FaultError(f"cannot read checkpoint {path}: not a torch.save archive")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's text would advise weights_only=False: never
        raise H1FaultError(
            f"cannot read checkpoint {path}: it holds pickled objects besides tensors and "
            "plain containers, and h1fault never unpickles those"
        ) from None
    except Exception:  # noqa: BLE001 - any other unreadable archive is the same user error
        raise H1FaultError(f"cannot read checkpoint {path}: damaged or truncated archive") from None
    if not isinstance(data, dict) or "policy" not in data:
        raise H1FaultError(f"{path} is not a policy checkpoint (no 'policy' entry)")
    return data


def load_policy(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> DeployedPolicy:
    """Load a policy checkpoint (default: the shipped one) as a :class:`DeployedPolicy`.

    Raises a one-line :class:`H1FaultError` for a missing/corrupt file or one whose network does
    not map 69 observations to 19 actions.
    """
    path = Path(path) if path is not None else default_policy_path()
    data = _load_dict(path)
    state = data["policy"]
    linear = sorted(
        (k for k in state if k.startswith("net.") and k.endswith(".weight")),
        key=lambda k: int(k.split(".")[1]),
    )
    if not linear:
        raise H1FaultError(f"{path}: policy has no MLP weights")
    in_dim = state[linear[0]].shape[1]
    out_dim = state[linear[-1]].shape[0]
    if in_dim != NUM_OBS or out_dim != NUM_ACTIONS:
        raise H1FaultError(
            f"{path}: policy maps {in_dim} obs -> {out_dim} actions, "
            f"this env needs {NUM_OBS} -> {NUM_ACTIONS}"
        )
    hidden = tuple(state[k].shape[0] for k in linear[:-1])
    meta = data.get("meta_json")
    activation = "elu"
    if isinstance(meta, str):
        activation = json.loads(meta).get("activation", "elu")
    policy = DeployedPolicy(hidden, activation)
    policy.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
    pre = data.get("observation_preprocessor") or data.get("state_preprocessor")
    if pre:
        policy.obs_mean.copy_(pre["running_mean"].float())
        policy.obs_std.copy_(pre["running_variance"].float().sqrt())
    return policy.to(device).eval()


def export_policy(checkpoint: str | Path, out: str | Path, meta: dict) -> Path:
    """Write a small deployable copy of a skrl checkpoint (policy + normaliser + metadata)."""
    data = _load_dict(Path(checkpoint))
    small = {
        "policy": data["policy"],
        "observation_preprocessor": data.get("observation_preprocessor") or {},
        "meta_json": json.dumps(meta),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(small, out)
    return out
