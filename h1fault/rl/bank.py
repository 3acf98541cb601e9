"""The failure-policy bank: one expert per fault-candidate joint, trained in one PPO run.

Two structures, both trained by ``train-failure`` (``bank.structure=...``) with the same loop:

- ``experts``: K fully separate MLPs (the healthy policy's shape) stored as stacked weights
  (K, out, in) and applied with one batched matmul per layer; each env's row is gathered by its
  group id. No expert's gradient touches another's weights.
- ``conditioned``: one MLP whose input is the 69 observations plus a one-hot of the failed joint
  (K columns); the joints share every weight.

Both warm-start from the healthy policy (every expert, or the conditioned net with zero weights
on the one-hot columns, starts as exactly the healthy policy) and keep a per-joint action std.

The deployable :class:`PolicyBank` holds the healthy policy too: ``bank(obs, joint)`` applies the
healthy policy where ``joint`` is -1 and the expert of ``joint`` elsewhere, so a closed loop needs
one module. Files are read with ``torch.load(weights_only=True)``; metadata is JSON.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from h1fault.errors import H1FaultError
from h1fault.rl.models import _ACTIVATIONS, mlp
from h1fault.rl.policy import DeployedPolicy
from h1fault.sim.model import JOINT_NAMES, NUM_JOINTS
from h1fault.sim.vec_env import NUM_OBS

STRUCTURES = ("experts", "conditioned")
"""Bank structures ``train-failure`` can train (see the module docstring)."""
BANK_FORMAT = "h1fault-policy-bank-v1"
DEFAULT_BANK = "h1_failure_bank.pt"
"""File name of the shipped bank inside ``h1fault/assets``."""


def default_bank_path() -> Path:
    """Path of the shipped failure bank (see its ``.json`` for how it was made)."""
    return Path(str(resources.files("h1fault") / "assets" / DEFAULT_BANK))


class StackedMLP(nn.Module):
    """K MLPs with one shape, applied at once: x (B, in) -> (K, B, out).

    Parameters ``w{i}`` (K, out, in) and ``b{i}`` (K, 1, out) per layer.
    """

    def __init__(
        self, k: int, inputs: int, hidden: tuple[int, ...], outputs: int, activation: str
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise H1FaultError(f"unknown activation '{activation}'")
        self.act = _ACTIVATIONS[activation]()
        dims = [inputs, *hidden, outputs]
        self.num_layers = len(dims) - 1
        for i in range(self.num_layers):
            w = torch.empty(k, dims[i + 1], dims[i])
            for j in range(k):  # nn.Linear's default initialisation, per expert
                nn.init.kaiming_uniform_(w[j], a=5**0.5)
            bound = 1.0 / dims[i] ** 0.5
            self.register_parameter(f"w{i}", nn.Parameter(w))
            self.register_parameter(
                f"b{i}", nn.Parameter(torch.empty(k, 1, dims[i + 1]).uniform_(-bound, bound))
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0)  # (1, B, in): broadcast over the K experts
        for i in range(self.num_layers):
            h = torch.matmul(h, getattr(self, f"w{i}").transpose(1, 2)) + getattr(self, f"b{i}")
            if i < self.num_layers - 1:
                h = self.act(h)
        return h

    def load_from_mlp(self, net: nn.Sequential) -> None:
        """Every expert becomes a copy of ``net`` (an :func:`~h1fault.rl.models.mlp`)."""
        linear = [m for m in net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for i, lin in enumerate(linear):
                getattr(self, f"w{i}").copy_(lin.weight.expand_as(getattr(self, f"w{i}")))
                getattr(self, f"b{i}").copy_(lin.bias.expand_as(getattr(self, f"b{i}")))


class ExpertsActor(nn.Module):
    """K separate Gaussian experts: x (B, 69) normalised, cond (B,) int64 in [0, K) -> (B, 19)."""

    def __init__(
        self, k: int, hidden: tuple[int, ...], activation: str, log_std: float, outputs: int = 19
    ) -> None:
        super().__init__()
        self.k = k
        self.net = StackedMLP(k, NUM_OBS, hidden, outputs, activation)
        self.log_std_parameter = nn.Parameter(torch.full((k, outputs), float(log_std)))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(x)  # (K, B, A)
        rows = torch.arange(x.shape[0], device=x.device)
        return out[_groups(cond, x.shape[0], x.device), rows]

    def log_std(self, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, A) per sample's expert, or (K, A) without ``cond``; clamped like skrl's."""
        ls = self.log_std_parameter.clamp(-20.0, 2.0)
        return ls if cond is None else ls[cond.clamp(min=0)]

    def warm_start(self, healthy: DeployedPolicy) -> None:
        """Every expert becomes the healthy policy."""
        self.net.load_from_mlp(healthy.net)


class ConditionedActor(nn.Module):
    """One MLP over [x, one-hot(cond)]: x (B, 69) normalised, cond (B,) in [0, K) -> (B, 19)."""

    def __init__(
        self, k: int, hidden: tuple[int, ...], activation: str, log_std: float, outputs: int = 19
    ) -> None:
        super().__init__()
        self.k = k
        self.net = mlp(NUM_OBS + k, hidden, outputs, activation)
        self.log_std_parameter = nn.Parameter(torch.full((k, outputs), float(log_std)))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        g = _groups(cond, x.shape[0], x.device)
        return self.net(torch.cat([x, nn.functional.one_hot(g, self.k).to(x.dtype)], dim=1))

    log_std = ExpertsActor.log_std

    def warm_start(self, healthy: DeployedPolicy) -> None:
        """The net becomes the healthy policy: its weights, zeros on the one-hot columns."""
        src = [m for m in healthy.net if isinstance(m, nn.Linear)]
        dst = [m for m in self.net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            dst[0].weight.zero_()
            dst[0].weight[:, :NUM_OBS].copy_(src[0].weight)
            dst[0].bias.copy_(src[0].bias)
            for s, d in zip(src[1:], dst[1:], strict=True):
                d.weight.copy_(s.weight)
                d.bias.copy_(s.bias)


class ConditionedValue(nn.Module):
    """Critic over [x, one-hot(cond)]: x (B, 69) normalised, cond (B,) -> value (B, 1)."""

    def __init__(self, k: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.k = k
        self.net = mlp(NUM_OBS + k, hidden, 1, activation)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        g = _groups(cond, x.shape[0], x.device)
        return self.net(torch.cat([x, nn.functional.one_hot(g, self.k).to(x.dtype)], dim=1))


def _groups(cond: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
    """Group ids (B,) int64 clamped to >= 0 (rows with -1 are computed, then ignored)."""
    if cond is None:
        return torch.zeros(batch, dtype=torch.long, device=device)
    return cond.clamp(min=0)


def make_actor(
    structure: str, k: int, hidden: tuple[int, ...], activation: str, log_std: float
) -> nn.Module:
    """An actor of the named structure for K experts."""
    if structure == "experts":
        return ExpertsActor(k, hidden, activation, log_std)
    if structure == "conditioned":
        return ConditionedActor(k, hidden, activation, log_std)
    raise H1FaultError(f"unknown bank structure '{structure}' (choose {', '.join(STRUCTURES)})")


class PolicyBank(nn.Module):
    """The deployable bank: obs (N, 69) float32, joint (N,) int64 -> actions (N, 19) float32.

    ``joint`` is a model joint index (``h1fault joints``): -1 (no fault known) selects the
    healthy policy, a joint in :attr:`joints` its expert. A joint without an expert falls back to
    the healthy policy (closed loops check coverage with :meth:`covers` up front).
    """

    def __init__(
        self,
        structure: str,
        joints: tuple[int, ...],
        hidden: tuple[int, ...],
        activation: str,
        healthy: DeployedPolicy,
    ) -> None:
        super().__init__()
        self.structure = structure
        self.joints = tuple(int(j) for j in joints)
        """Model joint indices with an expert, in group order."""
        self.hidden, self.activation = tuple(hidden), activation
        self.actor = make_actor(structure, len(self.joints), self.hidden, activation, 0.0)
        self.healthy = healthy
        self.register_buffer("obs_mean", torch.zeros(NUM_OBS))
        self.register_buffer("obs_std", torch.ones(NUM_OBS))
        table = torch.full((NUM_JOINTS,), -1, dtype=torch.long)
        table[list(self.joints)] = torch.arange(len(self.joints))
        self.register_buffer("group_of_joint", table)
        """(19,) int64: expert group of each model joint, -1 without an expert."""
        self.meta: dict = {}

    def covers(self, joints) -> bool:
        """Whether every given model joint index has an expert."""
        return set(int(j) for j in joints) <= set(self.joints)

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, joint: torch.Tensor) -> torch.Tensor:
        group = self.group_of_joint[joint.clamp(min=0)].masked_fill(joint < 0, -1)
        x = ((obs - self.obs_mean) / (self.obs_std + 1e-8)).clamp(-5.0, 5.0)
        expert = self.actor(x, group)
        return torch.where((group >= 0)[:, None], expert, self.healthy(obs))

    def save(self, path: str | Path, meta: dict) -> Path:
        """Write the bank (weights and JSON metadata only)."""
        data = {
            "format": BANK_FORMAT,
            "structure": self.structure,
            "joints": list(self.joints),
            "hidden": list(self.hidden),
            "activation": self.activation,
            "actor": {k: v.cpu() for k, v in self.actor.state_dict().items()},
            "obs_mean": self.obs_mean.cpu(),
            "obs_std": self.obs_std.cpu(),
            "healthy": {k: v.cpu() for k, v in self.healthy.state_dict().items()},
            "healthy_hidden": list(self.healthy.hidden),
            "meta_json": json.dumps(meta),
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(data, tmp)
        tmp.replace(path)
        return path


def bank_from_healthy(healthy: DeployedPolicy, joints, structure: str = "experts") -> PolicyBank:
    """A bank whose every expert is the healthy policy (the warm start of ``train-failure``)."""
    bank = PolicyBank(structure, tuple(joints), healthy.hidden, healthy.activation, healthy)
    bank.actor.warm_start(healthy)
    bank.obs_mean.copy_(healthy.obs_mean)
    bank.obs_std.copy_(healthy.obs_std)
    return bank.to(healthy.obs_mean.device)


def load_bank(
    path: str | Path | None = None, device: str | torch.device = "cpu", require_joints=None
) -> PolicyBank:
    """Load a bank file (default: the shipped bank). One-line :class:`H1FaultError` for a
    missing or unreadable file, another kind of file, wrong shapes, or (with
    ``require_joints``, model joint indices) a bank without an expert for one of them."""
    path = Path(path) if path is not None else default_bank_path()
    if not path.is_file():
        what = "shipped failure bank" if path == default_bank_path() else "bank file"
        raise H1FaultError(f"{what} not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise H1FaultError(
            f"cannot read bank {path} (not a torch file, or not weights-only: {first[:120]})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != BANK_FORMAT:
        raise H1FaultError(f"{path} is not an h1fault policy bank (expected {BANK_FORMAT})")
    try:
        structure, joints = str(data["structure"]), tuple(int(j) for j in data["joints"])
        if structure not in STRUCTURES:
            raise H1FaultError(f"{path}: unknown bank structure '{structure}'")
        if not joints or not all(0 <= j < NUM_JOINTS for j in joints):
            raise H1FaultError(f"{path}: bank joints {list(joints)} are not model joint indices")
        healthy = DeployedPolicy(tuple(int(h) for h in data["healthy_hidden"]),
                                 str(data["activation"]))  # fmt: skip
        healthy.load_state_dict(data["healthy"])
        bank = PolicyBank(structure, joints, tuple(int(h) for h in data["hidden"]),
                          str(data["activation"]), healthy)  # fmt: skip
        bank.actor.load_state_dict(data["actor"])
        bank.obs_mean.copy_(data["obs_mean"])
        bank.obs_std.copy_(data["obs_std"])
        bank.meta = json.loads(data.get("meta_json") or "{}")
    except H1FaultError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise H1FaultError(
            f"{path}: bank weights do not match their stated shape: {first}"
        ) from None
    if require_joints is not None and not bank.covers(require_joints):
        missing = sorted(set(int(j) for j in require_joints) - set(bank.joints))
        raise H1FaultError(
            f"{path}: bank has no expert for {', '.join(JOINT_NAMES[j] for j in missing)}"
        )
    return bank.to(device).eval()
