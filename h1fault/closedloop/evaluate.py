"""``closed-loop``: the deployed loop judged side by side against its alternatives.

Rows (each a :class:`~h1fault.closedloop.controller.Controller`, all on the same seed and the
same fault draws, one episode per env):

- ``healthy``: the healthy policy alone;
- ``robust``: one robust policy, no detector (only when given);
- ``oracle_onset``: switch to the true joint's expert from the first observation after the cut;
- ``oracle_saturation``: switch when the faulted joint's torque first sits at its cut limit;
- ``detector``: switch when the streaming detector's decision rule fires (only when a detector
  is given or shipped).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from h1fault.closedloop.controller import Controller
from h1fault.closedloop.loop import ClosedLoopRun, run_controllers
from h1fault.closedloop.metrics import scale_edges, summarize
from h1fault.closedloop.sources import DetectorFactory, OracleOnset, OracleSaturation
from h1fault.errors import H1FaultError
from h1fault.sim.contract import Policy
from h1fault.sim.model import JOINT_NAMES, joint_index
from h1fault.sim.task import EnvConfig

CONTROLLERS = ("healthy", "robust", "oracle_onset", "oracle_saturation", "detector")
"""Row names, in table order."""
LABELS = {
    "healthy": "healthy policy only",
    "robust": "robust policy, no switch",
    "oracle_onset": "oracle switch at onset",
    "oracle_saturation": "oracle switch at saturation",
    "detector": "detector switch",
}
"""Human names of the rows."""


@contextlib.contextmanager
def _few_threads(device: str, num_envs: int) -> Iterator[None]:
    """One torch thread for small CPU rollouts, restored after: a few envs' matmuls gain
    nothing from intra-op threads, and on a busy machine the threads wait on each other
    (the demo's step: 111 s with 2 threads, 18 s with 1, on 2 cores at load 9)."""
    before = torch.get_num_threads()
    small_cpu = torch.device(device).type == "cpu" and num_envs <= 64
    if small_cpu:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small_cpu:
            torch.set_num_threads(before)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int], Callable[[int], None]] | None]:
    """One rich bar per row on stderr (stdout stays clean for ``--json``)."""
    if not enabled:
        yield None
        return
    from h1fault.console import make_progress

    with make_progress(elapsed=True) as bar:

        def start(name: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(name, total=total)
            return lambda steps: bar.advance(task, steps)

        yield start


def with_forced_fault(cfg: EnvConfig, joint: str, scale: float, onset_s: float) -> EnvConfig:
    """``cfg`` whose fault model cuts ``joint`` to ``scale`` of its limit at ``onset_s`` in every
    episode (videos, single-fault studies); a bad joint, scale or onset is a one-line error."""
    name = JOINT_NAMES[joint_index(joint)]
    if not 0.0 <= scale <= 1.0:
        raise H1FaultError(f"fault scale must be in [0, 1], got {scale}")
    # a window narrower than one control step: the onset is the step at onset_s
    faults = dataclasses.replace(
        cfg.faults, enabled=True, p_fault=1.0, candidates=(name,), scale_range=(scale, scale),
        onset_window_s=(onset_s, onset_s + 1e-3),
    )  # fmt: skip
    faults.validate(cfg.episode_length_s)
    return dataclasses.replace(cfg, faults=faults)


def build_controllers(
    names: Sequence[str],
    policy: Policy,
    bank: nn.Module | None,
    robust: Policy | None = None,
    detector: DetectorFactory | None = None,
) -> Callable[[int, torch.device], list[Controller]]:
    """``make(num_envs, device) -> controllers`` for the rows in ``names`` (a row whose input is
    missing is a one-line error)."""
    unknown = [n for n in names if n not in CONTROLLERS]
    if unknown:
        raise H1FaultError(f"unknown controller(s) {unknown}; choose from {list(CONTROLLERS)}")
    if "robust" in names and robust is None:
        raise H1FaultError("the robust row needs a policy checkpoint (--robust PATH)")
    if "detector" in names and detector is None:
        raise H1FaultError("the detector row needs a detector (--disc PATH): none is shipped")
    if bank is None and any(n.startswith("oracle") or n == "detector" for n in names):
        raise H1FaultError("the switching rows need a policy bank")

    def make(num_envs: int, device: torch.device) -> list[Controller]:
        out = []
        for name in (n for n in CONTROLLERS if n in names):
            base = robust if name == "robust" else policy
            source = {"oracle_onset": OracleOnset, "oracle_saturation": OracleSaturation}.get(name)
            src = source() if source else (detector(num_envs) if name == "detector" else None)
            out.append(Controller(name, base, num_envs, device, bank=bank, source=src))
        return out

    return make


def default_rows(robust: bool, detector: bool) -> tuple[str, ...]:
    """Every row whose input is at hand."""
    return tuple(
        n for n in CONTROLLERS if (n != "robust" or robust) and (n != "detector" or detector)
    )


def closed_loop(
    cfg: EnvConfig,
    policy: Policy,
    bank: nn.Module | None,
    *,
    robust: Policy | None = None,
    detector: DetectorFactory | None = None,
    rows: Sequence[str] | None = None,
    num_envs: int = 8,
    device: str = "cpu",
    backend: str = "auto",
    seed: int = 0,
    trace: Sequence[str] = (),
    trace_env: int = 0,
    show_progress: bool = False,
) -> tuple[dict, ClosedLoopRun]:
    """Run the rows and score them. Returns (report, run): the JSON-able report with one entry
    per row under ``controllers`` (see :func:`~h1fault.closedloop.metrics.summarize`), and the
    raw :class:`ClosedLoopRun` (records; env ``trace_env``'s states under the rows in
    ``trace``, for a video)."""
    rows = tuple(rows) if rows else default_rows(robust is not None, detector is not None)
    make = build_controllers(rows, policy, bank, robust, detector)
    with _progress(show_progress) as progress, _few_threads(device, num_envs):
        run = run_controllers(make, cfg, num_envs, device=device, backend=backend, seed=seed,
                              trace=tuple(trace), trace_env=trace_env,
                              progress=progress)  # fmt: skip
    if not run.identical_fault_draws:  # the loop's premise; never expected
        raise H1FaultError("controllers saw different fault draws for the same seed")
    edges = scale_edges(cfg.faults.scale_range)
    report = {
        "episodes_per_controller": num_envs,
        "seed": seed,
        "device": device,
        "identical_fault_draws": run.identical_fault_draws,
        "bank_joints": [JOINT_NAMES[j] for j in bank.joints] if bank is not None else [],
        "scale_edges": [float(e) for e in edges],
        "controllers": {
            name: {
                "label": LABELS[name],
                **summarize(rec, edges, switches=name not in ("healthy", "robust")),
            }
            for name, rec in run.records.items()
        },  # fmt: skip
    }
    return report, run
