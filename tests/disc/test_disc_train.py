"""Training: learns the obvious synthetic signal, writes the run dir, weights the classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from h1fault.disc import TrainResult, load_checkpoint
from h1fault.disc.config import DiscConfig, apply_overrides
from h1fault.disc.eval import evaluate
from h1fault.disc.train import class_weights
from h1fault.errors import H1FaultError


def test_training_reaches_high_accuracy(trained: TrainResult, tiny_ds) -> None:
    assert trained.best_val["balanced_accuracy"] >= 0.85
    rep = evaluate(trained.best_checkpoint, tiny_ds, device="cpu", progress=False)
    assert rep["balanced_accuracy"] >= 0.85
    assert rep["detection"]["overall"]["identified_within_window_of_saturation"] >= 0.8
    assert rep["false_alarms"]["healthy_step_rate"] <= 0.15


def test_run_dir_layout(trained: TrainResult) -> None:
    run = trained.run_dir
    assert run.parent.name == "tiny" and run.parent.parent.name != ""
    assert (run / "checkpoints" / "best.pt").is_file()
    assert (run / "checkpoints" / "last.pt").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    params = yaml.safe_load((run / "params" / "disc.yaml").read_text())
    assert params["config"]["hidden_size"] == 32
    assert params["class_weighting"]["mode"] == "sqrt"
    assert len(params["class_weighting"]["weights"]) == 5
    assert params["classes"]["joints"] == [-1, 0, 3, 10, 14]
    assert (run / "params" / "git.txt").read_text().startswith("commit: ")
    assert len(trained.history) == 10 and trained.history[0]["epoch"] == 1
    net, meta = load_checkpoint(trained.best_checkpoint)
    assert meta.extra["epoch"] == trained.best_epoch
    # calibrate=True: the rule picked on val is in best.pt, the grid in params
    assert trained.calibration is not None and trained.calibration["split"] == "val"
    assert meta.rule.to_dict() == trained.calibration["rule"]
    assert meta.extra["calibration"]["pick"] == trained.calibration["pick"]
    grid = yaml.safe_load((run / "params" / "calibration_grid.yaml").read_text())
    assert len(grid) == 220 and {"fault_threshold", "persistence", "latch"} <= set(grid[0])
    _, last = load_checkpoint(trained.last_checkpoint)
    assert last.rule.to_dict() == {"fault_threshold": 0.0, "persistence": 1, "latch": False}
    # the normalisation travels in the checkpoint
    assert net.obs_mean.shape == (net.input_dim,) and (net.obs_std >= 1e-2).all()


def test_class_weights() -> None:
    counts = np.array([800, 100, 100, 0])
    inv = class_weights(counts, "inverse")
    assert inv[3] == 0
    assert inv[1] / inv[0] == pytest.approx(8.0)
    assert (inv * counts).sum() == pytest.approx(counts.sum())  # mean weight per sample is 1
    sq = class_weights(counts, "sqrt")
    assert sq[1] / sq[0] == pytest.approx(np.sqrt(8.0))
    assert (class_weights(counts, "none") == 1).all()


def test_config_overrides() -> None:
    cfg = apply_overrides(DiscConfig(), ["hidden_size=64", "disc.lr=3e-4"])
    assert (cfg.hidden_size, cfg.lr) == (64, 3e-4)
    with pytest.raises(H1FaultError, match="did you mean: hidden_size"):
        apply_overrides(DiscConfig(), ["hiden_size=3"])
    with pytest.raises(H1FaultError, match="expected an integer"):
        apply_overrides(DiscConfig(), ["epochs=many"])
    with pytest.raises(H1FaultError, match="class_weighting must be one of"):
        DiscConfig(class_weighting="balanced")
    with pytest.raises(H1FaultError, match="key=value"):
        apply_overrides(DiscConfig(), ["hidden_size"])
    assert DiscConfig.from_dict(cfg.to_dict()) == cfg


def test_training_is_seeded(tiny_ds, tmp_path) -> None:
    from h1fault.disc.train import train

    cfg = DiscConfig(hidden_size=8, chunk_len=16, batch_lanes=16, epochs=1, device="cpu")
    a = train(tiny_ds, cfg, log_root=tmp_path, progress=False, tensorboard=False)
    b = train(tiny_ds, cfg, log_root=tmp_path, progress=False, tensorboard=False)
    assert a.run_dir != b.run_dir
    na, _ = load_checkpoint(a.last_checkpoint)
    nb, _ = load_checkpoint(b.last_checkpoint)
    for (k, va), vb in zip(na.state_dict().items(), nb.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
