"""Constants of the simulated H1 that physics-based detector inputs use (PD gains, default pose,
joint range, nominal limits), read from the MuJoCo model. Shared by the ``pd``/``phys`` input
features (:mod:`h1fault.disc.features`) and the residual detector (:mod:`h1fault.disc.residual`).
"""

from __future__ import annotations

import numpy as np
import torch

from h1fault.errors import H1FaultError

NUM_JOINTS = 19
"""Actuated joints (model order)."""


def pd_constants(action_scale: float = 0.5) -> dict[str, torch.Tensor]:
    """PD constants of the simulated H1 (MuJoCo position actuators, model joint order)."""
    from h1fault.sim.model import default_joint_pos, load_model, nominal_torque_limits

    m = load_model()
    if m.nu != NUM_JOINTS:
        raise H1FaultError(f"expected {NUM_JOINTS} actuators, the model has {m.nu}")
    joints = m.actuator_trnid[:, 0]
    rng = np.asarray(m.jnt_range[joints], dtype=np.float64)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    return {
        "default": t(default_joint_pos(m)),
        "lower": t(rng[:, 0]),
        "upper": t(rng[:, 1]),
        "kp": t(m.actuator_gainprm[:, 0]),
        "kd": t(-m.actuator_biasprm[:, 2]),
        "limit": t(nominal_torque_limits(m)),
        "action_scale": torch.tensor(float(action_scale)),
    }
