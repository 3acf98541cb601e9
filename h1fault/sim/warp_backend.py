"""mujoco_warp backend: ``nworld = num_envs`` worlds on one Warp device, state as torch views.

Every read-out is a zero-copy float32 torch view of a Warp array, so it is *live*: it changes in
place on the next :meth:`WarpBackend.step` or :meth:`WarpBackend.reset`. Clone a read-out to keep
an old value (the MuJoCo C backend happens to hand out fresh tensors; do not rely on that).

On CUDA the ``substeps`` physics steps of one control step are captured once as a CUDA graph and
replayed; every input the graph reads (``ctrl``, per-world ``actuator_forcerange``, the state) is
written in place, never rebound, so the graph stays valid. On Warp's CPU device the substeps run
as a plain loop (slow to compile, fine for tests).

Stream ordering: Warp's own stream on a CUDA device is a blocking stream, so it is ordered with
torch's default stream. Callers that run torch work on a non-default stream must synchronise it
before :meth:`WarpBackend.step` / :meth:`WarpBackend.reset` and before reading the views.

``warp`` and ``mujoco_warp`` are imported only when this backend is built (optional ``[gpu]``
extra), so CPU users never pay for them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import mujoco
import torch

from h1fault.errors import H1FaultError
from h1fault.sim.backend import PhysicsBackend
from h1fault.sim.warp_compile import PrecompileReport, precompile

_MISSING_WARP = "the warp backend needs mujoco-warp and warp-lang: pip install -e '.[gpu]'"

# Contacts one geom can make against a plane (MuJoCo's plane colliders); unknown types get a
# generous bound. The feet-only H1 collides 6 foot capsules with the floor only.
_PLANE_CONTACTS = {
    int(mujoco.mjtGeom.mjGEOM_SPHERE): 1,
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): 2,
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): 1,
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): 4,
    int(mujoco.mjtGeom.mjGEOM_BOX): 4,
}
_OTHER_CONTACTS = 8


def import_warp() -> tuple[ModuleType, ModuleType]:
    """Import ``warp`` and ``mujoco_warp`` lazily; one-line :class:`H1FaultError` if missing.

    Also lowers Warp's log level so its init banner and per-module compile lines stay off stdout
    (unless the user already chose a log level).
    """
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError as exc:
        raise H1FaultError(_MISSING_WARP) from exc
    if hasattr(wp.config, "log_level"):  # warp >= 1.19 replaced config.quiet by log_level
        if wp.config.log_level == wp.LOG_INFO:  # the default: nobody asked for Warp's chatter
            wp.config.log_level = wp.LOG_WARNING
    else:  # pragma: no cover - older warp
        wp.config.quiet = True
    return wp, mjw


def contact_capacity(model: mujoco.MjModel) -> tuple[int, int]:
    """Upper bounds on contacts and constraint rows in one world of a plane-only-contact model.

    Returns ``(max_contacts, max_constraint_rows)``. Every non-plane geom that can collide is
    assumed to touch only planes (true for the feet-only H1: only the 6 foot capsules collide,
    with the floor). Rows: pyramidal cones use ``2 * (condim - 1)`` rows per contact, elliptic
    ``condim``; plus one row per limited joint, frictional dof and equality (6 rows).
    """
    contacts = 0
    for g in range(model.ngeom):
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE:
            continue
        if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0:
            continue
        contacts += _PLANE_CONTACTS.get(int(model.geom_type[g]), _OTHER_CONTACTS)
    condim = int(model.geom_condim.max()) if model.ngeom else 1
    rows_per_contact = (
        condim if model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC else 2 * (condim - 1)
    )
    rows = (
        contacts * max(rows_per_contact, 1)
        + int(model.jnt_limited.sum())
        + int((model.dof_frictionloss > 0).sum())
        + 6 * model.neq
    )
    return contacts, rows


class WarpBackend(PhysicsBackend):
    """``num_envs`` mujoco_warp worlds sharing one model; per-world torque limits.

    Per-env torque limits live in the model's ``actuator_forcerange``, batched per world
    (``put_model(..., batch_sizes={"actuator_forcerange": num_envs})``), so MuJoCo Warp clamps each
    world's actuator force itself, as the C backend does with its per-env forcerange.

    model: the host model (e.g. :func:`h1fault.sim.model.load_model`); must have a keyframe 0
    (all worlds start there, like :class:`~h1fault.sim.cpu_backend.CpuBackend`).
    device: ``cpu`` (Warp's CPU device) or ``cuda[:N]`` (Warp's ``cuda:N``).
    cuda_graph: capture the substep loop as a CUDA graph (CUDA only; False is for tests).
    compile_workers: threads that compile the step's Warp modules side by side before its first
    run (:mod:`h1fault.sim.warp_compile`); None: one per core; 0: compile lazily, one module
    after the other, at the first launches (Warp's default).
    """

    overflow_bits: int
    """Bits of ``mujoco_warp``'s per-world overflow mask that mark a world unstable: buffer and
    collision overflows. Solver/linesearch iteration limits are excluded: the feet-only model runs
    one solver iteration by design, so those bits are set on every step."""

    def __init__(
        self,
        model: mujoco.MjModel,
        num_envs: int,
        device: torch.device,
        substeps: int,
        *,
        cuda_graph: bool = True,
        compile_workers: int | None = None,
    ) -> None:
        wp, mjw = import_warp()
        self._wp, self._mjw = wp, mjw
        self.model = model
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.substeps = substeps
        if self.device.type == "cuda":
            index = (
                self.device.index if self.device.index is not None else torch.cuda.current_device()
            )
            self.device = torch.device("cuda", index)
            self._wp_device = wp.get_device(f"cuda:{index}")
        elif self.device.type == "cpu":
            self._wp_device = wp.get_device("cpu")
        else:
            raise H1FaultError(f"the warp backend runs on cpu or cuda, not '{self.device}'")

        contacts, rows = contact_capacity(model)
        self.max_contacts_per_env = contacts
        """Contact capacity per world (``naconmax = num_envs * max_contacts_per_env``)."""
        self.max_constraints_per_env = rows
        """Constraint-row capacity per world (``njmax``)."""
        overflow = mjw.OverflowType
        self.overflow_bits = int(overflow.ALL) & ~int(overflow.ITERATIONS | overflow.LS_ITERATIONS)

        with wp.ScopedDevice(self._wp_device):
            self._m = mjw.put_model(model, batch_sizes={"actuator_forcerange": num_envs})
            # We read the per-world overflow mask ourselves (unstable()). In-kernel printf per
            # world per substep would flood stdout (the single solver iteration alone trips
            # ITERATIONS every step). Must be set before any kernel is built: it is a static.
            self._m.opt.warn_overflow = 0
            self._d = mjw.make_data(
                model, nworld=num_envs, naconmax=num_envs * contacts, njmax=rows
            )
        d = self._d
        t = wp.to_torch
        self._qpos = t(d.qpos)
        self._qvel = t(d.qvel)
        self._qacc = t(d.qacc)
        self._qacc_warmstart = t(d.qacc_warmstart)
        self._ctrl = t(d.ctrl)
        self._actuator_force = t(d.actuator_force)
        self._sensordata = t(d.sensordata)
        self._site_xpos = t(d.site_xpos)  # vec3 array -> (num_envs, nsite, 3)
        self._time = t(d.time)
        self._overflow = t(d.overflow)  # int32 bitmask per world
        self._forcerange = t(self._m.actuator_forcerange)  # (num_envs, nu, 2): [lo, hi]

        self._graph: Any = None
        self.precompile_report: PrecompileReport | None = None
        """What the parallel compile did (None when ``compile_workers=0``)."""
        if compile_workers != 0:
            # before _init_state: the dry pass may leave scratch values that the reset overwrites
            self.precompile_report = precompile(
                wp, self._wp_device, self._all_launches, compile_workers
            )
        self._init_state()
        if self.device.type == "cuda" and cuda_graph:
            # Warm-up run compiles and loads every kernel of the substep loop (older drivers
            # cannot load modules inside a capture), so the capture need not force-load all of
            # mujoco_warp's modules. Then start again from the keyframe and capture.
            self._simulate()
            self._init_state()
            capture = wp.ScopedCapture(device=self._wp_device, force_module_load=False)
            with wp.ScopedDevice(self._wp_device), capture:
                self._simulate_launches()
            self._graph = capture.graph

    # -- read-outs ---------------------------------------------------------------------------
    @property
    def qpos(self) -> torch.Tensor:
        return self._qpos

    @property
    def qvel(self) -> torch.Tensor:
        return self._qvel

    @property
    def actuator_force(self) -> torch.Tensor:
        return self._actuator_force

    @property
    def sensordata(self) -> torch.Tensor:
        return self._sensordata

    @property
    def site_xpos(self) -> torch.Tensor:
        return self._site_xpos

    @property
    def overflow(self) -> torch.Tensor:
        """Raw mujoco_warp overflow bitmask of the last step (``mjw.OverflowType``), a view.

        Shape: (num_envs,) int32. Diagnostic only; :meth:`unstable` is the signal to act on.
        Contact overflow is global (one contact buffer for all worlds): it flags every world.
        """
        return self._overflow

    @property
    def torque_limits(self) -> torch.Tensor:
        """Symmetric torque limits MuJoCo Warp clamps each world with (a copy, for tests and logs).

        Shape: (num_envs, nu) float32, N·m.
        """
        return self._forcerange[..., 1].clone()

    def unstable(self) -> torch.Tensor:
        bad = ~torch.isfinite(self._qpos).all(dim=1)
        bad |= ~torch.isfinite(self._qvel).all(dim=1)
        bad |= ~torch.isfinite(self._qacc).all(dim=1)
        bad |= (self._overflow & self.overflow_bits) != 0
        return bad

    # -- control -----------------------------------------------------------------------------
    def set_torque_limits(self, limits: torch.Tensor) -> None:
        if limits.shape != (self.num_envs, self.model.nu):
            raise H1FaultError(
                f"torque limits must have shape ({self.num_envs}, {self.model.nu}), "
                f"got {tuple(limits.shape)}"
            )
        lim = limits.detach().to(self.device, torch.float32)
        # in place: the captured graph reads this very buffer
        self._forcerange[..., 0].copy_(-lim)
        self._forcerange[..., 1].copy_(lim)

    def step(self, ctrl: torch.Tensor) -> None:
        self._ctrl.copy_(ctrl.detach())
        if self._graph is not None:
            self._wp.capture_launch(self._graph)
        else:
            self._simulate()

    def reset(
        self,
        env_mask: torch.Tensor,
        qpos: torch.Tensor,
        qvel: torch.Tensor,
        *,
        forward: bool = True,
    ) -> None:
        mask = env_mask.to(self.device, torch.bool)
        if forward and not bool(mask.any()):
            return
        rows = mask[:, None]
        qpos = qpos.detach().to(self.device, torch.float32)
        qvel = qvel.detach().to(self.device, torch.float32)
        # masked and in place, no host sync: capturable in a CUDA graph when forward is False
        torch.where(rows, qpos, self._qpos, out=self._qpos)
        torch.where(rows, qvel, self._qvel, out=self._qvel)
        torch.where(rows, qpos[:, 7:], self._ctrl, out=self._ctrl)
        # as mj_resetData on the C side: a fresh episode must not warm-start from the old one
        self._qacc_warmstart.masked_fill_(rows, 0.0)
        self._time.masked_fill_(mask, 0.0)
        if not forward:
            # as the C backend after mj_resetData without mj_forward: derived read-outs are zero
            self._overflow.masked_fill_(mask, 0)
            for view in (self._actuator_force, self._sensordata, self._qacc):
                view.masked_fill_(rows, 0.0)
            self._site_xpos.masked_fill_(rows[:, :, None], 0.0)
            return
        # forward runs over every world; keep the other worlds' last-step read-outs as they were
        keep = ~mask
        saved = [
            (view, view.clone())
            for view in (
                self._actuator_force,
                self._sensordata,
                self._site_xpos,
                self._qacc,
                self._overflow,
            )
        ]
        self._overflow.masked_fill_(mask, 0)
        with self._wp.ScopedDevice(self._wp_device):
            self._mjw.forward(self._m, self._d)
        for view, old in saved:
            k = keep.view(-1, *([1] * (view.dim() - 1)))
            view.copy_(torch.where(k, old, view))

    # -- internals ---------------------------------------------------------------------------
    def _init_state(self) -> None:
        """All worlds to keyframe 0 (qpos, qvel, ctrl), derived quantities by forward."""
        with self._wp.ScopedDevice(self._wp_device):
            self._init_launches()

    def _init_launches(self) -> None:
        """The launches of :meth:`_init_state`: reset to keyframe 0, then forward."""
        self._mjw.reset_data_keyframe(self._m, self._d, 0)
        self._mjw.forward(self._m, self._d)

    def _all_launches(self) -> None:
        """Every launch this backend makes: reset to the keyframe, forward, the substep loop."""
        self._init_launches()
        self._simulate_launches()

    def _simulate(self) -> None:
        """Run the substep loop without a graph (CPU, warm-up, or ``cuda_graph=False``)."""
        with self._wp.ScopedDevice(self._wp_device):
            self._simulate_launches()

    def _simulate_launches(self) -> None:
        """The launches of one control step: what the CUDA graph records."""
        self._d.overflow.zero_()  # unstable() reports this control step only, as the C backend
        for _ in range(self.substeps):
            self._mjw.step(self._m, self._d)
