"""Torque sensing: what the discriminator observation reports for the applied joint torques.

A real H1 has no joint torque sensors: the torque is estimated from the motor current,
``tau_hat = k_t * gear_ratio * i``. That estimate is wrong in three ways, each modelled here per
joint as a share of the joint's nominal torque limit (``h1fault.sim.model.nominal_torque_limits``):

* **noise** (white, uniform, redrawn every step): current-sensor noise and ADC quantisation;
* **bias** (uniform, drawn per episode): current-sensor offset plus the part of gearbox friction
  the current pays for but the joint does not see;
* **gain** (relative, uniform, drawn per episode): torque constant drift with winding
  temperature and magnet grade, and gear efficiency.

``reported = applied * (1 + gain) + bias + noise``. The simulated torque otherwise repeats the
exact same value step after step while a joint is clamped at its cut limit: a signature no real
sensor gives and one a learned detector would exploit. See :class:`TorqueSensorConfig` for the
default levels and why.

Draws come from the sensor's own ``torch.Generator`` (seeded from the env seed), so turning the
sensor on leaves every other random draw of the env unchanged; all draws are made every step for
every env (no host sync), so the env's CUDA graphs capture them (the generator is registered).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SEED_OFFSET = 0x7042
"""The sensor generator's seed is the env seed plus this (a stream apart from the env's)."""


@dataclass(frozen=True)
class TorqueSensorConfig:
    """Measurement error of the torques in the discriminator observation (current-based estimate).

    Defaults: a current-based estimate on an H1-class actuator (low-ratio planetary gear, field-
    oriented drive) is good to a few percent of its peak torque. Motor-driver current sensing
    resolves ~1 % of full scale with comparable noise; torque constants drift ~5 % over the
    winding's temperature range (NdFeB remanence falls ~0.1 %/K); and gearbox friction, which the
    current pays for but the joint never sees, is a few percent of peak torque in planetary drives.
    Hence 2 % white noise, 3 % bias and 5 % gain error. These are engineering estimates, not a
    Unitree datasheet value (none is published for the estimate's accuracy).
    """

    enabled: bool = True
    """Add measurement error to the reported torques at all (false: the exact applied torques)."""
    noise: float = 0.02
    """White noise, uniform in +-noise x nominal limit, redrawn every step."""
    bias: float = 0.03
    """Offset, uniform in +-bias x nominal limit, drawn per joint at each episode start."""
    gain: float = 0.05
    """Relative scale error, uniform in +-gain, drawn per joint at each episode start."""

    def bound(self, nominal_limit: float, torque: float = 0.0) -> float:
        """Largest |reported - applied| for one joint at ``torque`` N·m (N·m)."""
        if not self.enabled:
            return 0.0
        return (self.noise + self.bias) * nominal_limit + self.gain * abs(torque)


class TorqueSensor:
    """Per-env torque measurement: ``sensor(applied (N, 19), step_in_episode (N,)) -> (N, 19)``.

    The per-episode bias and gain are redrawn for every env whose ``step_in_episode`` is 0 (its
    first observation). All tensors stay on the env's device; no host syncs.
    """

    def __init__(
        self,
        cfg: TorqueSensorConfig,
        nominal_limits: torch.Tensor,
        num_envs: int,
        device: torch.device,
        seed: int,
    ) -> None:
        self.cfg = cfg
        self.limits = nominal_limits.to(device, torch.float32)
        """(19,) nominal torque limits (N·m)."""
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed) + SEED_OFFSET)
        n, j = num_envs, self.limits.shape[0]
        self._shape = (n, j)
        self.bias = torch.zeros(n, j, device=device)
        """(num_envs, 19) current episode's bias (N·m)."""
        self.gain = torch.zeros(n, j, device=device)
        """(num_envs, 19) current episode's relative gain error."""

    def _uniform(self) -> torch.Tensor:
        """(num_envs, 19) uniform in [-1, 1)."""
        u = torch.rand(self._shape, device=self.limits.device, generator=self.generator)
        return 2.0 * u - 1.0

    def __call__(self, applied: torch.Tensor, step_in_episode: torch.Tensor) -> torch.Tensor:
        """Reported torques (num_envs, 19) for the applied ones (num_envs, 19)."""
        c = self.cfg
        new = (step_in_episode == 0)[:, None]
        # always drawn, used where an episode starts: the stream never depends on resets
        self.bias.copy_(torch.where(new, c.bias * self.limits * self._uniform(), self.bias))
        self.gain.copy_(torch.where(new, c.gain * self._uniform(), self.gain))
        noise = c.noise * self.limits * self._uniform()
        return applied * (1.0 + self.gain) + self.bias + noise
