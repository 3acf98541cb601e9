"""The decision rule (threshold, persistence, latch): hand-made sequences, streaming == offline,
TorchScript, checkpoints, calibration and its pick."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.disc import StreamingDiscriminator, load_checkpoint
from h1fault.disc.calibrate import calibrate
from h1fault.disc.dataset import ClassSpec, SplitData
from h1fault.disc.decision import (
    DecisionRule,
    DecisionStep,
    declare,
    declare_offline,
    run_lengths,
)
from h1fault.disc.eval import evaluate
from h1fault.disc.metrics import evaluate_predictions
from h1fault.disc.model import DiscriminatorNet, StreamingStep
from h1fault.disc.scoring import RuleScorer, pick_rule
from h1fault.disc.streaming import stream_split_decisions
from h1fault.errors import H1FaultError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit in torch 2.13

# Two episodes back to back; B starts while A ends in a run of 2s, which must not carry over.
RAW_A = [0, 2, 2, 0, 2, 2, 2, 2, 1, 1, 1, 2, 2]
RAW_B = [2, 1, 1, 1, 1]
RAW = np.array(RAW_A + RAW_B)
START, LENGTH = np.array([0, len(RAW_A)]), np.array([len(RAW_A), len(RAW_B)])
EXPECTED = {  # (persistence, latch) -> declared A + B
    (1, False): RAW_A + RAW_B,
    (1, True): [0] + [2] * 12 + [2] * 5,
    (3, False): [0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 1, 0, 0] + [0, 0, 0, 1, 1],
    (3, True): [0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2] + [0, 0, 0, 1, 1],
    (4, False): [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 1],
    (5, True): [0] * 13 + [0] * 5,
}


def _probs(raw: np.ndarray, conf: np.ndarray | float = 0.9, num_classes: int = 3) -> torch.Tensor:
    """Probabilities whose argmax is ``raw`` with probability ``conf`` (rest spread evenly)."""
    conf = np.broadcast_to(np.asarray(conf, dtype=np.float32), raw.shape)
    p = np.repeat(((1 - conf) / (num_classes - 1))[:, None], num_classes, axis=1)
    p[np.arange(len(raw)), raw] = conf
    return torch.from_numpy(p.astype(np.float32))


def _stream_rule(probs: torch.Tensor, start: np.ndarray, rule: DecisionRule) -> np.ndarray:
    """Step DecisionStep through one env, episode_start at ``start`` rows."""
    step = DecisionStep(rule)
    state = step.initial_state(1, torch.device("cpu"))
    first = np.zeros(len(probs), dtype=bool)
    first[start] = True
    out = []
    for t in range(len(probs)):
        d, state = step(probs[t : t + 1], torch.tensor([bool(first[t])]), state)
        out.append(int(d))
    return np.array(out)


def test_run_lengths_restart_at_episode_starts() -> None:
    runs = run_lengths(RAW, START, LENGTH)
    assert runs.tolist() == [1, 1, 2, 1, 1, 2, 3, 4, 1, 2, 3, 1, 2] + [1, 1, 2, 3, 4]


@pytest.mark.parametrize(("k", "latch"), list(EXPECTED))
def test_hand_made_sequences(k: int, latch: bool) -> None:
    want = EXPECTED[(k, latch)]
    assert declare_offline(RAW, START, LENGTH, k, latch).tolist() == want
    assert _stream_rule(_probs(RAW), START, DecisionRule(0.0, k, latch)).tolist() == want


def test_threshold_breaks_runs() -> None:
    """A fault step below the threshold is a healthy raw decision and restarts the run."""
    raw = np.array([1, 1, 1, 1, 1, 1])
    conf = np.array([0.95, 0.95, 0.6, 0.95, 0.95, 0.95])
    probs = _probs(raw, conf)
    start, length = np.array([0]), np.array([6])
    for latch in (False, True):
        rule = DecisionRule(0.9, 3, latch)
        want = [0, 0, 0, 0, 0, 1]
        assert declare(probs, start, length, rule).tolist() == want
        assert _stream_rule(probs, start, rule).tolist() == want
    assert declare(probs, start, length, DecisionRule(0.5, 3)).tolist() == [0, 0, 1, 1, 1, 1]


def test_streaming_equals_offline_on_random_sequences() -> None:
    """Many envs, random episode lengths, flickering decisions: the streamed rule (through
    StreamingDiscriminator's lanes in eval) equals the offline rule for every rule."""
    rng = np.random.default_rng(0)
    length = rng.integers(1, 40, size=25)
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    n = int(length.sum())
    # sticky random classes: runs of various lengths, sometimes low confidence
    raw = np.zeros(n, dtype=np.int64)
    for t in range(1, n):
        raw[t] = raw[t - 1] if rng.random() < 0.7 else rng.integers(0, 4)
    probs = _probs(raw, rng.uniform(0.3, 1.0, n).astype(np.float32), num_classes=4)
    for rule in (DecisionRule(), DecisionRule(0.6, 2), DecisionRule(0.5, 4, True)):
        want = declare(probs, start, length, rule)
        assert (_stream_rule(probs, start, rule) == want).all(), rule
    # the deployment wrapper keeps one counter per env and resets only the flagged ones
    torch.manual_seed(0)
    net = DiscriminatorNet(88, 4, hidden_size=8)
    split = SplitData(
        name="t",
        obs=3 * torch.randn(n, 88),
        label=np.full(n, -1, dtype=np.int16),
        saturated=np.zeros(n, dtype=bool),
        ep_start=start,
        ep_length=length,
        ep_fault_joint=np.full(len(length), -1),
        ep_onset=np.full(len(length), -1),
        ep_first_saturation=np.full(len(length), -1),
        ep_terminated=np.zeros(len(length), dtype=bool),
    )
    for rule in (DecisionRule(0.0, 3), DecisionRule(0.3, 2, True)):
        probs_s, dec = stream_split_decisions(net, split, rule, num_envs=4)  # 25 eps on 4 lanes
        assert (dec.numpy() == declare(probs_s, start, length, rule)).all()


def test_streaming_discriminator_step_decision() -> None:
    torch.manual_seed(1)
    net = DiscriminatorNet(88, 3, hidden_size=8)
    rule = DecisionRule(0.0, 2, latch=True)
    disc = StreamingDiscriminator(net, 2, rule=rule)
    first = torch.tensor([True, True])
    dec, probs = disc.step_decision(torch.randn(2, 88), first)
    assert dec.shape == (2,) and probs.shape == (2, 3) and disc.decision_state.shape == (3, 2)
    disc.decision_state[:] = torch.tensor([[1, 2], [5, 5], [1, 2]])  # both envs latched
    dec = disc.decide(torch.tensor([[0.9, 0.05, 0.05]] * 2), torch.tensor([False, True]))
    assert dec.tolist() == [1, 0]  # env 0 stays latched; env 1 was reset by episode_start
    disc.reset()
    assert not disc.decision_state.any()


def test_torchscript_decide_matches(tmp_path: Path) -> None:
    torch.manual_seed(2)
    rule = DecisionRule(0.5, 3, latch=True)
    step = StreamingStep(DiscriminatorNet(88, 3, hidden_size=8), rule)
    scripted = torch.jit.script(step)
    scripted.save(str(tmp_path / "d.ts"))
    m = torch.jit.load(str(tmp_path / "d.ts"))
    probs = _probs(RAW, 0.8)
    first = np.zeros(len(RAW), dtype=bool)
    first[START] = True
    state = m.initial_decision_state(1)
    got = []
    for t in range(len(RAW)):
        d, state = m.decide(probs[t : t + 1], torch.tensor([bool(first[t])]), state)
        got.append(int(d))
    assert got == EXPECTED[(3, True)]


def test_rule_validation() -> None:
    with pytest.raises(H1FaultError, match="persistence must be an integer >= 1"):
        DecisionRule(0.0, 0)
    with pytest.raises(H1FaultError, match=r"fault threshold must be in \[0, 1\]"):
        DecisionRule(1.5, 1)
    assert DecisionRule(0.9, 5, True).describe() == "p >= 0.9 for 5 steps, latched"


CLASSES = ClassSpec(joints=(-1, 3, 7), names=("healthy", "j3", "j7"))


def _hand_split() -> SplitData:
    """Five episodes: healthy (quiet), healthy (2-step blip), j3 saturating at 3, j7 at 2,
    j3 never saturating; onsets 1, 1, 2."""
    lengths = [10, 10, 12, 12, 8]
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    fault = np.array([-1, -1, 3, 7, 3])
    onset = np.array([-1, -1, 1, 1, 2])
    sat = np.array([-1, -1, 3, 2, -1])
    label = np.concatenate(
        [
            np.where((f >= 0) & (np.arange(n) >= o), f, -1)
            for f, o, n in zip(fault, onset, lengths, strict=True)
        ]
    )
    n = int(sum(lengths))
    return SplitData(
        name="val",
        obs=torch.zeros(n, 88),
        label=label.astype(np.int16),
        saturated=np.zeros(n, dtype=bool),
        ep_start=start,
        ep_length=np.array(lengths),
        ep_fault_joint=fault,
        ep_onset=onset,
        ep_first_saturation=sat,
        ep_terminated=np.zeros(5, dtype=bool),
    )


HAND_RAW = np.array(
    [0] * 10
    + [0, 0, 0, 2, 2, 0, 0, 0, 0, 0]  # blip of 2 steps
    + [0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1]  # j3 from 4, one dip at 8
    + [0, 0, 0, 0, 2, 2, 1, 2, 2, 2, 2, 2]  # j7 from 4, one wrong step at 6
    + [0] * 8
)


def test_scorer_equals_eval_metrics_and_pick() -> None:
    split = _hand_split()
    probs = _probs(HAND_RAW, 0.9)
    scorer = RuleScorer(probs, split, CLASSES, control_dt=0.1, window_s=0.5)
    rows = scorer.grid([0.0, 0.95], [1, 2, 3], [False, True])
    assert len(rows) == 12
    for row in rows:
        rule = DecisionRule(row["fault_threshold"], row["persistence"], row["latch"])
        pred = declare(probs, split.ep_start, split.ep_length, rule)
        rep, _ = evaluate_predictions(pred, split, CLASSES, control_dt=0.1, window_s=0.5)
        fa, det = rep["false_alarms"], rep["detection"]["overall"]
        assert row["healthy_episode_false_alarm_rate"] == fa["healthy_episode_rate"]
        assert row["healthy_step_false_alarm_rate"] == fa["healthy_step_rate"]
        assert row["alarms_per_healthy_hour"] == fa["alarms_per_healthy_hour"]
        assert row["pooled_false_alarm_rate"] == fa["pooled_false_alarm_rate"]
        for key in (
            "identified_within_window_of_saturation",
            "latency_from_saturation_median_s",
            "latency_from_saturation_p90_s",
            "detected_rate_saturating",
            "final_wrong_joint_rate",
        ):
            assert row[key] == det[key], (rule, key)
    by = {(r["fault_threshold"], r["persistence"], r["latch"]): r for r in rows}
    # per step, k=1: blip alarms; dips break "stays right": j3 from 9 (sat 3: +6 > 5 steps),
    # j7 from 7 (sat 2: +5) -> 1/2 identified
    r = by[(0.0, 1, False)]
    assert (r["healthy_episode_false_alarm_rate"], r["identified_within_window_of_saturation"]) == (
        0.5,
        0.5,
    )
    # k=3 latched: no blip alarm; j3 declared at 6 (+3), j7 at 6? no: run 4,5 then wrong at 6,
    # so j7 at 9 (+7) -> 1/2; k=2 latched: j7 declared at 5 (+3), j3 at 5 (+2) -> 2/2, but the
    # blip (2 steps) alarms
    assert by[(0.0, 3, True)]["healthy_episode_false_alarm_rate"] == 0.0
    # pooled: 24 healthy steps (10 + 10 + 1 + 1 + 2) = 2 episodes of 12 steps; 1 blip onset
    assert by[(0.0, 1, False)]["pooled_false_alarm_rate"] == 0.5
    assert by[(0.0, 3, True)]["identified_within_window_of_saturation"] == 0.5
    assert by[(0.0, 2, True)]["identified_within_window_of_saturation"] == 1.0
    assert by[(0.0, 2, True)]["healthy_episode_false_alarm_rate"] == 0.5
    assert by[(0.95, 1, False)]["identified_within_window_of_saturation"] == 0.0  # all < 0.95
    best, ok = pick_rule(rows, fa_target=0.01)
    assert ok and (best["persistence"], best["latch"]) == (3, True)
    assert best["fault_threshold"] == 0.0
    # an alarm before an onset (pooled) makes a rule infeasible too
    pre = dict(by[(0.0, 3, True)], pooled_false_alarm_rate=0.5)
    best2, ok = pick_rule([pre, by[(0.95, 1, False)]], fa_target=0.01)
    assert ok and best2["fault_threshold"] == 0.95
    # nothing feasible: the fewest false alarms, flagged
    worst, ok = pick_rule([by[(0.0, 1, False)], by[(0.0, 2, True)]], fa_target=0.01)
    assert not ok and worst["healthy_episode_false_alarm_rate"] == 0.5


def test_calibrate_writes_rule_and_eval_uses_it(trained, tiny_ds, tmp_path: Path) -> None:
    out = tmp_path / "calibrated.pt"
    rep = calibrate(
        trained.best_checkpoint, tiny_ds, device="cpu", out=out, progress=False,
        thresholds=[0.0, 0.9], persistences=[1, 3], latches=[False, True],
    )  # fmt: skip
    assert len(rep["grid"]) == 8 and rep["split"] == "val"
    assert set(rep["best_per_latch_mode"]) == {"per_step", "latched"}
    _, meta = load_checkpoint(out)
    assert meta.rule.to_dict() == rep["rule"]
    assert meta.extra["calibration"]["pick"] == rep["pick"]
    blob = torch.load(out, weights_only=True)  # still plain data
    assert blob["meta"]["persistence"] == rep["rule"]["persistence"]
    ev = evaluate(out, tiny_ds, device="cpu", progress=False)
    assert ev["decision_rule"]["persistence"] == rep["rule"]["persistence"]
    assert {"threshold_sweep", "rule_grid"} <= set(ev)
    assert all(r["persistence"] == rep["rule"]["persistence"] for r in ev["threshold_sweep"])
    picked = evaluate(trained.best_checkpoint, tiny_ds, device="cpu", pick_on="val", progress=False)
    assert picked["calibration"]["split"] == "val"
    with pytest.raises(H1FaultError, match="tunes on it"):
        evaluate(trained.best_checkpoint, tiny_ds, device="cpu", pick_on="test", progress=False)


def test_old_checkpoint_without_rule_loads(trained, tmp_path: Path) -> None:
    """A checkpoint from before persistence/latch/features (a raw-input net) still loads."""
    from dataclasses import replace

    from h1fault.disc import save_checkpoint

    _, meta = load_checkpoint(trained.best_checkpoint)
    raw_meta = replace(meta, features="raw", hidden_size=8, persistence=1, latch=False)
    save_checkpoint(tmp_path / "raw.pt", DiscriminatorNet(88, 5, 8), raw_meta)
    blob = torch.load(tmp_path / "raw.pt", weights_only=True)
    del blob["meta"]["persistence"], blob["meta"]["latch"], blob["meta"]["features"]
    torch.save(blob, tmp_path / "old.pt")
    net, meta = load_checkpoint(tmp_path / "old.pt")
    assert (meta.persistence, meta.latch, meta.features) == (1, False, "raw")
    assert net.input_dim == 88
    blob["meta"]["persistence"] = 0
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(H1FaultError, match="bad decision rule"):
        load_checkpoint(tmp_path / "bad.pt")


def test_calibrate_and_eval_cli(trained, tiny_ds: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cal.pt"
    res = runner.invoke(
        app,
        ["disc", "calibrate", str(trained.best_checkpoint), str(tiny_ds), "--device", "cpu",
         "--out", str(out), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["out"] == str(out) and out.is_file()
    res = runner.invoke(app, ["disc", "calibrate", str(trained.best_checkpoint), str(tiny_ds),
                              "--device", "cpu", "--out", str(tmp_path / "c2.pt")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "picked" in res.stdout
    res = runner.invoke(
        app,
        ["disc", "eval", str(trained.best_checkpoint), str(tiny_ds), "--device", "cpu",
         "--persistence", "3", "--latch", "--threshold", "0", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["decision_rule"] == {
        "fault_threshold": 0.0, "persistence": 3, "latch": True,
        "text": "argmax for 3 steps, latched",
    }  # fmt: skip
    res = runner.invoke(
        app,
        ["disc", "eval", str(trained.best_checkpoint), str(tiny_ds), "--device", "cpu",
         "--pick-on", "val"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "picked on val" in res.stdout
