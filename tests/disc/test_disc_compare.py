"""`disc calibrate residual`, and `disc eval` with the baseline and a held-out dataset."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from h1fault.cli import app
from h1fault.disc.compare import JOINT_GROUPS, group_summary
from h1fault.disc.detector import load_detector
from h1fault.sim.model import JOINT_NAMES

runner = CliRunner()


def test_joint_groups_cover_every_candidate_once() -> None:
    grouped = [j for joints in JOINT_GROUPS.values() for j in joints]
    assert sorted(grouped) == sorted(j for j in JOINT_NAMES if "ankle" not in j)


def test_calibrate_residual_cli_writes_a_loadable_detector(tiny_ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.json"
    res = runner.invoke(app, ["disc", "calibrate", "residual", str(tiny_ds), "--device", "cpu",
                              "--out", str(out), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["out"] == str(out) and {"gate", "smoothing"} <= set(rep["params"])
    assert len(rep["params_grid"]) == 12 and rep["certification"]["healthy_episodes"] > 0
    det = load_detector(out)
    assert det.kind == "residual" and det.rule.to_dict() == rep["rule"]
    assert det.model.params.gate == rep["params"]["gate"]
    # re-calibrating from the written file keeps its constants
    res = runner.invoke(app, ["disc", "calibrate", str(out), str(tiny_ds), "--device", "cpu",
                              "--out", str(tmp_path / "again.json"), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output


def test_eval_with_baseline_and_heldout(trained, tiny_ds: Path) -> None:
    res = runner.invoke(app, ["disc", "eval", str(trained.best_checkpoint), str(tiny_ds),
                              "--device", "cpu", "--heldout", str(tiny_ds), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["detector"] == "gru" and rep["baseline"]["detector"] == "residual"
    assert set(rep["comparison"]) == {"model", "baseline", "heldout model", "heldout baseline"}
    # the same data as "held out": the model's numbers repeat exactly
    assert rep["comparison"]["heldout model"] == rep["comparison"]["model"]
    assert group_summary(rep) == rep["comparison"]["model"]
    assert "rule_grid" in rep and "rule_grid" not in rep["heldout"]
    res = runner.invoke(app, ["disc", "eval", str(trained.best_checkpoint), str(tiny_ds),
                              "--device", "cpu", "--heldout", str(tiny_ds)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "healthy eps alarmed" in res.stdout and "hip pitch/knee" in res.stdout


def test_eval_of_a_broken_detector_file_is_one_line(tiny_ds: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "h1fault-residual", "format_version": 1}')
    res = runner.invoke(app, ["disc", "eval", str(bad), str(tiny_ds), "--device", "cpu"])
    assert res.exit_code == 1
    assert res.output.strip().startswith("error:") and len(res.output.strip().splitlines()) == 1
