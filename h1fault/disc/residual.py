"""The physics-residual fault detector: no learning, the same streaming API as the GRU.

Every joint of the H1 is a MuJoCo position actuator, so the torque it was *asked* for can be
rebuilt from the observation row itself (model joint order; blocks of the 88: ``q_rel`` 12-30,
``qd`` 31-49, last action 50-68, reported torque 69-87)::

    target = clamp(default + action_scale * action, lower, upper)
    q_sub  = default + q_rel - h * qd          # the position at the start of the last substep
    cmd    = kp * (target - q_sub) - kv * qd    # what the actuator commanded in that substep

The reported torque is what MuJoCo applied after clamping at the joint's (possibly cut) limit.
A joint whose limit was cut falls short of its command once the command exceeds the new limit::

    shortfall = sign(cmd) * (cmd - tau)                       # > 0: less torque than asked for
    z = shortfall / bound    where |tau| < gate * nominal_limit, else 0
    bound = kp * noise_q + kv * noise_qd (+ kp * h * noise_qd) + torque-sensor error bound

``bound`` is the largest shortfall observation noise alone can produce (uniform noise of
``ObsNoiseConfig`` and ``TorqueSensorConfig``), so ``z > 1`` cannot be noise. The gate excludes a
healthy joint pushing at its *nominal* limit (it falls short too). ``z`` is smoothed per joint by
an exponential moving average (weight ``smoothing`` on the newest row; 1 = none), the state
zeroed at each episode start. The score of fault class ``k`` is ``m / (1 + m)`` with ``m`` the
joint's smoothed ``max(z, 0)`` (in [0, 1), monotone in ``z``), the healthy class scores a constant
``HEALTHY_SCORE``; the decision rule of :mod:`h1fault.disc.decision` (threshold, persistence,
latch) then runs on these scores exactly as on GRU probabilities: a threshold ``p`` means
``z >= p / (1 - p)``.

Constants (gains, default pose, joint range, nominal limits, action scale, noise bounds) are read
from the MuJoCo model and the env config; ``gate`` and ``smoothing`` and the rule are picked on a
val split by :func:`calibrate_residual` (``h1fault disc calibrate residual DATASET``). The
detector is saved as a small JSON file (:func:`save_residual`), never pickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from h1fault.disc.decision import DecisionRule, DecisionStep
from h1fault.disc.features import noise_bound
from h1fault.disc.h1_constants import pd_constants
from h1fault.disc.meta import DiscMeta
from h1fault.errors import H1FaultError

RESIDUAL_FORMAT = "h1fault-residual"
RESIDUAL_FORMAT_VERSION = 1
HEALTHY_SCORE = 1e-3
"""Score of the healthy class: any fault score above it wins the argmax (the rule's threshold
then decides)."""
NUM_JOINTS = 19


@dataclass(frozen=True)
class ResidualParams:
    """What the residual detector computes with (JSON-able; per-joint lists in model order)."""

    kp: tuple[float, ...]
    """Position gain per actuator (N·m/rad)."""
    kv: tuple[float, ...]
    """Velocity gain per actuator (N·m·s/rad)."""
    default: tuple[float, ...]
    """Default joint pose (rad)."""
    lower: tuple[float, ...]
    """Joint range lower end (rad): joint targets are clamped to it."""
    upper: tuple[float, ...]
    """Joint range upper end (rad)."""
    limit: tuple[float, ...]
    """Nominal torque limits (N·m)."""
    action_scale: float = 0.5
    """Joint target = default + action_scale * action (EnvConfig.action_scale)."""
    substep_dt: float = 0.004
    """Physics substep (s): the reported torque is the last substep's, computed at its start."""
    noise_q: float = 0.01
    """Joint position observation noise amplitude (rad, ObsNoiseConfig.joint_pos)."""
    noise_qd: float = 1.5
    """Joint velocity observation noise amplitude (rad/s, ObsNoiseConfig.joint_vel)."""
    torque_error: tuple[float, ...] = ()
    """Torque-sensor error bound per joint independent of the torque (N·m; noise + bias)."""
    torque_gain: float = 0.0
    """Torque-sensor relative gain error bound (TorqueSensorConfig.gain)."""
    gate: float = 0.6
    """A joint counts only while its reported |torque| < gate x nominal limit."""
    smoothing: float = 1.0
    """EMA weight of the newest row's z per joint (1 = no smoothing)."""

    def __post_init__(self) -> None:
        for name in ("kp", "kv", "default", "lower", "upper", "limit", "torque_error"):
            if len(getattr(self, name)) != NUM_JOINTS:
                raise H1FaultError(
                    f"residual params: {name} needs {NUM_JOINTS} values, "
                    f"got {len(getattr(self, name))}"
                )
        if not 0.0 < self.gate <= 2.0:
            raise H1FaultError(f"residual params: gate must be in (0, 2], got {self.gate}")
        if not 0.0 < self.smoothing <= 1.0:
            raise H1FaultError(
                f"residual params: smoothing must be in (0, 1], got {self.smoothing}"
            )

    @classmethod
    def from_model(cls, env_cfg: Any = None, **kw: Any) -> ResidualParams:
        """Constants of the simulated H1 and the noise bounds of ``env_cfg`` (default
        :class:`~h1fault.sim.task.EnvConfig`); ``kw`` overrides fields (gate, smoothing)."""
        from h1fault.sim.task import EnvConfig

        cfg = env_cfg or EnvConfig()
        c = pd_constants(cfg.action_scale)
        nz, ts = cfg.obs_noise, cfg.torque_sensor
        limit = [float(x) for x in c["limit"]]
        t = lambda name: tuple(float(x) for x in c[name])  # noqa: E731
        base = cls(
            kp=t("kp"), kv=t("kd"), default=t("default"), lower=t("lower"), upper=t("upper"),
            limit=tuple(limit), action_scale=float(cfg.action_scale),
            substep_dt=_substep_dt(),
            noise_q=float(nz.joint_pos) if nz.enabled else 0.0,
            noise_qd=float(nz.joint_vel) if nz.enabled else 0.0,
            torque_error=tuple(ts.bound(x) for x in limit),
            torque_gain=float(ts.gain) if ts.enabled else 0.0,
        )  # fmt: skip
        return replace(base, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResidualParams:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise H1FaultError(f"residual params: unknown keys {unknown}")
        kw = {k: tuple(float(x) for x in v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kw)
        except TypeError as exc:
            raise H1FaultError(f"residual params: {exc}") from None


def _substep_dt() -> float:
    from h1fault.sim.model import load_model

    return float(load_model().opt.timestep)


class ResidualDetector(nn.Module):
    """Per-joint normalised torque shortfall ``z`` (see the module docstring) as a module.

    ``z(obs (..., 88)) -> (..., 19)``; ``num_classes``/``class_joints`` select the candidate
    joints, so scores are (N, C) with class 0 healthy, like the GRU's probabilities.
    """

    def __init__(self, params: ResidualParams, class_joints: tuple[int, ...]) -> None:
        super().__init__()
        if not class_joints or class_joints[0] != -1:
            raise H1FaultError("class_joints must start with -1 (healthy)")
        self.params = params
        self.class_joints = tuple(int(j) for j in class_joints)
        self.obs_dim = 88
        self.num_classes = len(self.class_joints)
        p = params

        def buf(name: str, value: Any) -> None:
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))

        buf("kp", p.kp)
        buf("kv", p.kv)
        buf("default", p.default)
        buf("lower", p.lower)
        buf("upper", p.upper)
        buf("limit", p.limit)
        h = p.substep_dt
        err = torch.as_tensor(p.torque_error, dtype=torch.float32)
        buf("bound_base", noise_bound(self.kp, self.kv, h, p.noise_q, p.noise_qd, err))
        self.register_buffer("joints", torch.as_tensor(self.class_joints[1:], dtype=torch.long))
        self.h = float(h)
        self.action_scale = float(p.action_scale)
        self.gain = float(p.torque_gain)
        self.gate = float(p.gate)
        self.smoothing = float(p.smoothing)

    def command(self, obs: torch.Tensor) -> torch.Tensor:
        """Rebuilt actuator command (..., 19) N·m of raw observations (..., 88)."""
        x = obs.float()
        q_rel, qd, act = x[..., 12:31], x[..., 31:50], x[..., 50:69]
        target = torch.minimum(
            torch.maximum(self.default + self.action_scale * act, self.lower), self.upper
        )
        return self.kp * (target - self.default - q_rel + self.h * qd) - self.kv * qd

    def z(self, obs: torch.Tensor) -> torch.Tensor:
        """Gated shortfall in units of the noise bound, per joint. (..., 88) -> (..., 19)."""
        tau = obs[..., 69:88].float()
        cmd = self.command(obs)
        short = torch.sign(cmd) * (cmd - tau)
        bound = self.bound_base + self.gain * tau.abs()
        ok = tau.abs() < self.gate * self.limit
        return torch.where(ok, short / bound, torch.zeros_like(short))

    def make_step(self, rule: DecisionRule | None = None) -> ResidualStep:
        """The stateless streaming step (the host of :class:`StreamingDiscriminator`)."""
        return ResidualStep(self, rule)


class ResidualStep(nn.Module):
    """Same contract as :class:`~h1fault.disc.model.StreamingStep`: ``forward(obs (N, 88),
    episode_start (N,) bool, state (1, N, 19)) -> (scores (N, C), new state)``; the state is the
    per-joint EMA of ``max(z, 0)``."""

    def __init__(self, det: ResidualDetector, rule: DecisionRule | None = None) -> None:
        super().__init__()
        self.det = det
        self.decision = DecisionStep(rule)
        self.obs_dim = 88
        self.alpha = float(det.smoothing)
        self.register_buffer("_joints", det.joints.clone())

    @torch.jit.export
    def initial_state(self, num_envs: int) -> torch.Tensor:
        """Zero EMA state. Shape: (1, num_envs, 19)."""
        return torch.zeros(1, num_envs, NUM_JOINTS, device=self._joints.device)

    @torch.jit.export
    def initial_decision_state(self, num_envs: int) -> torch.Tensor:
        """Zero decision-rule state. Shape: (3, num_envs) int64."""
        return self.decision.initial_state(num_envs, self._joints.device)

    @torch.jit.export
    def decide(
        self, probs: torch.Tensor, episode_start: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Declared class per env (N,) int64 (0 = healthy) and the new rule state (3, N)."""
        return self.decision(probs, episode_start, state)

    def forward(
        self, obs: torch.Tensor, episode_start: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.det.z(obs).clamp(min=0.0)
        keep = torch.logical_not(episode_start).to(z.dtype).unsqueeze(-1)  # (N, 1)
        m = self.alpha * z + (1.0 - self.alpha) * hidden[0] * keep
        fault = m.index_select(1, self._joints)
        scores = torch.cat(
            [torch.full_like(fault[:, :1], HEALTHY_SCORE), fault / (1.0 + fault)], dim=1
        )
        return scores, m.unsqueeze(0)


@torch.no_grad()
def offline_scores(
    det: ResidualDetector,
    obs: torch.Tensor,
    ep_start: Any = None,
    ep_length: Any = None,
    chunk: int = 1 << 18,
) -> torch.Tensor:
    """Scores (S, C) on the CPU of every row of ``obs`` (S, 88) whose episodes are contiguous
    (``ep_start``, ``ep_length``: (E,); needed only with smoothing < 1).

    Without smoothing every row stands alone and this is the streaming computation itself. With
    smoothing the EMA runs per episode in float64 (``scipy.signal.lfilter``): equal to streaming
    up to float32 rounding. Used to score many parameter sets quickly; ``disc eval`` streams.
    """
    import numpy as np

    z_parts = []
    for a in range(0, obs.shape[0], chunk):
        z_parts.append(det.z(obs[a : a + chunk]).clamp(min=0.0).cpu())
    z = torch.cat(z_parts) if z_parts else torch.zeros(0, NUM_JOINTS)
    if det.smoothing != 1.0:
        if ep_start is None or ep_length is None:
            raise H1FaultError("offline scores with smoothing need the episode boundaries")
        from scipy.signal import lfilter

        a = det.smoothing
        zn = z.double().numpy()
        m = np.empty_like(zn)
        for s0, n in zip(
            np.asarray(ep_start).tolist(), np.asarray(ep_length).tolist(), strict=True
        ):
            m[s0 : s0 + n] = lfilter([a], [1.0, a - 1.0], zn[s0 : s0 + n], axis=0)
        z = torch.from_numpy(m).float()
    fault = z.index_select(1, det.joints.cpu())
    return torch.cat([torch.full_like(fault[:, :1], HEALTHY_SCORE), fault / (1.0 + fault)], dim=1)


def z_threshold(p: float) -> float:
    """The z a score threshold ``p`` stands for (``p / (1 - p)``)."""
    return p / (1.0 - p) if p < 1.0 else float("inf")


def score_threshold(z: float) -> float:
    """The score threshold of a z threshold (``z / (1 + z)``), rounded for a readable rule."""
    return round(z / (1.0 + z), 6)


# -- files -----------------------------------------------------------------------------------


def is_residual_file(path: str | Path) -> bool:
    """Whether ``path`` is a residual-detector JSON (by its first byte; never runs code)."""
    try:
        with open(path, "rb") as f:
            return f.read(1) == b"{"
    except OSError:
        return False


def save_residual(
    path: str | Path,
    det: ResidualDetector,
    meta: Any,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the detector (params, classes, rule, calibration) as JSON (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": RESIDUAL_FORMAT,
        "format_version": RESIDUAL_FORMAT_VERSION,
        "params": det.params.to_dict(),
        "class_joints": list(meta.class_joints),
        "class_names": list(meta.class_names),
        "control_dt": meta.control_dt,
        "rule": meta.rule.to_dict(),
        **(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(blob, indent=1) + "\n")
    tmp.replace(path)
    return path


def load_residual(path: str | Path, device: str | torch.device = "cpu") -> tuple[Any, Any]:
    """(ResidualDetector, DiscMeta) of a file written by :func:`save_residual`."""
    path = Path(path)
    if not path.is_file():
        raise H1FaultError(f"detector file not found: {path}")
    try:
        blob = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise H1FaultError(f"{path}: not a readable residual detector ({exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != RESIDUAL_FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise H1FaultError(f"{path}: not a residual detector (format {got!r})")
    if blob.get("format_version") != RESIDUAL_FORMAT_VERSION:
        raise H1FaultError(
            f"{path}: residual format_version {blob.get('format_version')} is not supported"
        )
    missing = [k for k in ("params", "class_joints", "class_names", "rule") if k not in blob]
    if missing:
        raise H1FaultError(f"{path}: residual detector is missing {missing}")
    try:
        params = ResidualParams.from_dict(blob["params"])
        rule = DecisionRule(**blob["rule"])
        joints = tuple(int(j) for j in blob["class_joints"])
        names = tuple(str(n) for n in blob["class_names"])
        if len(joints) != len(names) or joints[:1] != (-1,):
            raise H1FaultError("inconsistent class list")
        if any(not 0 <= j < NUM_JOINTS for j in joints[1:]):
            raise H1FaultError(f"class joints {list(joints[1:])} outside 0..{NUM_JOINTS - 1}")
        det = ResidualDetector(params, joints)
    except (H1FaultError, TypeError, ValueError) as exc:
        raise H1FaultError(f"{path}: {exc}") from None
    skip = {"format", "format_version", "params", "class_joints", "class_names", "rule"}
    meta = DiscMeta(
        obs_dim=88, hidden_size=0, num_layers=0, class_joints=joints, class_names=names,
        control_dt=float(blob.get("control_dt", 0.02)), fault_threshold=rule.fault_threshold,
        train_labels="saturation", persistence=rule.persistence, latch=rule.latch,
        features="residual", extra={k: v for k, v in blob.items() if k not in skip},
    )  # fmt: skip
    return det.to(device).eval(), meta


def for_classes(det: ResidualDetector, meta: Any, classes: Any) -> tuple[Any, Any]:
    """The same detector scoring another candidate-joint list (its physics is per joint, so any
    H1 joint subset works); ``classes``: a :class:`~h1fault.disc.dataset.ClassSpec`."""
    if tuple(classes.joints) == tuple(meta.class_joints):
        return det, meta
    if any(not 0 <= j < NUM_JOINTS for j in classes.joints[1:]):
        raise H1FaultError(f"candidate joints {list(classes.joints[1:])} are not H1 joints")
    new = ResidualDetector(det.params, tuple(classes.joints)).to(det.kp.device).eval()
    return new, replace(meta, class_joints=tuple(classes.joints), class_names=tuple(classes.names))


def new_residual(classes: Any, control_dt: float = 0.02, **kw: Any) -> tuple[Any, Any]:
    """A fresh (uncalibrated) detector for a dataset's classes, constants from the model."""
    det = ResidualDetector(ResidualParams.from_model(**kw), tuple(classes.joints))
    meta = DiscMeta(
        obs_dim=88, hidden_size=0, num_layers=0, class_joints=tuple(classes.joints),
        class_names=tuple(classes.names), control_dt=control_dt, fault_threshold=0.5,
        train_labels="saturation", persistence=2, latch=True, features="residual",
    )  # fmt: skip
    return det, meta
