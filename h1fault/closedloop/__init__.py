"""The deployed fault-tolerant loop: healthy policy, streaming detector, policy-bank experts.

Python API (the CLI ``h1fault closed-loop`` is a thin layer over it)::

    from h1fault.closedloop import closed_loop, detector_factory
    from h1fault.rl.bank import load_bank
    from h1fault.rl.policy import load_policy
    report, run = closed_loop(EnvConfig(), load_policy(), load_bank(), num_envs=8,
                              detector=detector_factory("best.pt"))
    report["controllers"]["detector"]["faulted"]["fall_rate"]
"""

from h1fault.closedloop.controller import Controller
from h1fault.closedloop.evaluate import CONTROLLERS, LABELS, closed_loop, with_forced_fault
from h1fault.closedloop.loop import ClosedLoopRun, EpisodeRecord, rollout, run_controllers
from h1fault.closedloop.sources import (
    Detector,
    DetectorSource,
    OracleOnset,
    OracleSaturation,
    SwitchSource,
    detector_factory,
    gru_detector_factory,
)

__all__ = [
    "CONTROLLERS",
    "LABELS",
    "ClosedLoopRun",
    "Controller",
    "Detector",
    "DetectorSource",
    "EpisodeRecord",
    "OracleOnset",
    "OracleSaturation",
    "SwitchSource",
    "closed_loop",
    "detector_factory",
    "gru_detector_factory",
    "rollout",
    "run_controllers",
    "with_forced_fault",
]
