"""h1fault demo --quick: the whole loop runs and leaves every artifact."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from h1fault.cli import app


def test_demo_quick_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    out = Path(summary["out"])
    for name in ("raw.h5", "ds.h5", "stats.png", "plots/confusion_matrix.png"):
        assert (out / name).exists(), name
    assert Path(summary["disc_train"]["checkpoint"]).exists()
    assert summary["stats"]["ok"] is True
    assert summary["rollout"]["faults_injected"] > 0
    assert summary["collect"]["events"] > 0
    loop = summary["closed_loop"]  # step 7 runs once a bank is shipped
    if "skipped" not in loop:
        assert loop["identical_fault_draws"] is True
        assert list(loop["controllers"]) == ["healthy", "oracle_onset", "detector"]
        assert set(loop["controllers"]["healthy"]["per_group"]) == {"knee"}
    # a second demo goes to a new folder, never over the first
    again = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path), "--json"])
    assert again.exit_code == 0
    assert json.loads(again.stdout)["out"] != summary["out"]
