"""Export round-trip: the saved streaming step matches the Python model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from h1fault.disc import StreamingDiscriminator, load_checkpoint
from h1fault.disc.export import export
from h1fault.errors import H1FaultError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit in torch 2.13


def _stream_inputs(n: int = 5, steps: int = 12):
    gen = torch.Generator().manual_seed(7)
    obs = 3 * torch.randn(steps, n, 88, generator=gen)
    start = torch.rand(steps, n, generator=gen) < 0.2
    start[0] = True
    return obs, start


def test_torchscript_round_trip(trained, tmp_path: Path) -> None:
    res = export(trained.best_checkpoint, tmp_path / "disc.ts", "torchscript")
    assert res["max_abs_diff"] < 1e-6
    files = {"meta.json": ""}
    m = torch.jit.load(str(tmp_path / "disc.ts"), _extra_files=files)
    meta = json.loads(files["meta.json"])
    assert meta["class_names"][0] == "healthy" and meta["obs_dim"] == 88
    net, _ = load_checkpoint(trained.best_checkpoint)
    ref = StreamingDiscriminator(net, 5)
    obs, start = _stream_inputs()
    h = m.initial_state(5)
    for t in range(obs.shape[0]):
        p, h = m(obs[t], start[t], h)
        torch.testing.assert_close(p, ref.step(obs[t], start[t]), atol=1e-6, rtol=0)
    _, ck_meta = load_checkpoint(trained.best_checkpoint)  # best.pt carries the val-picked rule
    assert (meta["persistence"], meta["latch"]) == (ck_meta.persistence, ck_meta.latch)
    assert meta["calibration"]["rule"] == ck_meta.rule.to_dict()


def test_torchscript_carries_the_decision_rule(trained, tmp_path: Path) -> None:
    """A calibrated checkpoint's rule (threshold, persistence, latch) runs inside the export and
    declares exactly what StreamingDiscriminator.step_decision declares."""
    from dataclasses import replace

    from h1fault.disc import save_checkpoint
    from h1fault.disc.decision import DecisionRule

    net, meta = load_checkpoint(trained.best_checkpoint)
    rule = DecisionRule(0.4, 3, latch=True)
    meta = replace(meta, fault_threshold=0.4, persistence=3, latch=True)
    save_checkpoint(tmp_path / "r.pt", net, meta)
    res = export(tmp_path / "r.pt", tmp_path / "r.ts")
    assert res["decision_rule"] == rule.to_dict()
    files = {"meta.json": ""}
    m = torch.jit.load(str(tmp_path / "r.ts"), _extra_files=files)
    assert json.loads(files["meta.json"])["persistence"] == 3
    ref = StreamingDiscriminator(net, 5, rule=rule)
    obs, start = _stream_inputs(steps=30)
    h, s = m.initial_state(5), m.initial_decision_state(5)
    for t in range(obs.shape[0]):
        p, h = m(obs[t], start[t], h)
        d, s = m.decide(p, start[t], s)
        want, _ = ref.step_decision(obs[t], start[t])
        assert torch.equal(d, want)


def test_onnx_missing_is_a_one_line_error(trained, tmp_path: Path) -> None:
    if importlib.util.find_spec("onnx") is not None:
        pytest.skip("onnx is installed")
    with pytest.raises(H1FaultError, match="needs the 'onnx' package"):
        export(trained.best_checkpoint, tmp_path / "disc.onnx", "onnx")


def test_onnx_round_trip(trained, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    res = export(trained.best_checkpoint, tmp_path / "disc.onnx", "onnx")
    assert res["max_abs_diff"] is not None and res["max_abs_diff"] < 1e-5
    sess = ort.InferenceSession(str(tmp_path / "disc.onnx"), providers=["CPUExecutionProvider"])
    net, _ = load_checkpoint(trained.best_checkpoint)
    ref = StreamingDiscriminator(net, 5)
    obs, start = _stream_inputs()
    h = torch.zeros(net.num_layers, 5, net.hidden_size).numpy()
    for t in range(obs.shape[0]):
        p, h = sess.run(
            None, {"obs": obs[t].numpy(), "episode_start": start[t].numpy(), "hidden": h}
        )
        torch.testing.assert_close(
            torch.from_numpy(p), ref.step(obs[t], start[t]), atol=1e-5, rtol=0
        )


def test_unknown_format(trained, tmp_path: Path) -> None:
    with pytest.raises(H1FaultError, match="unknown export format"):
        export(trained.best_checkpoint, tmp_path / "x", "tflite")
