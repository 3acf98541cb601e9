"""``disc export``: the streaming step with its normalisation, as TorchScript or ONNX.

The exported function is stateless; the caller holds the hidden state::

    m = torch.jit.load("disc.ts")                  # or an onnxruntime session on disc.onnx
    h = m.initial_state(num_envs)                  # (L, N, H) zeros
    probs, h = m(obs, episode_start, h)            # obs (N, 88) float32, episode_start (N,) bool
    s = m.initial_decision_state(num_envs)         # (3, N) int64 zeros (TorchScript only)
    declared, s = m.decide(probs, episode_start, s)   # (N,) int64, the checkpoint's rule

``probs`` is (N, C) with class 0 healthy; class names, joint indices and the decision rule
(``fault_threshold``, ``persistence``, ``latch``) are stored beside the weights (TorchScript extra
file ``meta.json``; ONNX metadata key ``h1fault_disc``). The ONNX graph is the probability step
only; its caller applies the rule (:mod:`h1fault.disc.decision`) from the metadata.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch

from h1fault.disc.checkpoint import load_checkpoint
from h1fault.disc.model import StreamingStep
from h1fault.errors import H1FaultError
from h1fault.fileio import atomic_output, check_output_file, write_bytes_atomic

EXPORT_FORMATS = ("torchscript", "onnx")
MAX_EXPORT_DIFF = 1e-4
"""Largest |exported - Python| output accepted by the round-trip check."""


def _check_diff(diff: float | None, out: Path) -> None:
    """The round-trip check; a NaN difference fails it (NaN compares false with everything)."""
    if diff is not None and not (math.isfinite(diff) and diff <= MAX_EXPORT_DIFF):
        raise H1FaultError(
            f"{out}: the export differs from the Python model (max |diff| {diff:.3g} > "
            f"{MAX_EXPORT_DIFF:g}); not written"
        )


def _example_inputs(step: StreamingStep, n: int = 3) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    d = step.obs_dim
    if step.obs_mean.shape[0] >= d:  # raw observations lead the inputs: their own scale
        obs = step.obs_mean[:d] + step.obs_std[:d] * torch.randn(n, d, generator=gen)
    else:  # inputs derived only (features=phys): any plausible scale
        obs = torch.randn(n, d, generator=gen)
    start = torch.tensor([True] + [False] * (n - 1))
    hidden = 0.5 * torch.randn(step.num_layers, n, step.hidden_size, generator=gen)
    return obs, start, hidden


def _meta_json(meta: Any) -> str:
    return json.dumps(
        {
            "format": "h1fault-disc-step",
            "inputs": {
                "obs": "(N, obs_dim) float32",
                "episode_start": "(N,) bool",
                "hidden": "(num_layers, N, hidden_size) float32",
            },
            "outputs": {"probs": "(N, num_classes) float32", "hidden": "(num_layers, N, hidden)"},
            **{k: v for k, v in meta.to_dict().items() if k != "val"},
        }
    )


def export_torchscript(
    checkpoint: str | Path, out: str | Path, force: bool = False
) -> dict[str, Any]:
    """Script the streaming step, check a reloaded copy against the Python model, then write it
    to ``out`` (atomically; an existing ``out`` only with ``force``).

    Returns ``{"path", "format", "max_abs_diff"}``.
    """
    out = check_output_file(out, force)
    net, meta = load_checkpoint(checkpoint)
    step = StreamingStep(net, meta.rule).eval()
    with warnings.catch_warnings():  # torch 2.13 marks TorchScript deprecated; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(step)
        buf = io.BytesIO()  # in memory: a full disk is a Python OSError below, not a C++ abort
        torch.jit.save(scripted, buf, _extra_files={"meta.json": _meta_json(meta)})
        data = buf.getvalue()
        loaded = torch.jit.load(io.BytesIO(data))
    args = _example_inputs(step)
    with torch.no_grad():
        ref_p, ref_h = step(*args)
        got_p, got_h = loaded(*args)
        state = step.initial_decision_state(args[0].shape[0])
        ref_d, ref_s = step.decide(ref_p, args[1], state)
        got_d, got_s = loaded.decide(ref_p, args[1], state)
    diff = max((ref_p - got_p).abs().max().item(), (ref_h - got_h).abs().max().item())
    _check_diff(diff, out)
    if not (torch.equal(ref_d, got_d) and torch.equal(ref_s, got_s)):
        raise H1FaultError(f"{out}: the exported decision rule differs from the Python one")
    write_bytes_atomic(out, data)
    return {
        "path": str(out),
        "format": "torchscript",
        "max_abs_diff": diff,
        "decision_rule": meta.rule.to_dict(),
    }


def export_onnx(checkpoint: str | Path, out: str | Path, force: bool = False) -> dict[str, Any]:
    """Export the streaming step to ONNX (needs the ``onnx`` package; batch size N is dynamic).

    If ``onnxruntime`` is installed the file is run and compared with the Python model
    (``max_abs_diff``), else ``max_abs_diff`` is None.
    """
    if importlib.util.find_spec("onnx") is None:
        raise H1FaultError(
            "ONNX export needs the 'onnx' package (pip install onnx); "
            "TorchScript export works without it"
        )
    import onnx

    out = check_output_file(out, force)
    net, meta = load_checkpoint(checkpoint)
    step = StreamingStep(net).eval()
    args = _example_inputs(step)
    # The torch.export-based exporter needs onnxscript; without it use the TorchScript-based one.
    dynamo = importlib.util.find_spec("onnxscript") is not None
    names = {
        "input_names": ["obs", "episode_start", "hidden"],
        "output_names": ["probs", "hidden_out"],
    }
    if dynamo:
        n = torch.export.Dim("N", min=1, max=1 << 20)
        dyn = {"dynamic_shapes": {"obs": {0: n}, "episode_start": {0: n}, "hidden": {1: n}}}
    else:
        dyn = {
            "dynamic_axes": {
                "obs": {0: "N"},
                "episode_start": {0: "N"},
                "hidden": {1: "N"},
                "probs": {0: "N"},
                "hidden_out": {1: "N"},
            }
        }
    with atomic_output(out) as tmp:  # renamed into place only after the check
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter's notice
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                step, args, str(tmp), dynamo=dynamo, external_data=False, **names, **dyn
            )
        model = onnx.load(str(tmp))
        entry = model.metadata_props.add()
        entry.key, entry.value = "h1fault_disc", _meta_json(meta)
        onnx.save(model, str(tmp))
        diff = None
        if importlib.util.find_spec("onnxruntime") is not None:
            import onnxruntime as ort

            sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            diff = 0.0
            for n_env in (1, 3):  # the batch size must really be dynamic
                a = [x[:n_env] for x in args[:2]] + [args[2][:, :n_env]]
                feeds = {"obs": a[0].numpy(), "episode_start": a[1].numpy(), "hidden": a[2].numpy()}
                got_p, got_h = sess.run(["probs", "hidden_out"], feeds)
                with torch.no_grad():
                    ref_p, ref_h = step(*a)
                diff = max(
                    diff,
                    float(abs(ref_p.numpy() - got_p).max()),
                    float(abs(ref_h.numpy() - got_h).max()),
                )
        _check_diff(diff, out)
    return {"path": str(out), "format": "onnx", "max_abs_diff": diff}


def export(
    checkpoint: str | Path, out: str | Path, fmt: str = "torchscript", force: bool = False
) -> dict[str, Any]:
    """Export in ``fmt`` (torchscript or onnx); an existing ``out`` is replaced only with
    ``force``, and its folder must exist."""
    if fmt == "torchscript":
        return export_torchscript(checkpoint, out, force)
    if fmt == "onnx":
        return export_onnx(checkpoint, out, force)
    raise H1FaultError(f"unknown export format '{fmt}' ({', '.join(EXPORT_FORMATS)})")
