"""Derived input features, computed inside the model so the 88-dim input contract stays.

``features = "raw"``: the 88 observations as they are.

``features = "pd"``: the 88 observations plus, per joint, what the joint's PD controller asked for
and how far the applied torque is from it (38 more inputs). With joint position targets
``target = clamp(default + action_scale * action, lower, upper)`` the controller sees the position
error ``e = target - q`` and commands ``kp * e - kd * qd``, clipped at the nominal limit. A cut
limit shows as the applied torque falling short of that command, so the *torque residual*
``tau - clip(kp * e - kd * qd, -limit, limit)`` is about zero on a healthy joint and large on a
saturated one (up to observation noise and the torque being that of the last physics substep).
Observation layout (model joint order, :mod:`h1fault.sim.observations`): joint positions
relative to default 12-30, joint velocities 31-49, last action 50-68, applied torques 69-87.

The constants (default pose, joint range, kp, kd, nominal limits, action scale) are buffers of the
module, so they travel in checkpoints and exports.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from h1fault.disc.h1_constants import NUM_JOINTS, pd_constants
from h1fault.errors import H1FaultError

FEATURE_SETS = ("raw", "pd", "phys")
"""Values of ``DiscConfig.features``."""
JOINT_POS, JOINT_VEL, LAST_ACTION, TORQUE = 12, 31, 50, 69
"""First column of each per-joint block of the 88 observations."""


def feature_dim(features: str, obs_dim: int = 88) -> int:
    """Width of the model input for a feature set."""
    if features == "raw":
        return obs_dim
    if features == "pd":
        return obs_dim + 2 * NUM_JOINTS
    if features == "phys":
        return 3 * NUM_JOINTS + 3
    raise H1FaultError(f"unknown feature set '{features}' ({', '.join(FEATURE_SETS)})")


class RawFeatures(nn.Module):
    """``features = "raw"``: the observations as float32."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()


class PDFeatures(nn.Module):
    """``features = "pd"``: observations + PD position error (19) + torque residual (19)."""

    def __init__(self, constants: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        for name in ("default", "lower", "upper", "kp", "kd", "limit"):
            value = torch.zeros(NUM_JOINTS) if constants is None else constants[name]
            self.register_buffer(f"pd_{name}", value.float().clone())
        scale = 0.0 if constants is None else float(constants["action_scale"])
        self.register_buffer("pd_action_scale", torch.tensor(scale))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()
        # literal slices (TorchScript cannot read module globals): JOINT_POS, JOINT_VEL,
        # LAST_ACTION, TORQUE + NUM_JOINTS
        q = x[..., 12:31]
        qd = x[..., 31:50]
        act = x[..., 50:69]
        tau = x[..., 69:88]
        target = torch.minimum(
            torch.maximum(self.pd_default + self.pd_action_scale * act, self.pd_lower),
            self.pd_upper,
        )
        err = target - self.pd_default - q
        cmd = self.pd_kp * err - self.pd_kd * qd
        cmd = torch.minimum(torch.maximum(cmd, -self.pd_limit), self.pd_limit)
        return torch.cat([x, err, tau - cmd], dim=-1)


def noise_bound(
    kp: torch.Tensor,
    kv: torch.Tensor,
    h: float,
    noise_q: float,
    noise_qd: float,
    torque_error: torch.Tensor,
) -> torch.Tensor:
    """Largest torque shortfall (N·m per joint) that uniform observation noise (``noise_q`` rad,
    ``noise_qd`` rad/s) and the torque sensor's ``torque_error`` alone can produce in the
    rebuilt command ``kp (target - q + h qd) - kv qd``; floored at 1e-3."""
    return (kp * noise_q + (kv + kp * h) * noise_qd + torque_error).clamp(min=1e-3)


def phys_constants(env_cfg: object = None) -> dict[str, torch.Tensor]:
    """:func:`pd_constants` plus the per-joint noise bound (:func:`noise_bound` with the noise
    settings of ``env_cfg``, default :class:`~h1fault.sim.task.EnvConfig`), the torque sensor's
    gain-error bound and the physics substep."""
    from h1fault.sim.model import load_model
    from h1fault.sim.task import EnvConfig

    cfg = env_cfg or EnvConfig()
    c = pd_constants(cfg.action_scale)
    nz, ts = cfg.obs_noise, cfg.torque_sensor  # type: ignore[attr-defined]
    h = float(load_model().opt.timestep)
    err = torch.tensor([ts.bound(float(x)) for x in c["limit"]])
    q, qd = (nz.joint_pos, nz.joint_vel) if nz.enabled else (0.0, 0.0)
    c["bound"] = noise_bound(c["kp"], c["kd"], h, q, qd, err)
    c["gain"] = torch.tensor(float(ts.gain) if ts.enabled else 0.0)
    c["h"] = torch.tensor(h)
    return c


class PhysFeatures(nn.Module):
    """``features = "phys"``: physics, not gait (60 inputs, no dataset-wide z-scores needed).

    Per joint: the torque shortfall ``sign(cmd) * (cmd - tau)`` in units of its noise bound
    (clamped to +-10), the reported torque over the nominal limit, and the rebuilt command over
    the nominal limit (clamped to +-3); then the projected gravity (3). The command is the
    residual detector's (:mod:`h1fault.disc.residual`). Joint positions, velocities and actions
    enter only through the command: the gait itself is not an input.
    """

    def __init__(self, constants: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        for name in ("default", "lower", "upper", "kp", "kd", "limit", "bound"):
            value = torch.zeros(NUM_JOINTS) if constants is None else constants[name]
            self.register_buffer(f"phys_{name}", value.float().clone())
        for name in ("action_scale", "gain", "h"):
            value = 0.0 if constants is None else float(constants[name])
            self.register_buffer(f"phys_{name}", torch.tensor(value))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()
        q, qd, act, tau = x[..., 12:31], x[..., 31:50], x[..., 50:69], x[..., 69:88]
        target = torch.minimum(
            torch.maximum(self.phys_default + self.phys_action_scale * act, self.phys_lower),
            self.phys_upper,
        )
        cmd = self.phys_kp * (target - self.phys_default - q + self.phys_h * qd) - self.phys_kd * qd
        bound = self.phys_bound + self.phys_gain * tau.abs()
        short = torch.sign(cmd) * (cmd - tau) / bound.clamp(min=1e-3)
        limit = self.phys_limit.clamp(min=1e-3)
        return torch.cat(
            [short.clamp(-10.0, 10.0), tau / limit, (cmd / limit).clamp(-3.0, 3.0), x[..., 6:9]],
            dim=-1,
        )


def make_feature_map(features: str, constants: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The feature module of a feature set. ``constants``: :func:`pd_constants` (``pd``) or
    :func:`phys_constants` (``phys``); None leaves zeros, to be overwritten by a checkpoint's
    state dict."""
    feature_dim(features)  # validates the name
    if features == "pd":
        return PDFeatures(constants)
    if features == "phys":
        return PhysFeatures(constants)
    return RawFeatures()


@torch.no_grad()
def feature_stats(
    fmap: nn.Module, obs: torch.Tensor, first: int, chunk: int = 1 << 18
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (float64 accumulation) of the derived inputs ``first:`` over ``obs`` (S, 88),
    in chunks so a large split never materialises all of them at once."""
    total = s1 = s2 = None
    for a in range(0, obs.shape[0], chunk):
        x = fmap(obs[a : a + chunk])[:, first:].double()
        s1 = x.sum(0) if s1 is None else s1 + x.sum(0)
        s2 = (x * x).sum(0) if s2 is None else s2 + (x * x).sum(0)
        total = x.shape[0] if total is None else total + x.shape[0]
    if not total:
        raise H1FaultError("no samples for the derived-feature statistics")
    mean = s1 / total
    var = (s2 / total - mean * mean).clamp(min=0.0) * total / max(total - 1, 1)
    return mean.cpu().numpy(), var.sqrt().cpu().numpy()
