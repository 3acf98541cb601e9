"""The GRU fault discriminator: which joint (if any) has lost torque, from 88-dim observations.

Python API (the CLI ``h1fault disc train|calibrate|eval|export`` is a thin layer over it)::

    from h1fault.disc import DiscConfig, train, calibrate, evaluate, export, load_checkpoint
    result = train("ds.h5", DiscConfig(epochs=20), experiment="h1")   # best.pt: rule picked on val
    report = evaluate(result.best_checkpoint, "ds.h5", split="test")
    net, meta = load_checkpoint(result.best_checkpoint)
    disc = StreamingDiscriminator(net, num_envs=4096, device="cuda", rule=meta.rule)
    probs = disc.step(obs, episode_start)      # (N, 88), (N,) bool -> (N, C)
    declared = disc.decide(probs, episode_start)   # (N,) int64, 0 = healthy

Either detector kind (GRU checkpoint or the physics-residual JSON; None = the shipped residual)::

    det = load_detector(None, device="cuda")
    declared, scores = det.streaming(4096).step_decision(obs, episode_start)
"""

from h1fault.disc.calibrate import calibrate
from h1fault.disc.checkpoint import DiscMeta, load_checkpoint, save_checkpoint
from h1fault.disc.config import DiscConfig
from h1fault.disc.dataset import ClassSpec, DiscDataset, SplitData
from h1fault.disc.decision import DecisionRule
from h1fault.disc.detector import LoadedDetector, default_detector_path, load_any, load_detector
from h1fault.disc.eval import evaluate
from h1fault.disc.export import export
from h1fault.disc.model import DiscriminatorNet, StreamingDiscriminator, StreamingStep, decide
from h1fault.disc.residual import ResidualDetector, ResidualParams
from h1fault.disc.train import TrainResult, train

__all__ = [
    "ClassSpec",
    "DecisionRule",
    "DiscConfig",
    "DiscDataset",
    "DiscMeta",
    "DiscriminatorNet",
    "LoadedDetector",
    "ResidualDetector",
    "ResidualParams",
    "SplitData",
    "StreamingDiscriminator",
    "StreamingStep",
    "TrainResult",
    "calibrate",
    "decide",
    "default_detector_path",
    "evaluate",
    "export",
    "load_any",
    "load_checkpoint",
    "load_detector",
    "save_checkpoint",
    "train",
]
