"""CLI layer for the disc commands (thin: parse, call h1fault.disc, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from h1fault.cli_common import (
    ForceOpt,
    JsonOpt,
    console,
    err_console,
    friendly_errors,
    print_json,
)

disc_app = typer.Typer(
    no_args_is_help=True,
    help="GRU fault discriminator: train, calibrate the decision rule, evaluate (streaming, as "
    "deployed), export.\n\n"
    "Example: h1fault disc train ds.h5 -e h1 && h1fault disc calibrate "
    "logs/disc/h1/<run>/checkpoints/best.pt ds.h5 && h1fault disc eval "
    "logs/disc/h1/<run>/checkpoints/calibrated.pt ds.h5 --plots plots/",
)

DatasetArg = Annotated[Path, typer.Argument(help="Built dataset (h1fault dataset build).")]
CheckpointArg = Annotated[
    Path, typer.Argument(help="Detector: GRU checkpoint (.pt) or residual detector (.json).")
]
DiscDeviceOpt = Annotated[
    str, typer.Option("--device", help="Torch device: auto (cuda if available), cpu, cuda:N.")
]


def _fmt(v: Any, pct: bool = False, unit: str = "") -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v:.3g}{unit}"


@disc_app.command("train")
@friendly_errors
def train_cmd(
    dataset: DatasetArg,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides key=value (e.g. hidden_size=256 lr=3e-4 class_weighting=sqrt)."
        ),
    ] = None,
    experiment: Annotated[
        str, typer.Option("--experiment", "-e", help="Run name: logs/disc/<experiment>/<time>/.")
    ] = "default",
    log_root: Annotated[Path, typer.Option("--log-root", help="Root of run dirs.")] = Path(
        "logs/disc"
    ),
    epochs: Annotated[int | None, typer.Option("--epochs", help="Override epochs.")] = None,
    lanes: Annotated[
        int | None, typer.Option("--lanes", help="Override batch_lanes (chunks per batch).")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Torch device: auto (default), cpu, cuda:N.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Train on the train split, keep the best checkpoint on the val split.

    Example: h1fault disc train ds.h5 -e h1 --epochs 60 --lanes 512 hidden_size=256
    """
    from h1fault.disc.config import DiscConfig, apply_overrides
    from h1fault.disc.train import train

    shortcuts = [f"{k}={v}" for k, v in (("epochs", epochs), ("batch_lanes", lanes),
                 ("seed", seed), ("device", device)) if v is not None]  # fmt: skip
    cfg = apply_overrides(DiscConfig(), [*(overrides or []), *shortcuts])
    result = train(dataset, cfg, experiment=experiment, log_root=log_root)
    if json_out:
        print_json(result.to_dict())
        return
    best = result.best_val
    console.print(f"run dir         {escape(str(result.run_dir))}")
    console.print(
        f"best checkpoint {escape(str(result.best_checkpoint))} (epoch {result.best_epoch})"
    )
    console.print(
        f"val: balanced acc {_fmt(best['balanced_accuracy'], pct=True)}, identified within "
        f"0.5 s of saturation {_fmt(best['identified_within_window_of_saturation'], pct=True)}, "
        f"healthy-episode false alarms {_fmt(best['healthy_episode_false_alarm_rate'], pct=True)}"
        f" (rule {cfg.fault_threshold:g}/{cfg.persistence}/{'latched' if cfg.latch else 'per step'})"
    )
    cal = result.calibration
    if cal is not None:
        pick = cal["pick"]
        warn = "" if cal["feasible"] else " [red](false-alarm target not met)[/]"
        console.print(
            f"decision rule picked on val and stored in best.pt: {cal['rule_text']}: identified "
            f"{_fmt(pick['identified_within_window_of_saturation'], pct=True)}, healthy-episode "
            f"false alarms {_fmt(pick['healthy_episode_false_alarm_rate'], pct=True)}, pooled "
            f"{_fmt(pick['pooled_false_alarm_rate'], pct=True)}{warn}"
        )
        for line in cal.get("warnings", []):
            err_console.print(f"[yellow]warning:[/] {line}", highlight=False)


@disc_app.command("eval")
@friendly_errors
def eval_cmd(
    checkpoint: CheckpointArg,
    dataset: DatasetArg,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    device: DiscDeviceOpt = "auto",
    envs: Annotated[
        int, typer.Option("--envs", "-n", help="Streaming envs (episodes played in parallel).")
    ] = 4096,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Fault probability threshold (default: checkpoint's)."),
    ] = None,
    persistence: Annotated[
        int | None,
        typer.Option(
            "--persistence",
            "-k",
            help="Steps a fault must persist to be declared (default: checkpoint's).",
        ),
    ] = None,
    latch: Annotated[
        bool | None,
        typer.Option(
            "--latch/--no-latch",
            help="Keep the first declared fault for the episode (default: checkpoint's).",
            show_default=False,
        ),
    ] = None,
    pick_on: Annotated[
        str | None,
        typer.Option(
            "--pick-on",
            help="Pick the rule on this split first (as disc calibrate), then evaluate with it.",
        ),
    ] = None,
    fa_target: Annotated[
        float | None,
        typer.Option("--fa-target", help="With --pick-on: healthy-episode false-alarm target."),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option("--labels", help="Targets: saturation or onset (default: checkpoint's)."),
    ] = None,
    window: Annotated[
        float, typer.Option("--window", help="Identification window after saturation (s).")
    ] = 0.5,
    cuda_graph: Annotated[
        bool, typer.Option("--cuda-graph", help="Replay the streaming step as a CUDA graph.")
    ] = False,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Write confusion/latency PNGs to this dir.")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Detector evaluated beside CHECKPOINT (default: the shipped residual detector).",
        ),
    ] = None,
    no_baseline: Annotated[
        bool, typer.Option("--no-baseline", help="Skip the baseline detector.")
    ] = False,
    heldout: Annotated[
        Path | None,
        typer.Option(
            "--heldout",
            help="Built dataset from a policy CHECKPOINT never saw: evaluated side by side.",
        ),
    ] = None,
    heldout_split: Annotated[
        str, typer.Option("--heldout-split", help="Split of the --heldout dataset.")
    ] = "test",
    json_out: JsonOpt = False,
) -> None:
    """Stream a split step by step exactly as deployed and report accuracy, latency, false alarms.

    CHECKPOINT is a GRU checkpoint (.pt) or a residual detector (.json). The shipped residual
    detector runs beside it as a baseline (per joint group); --heldout adds a dataset from
    another policy, in distribution and held out side by side.

    Example: h1fault disc eval best.pt ds.h5 --heldout ds_other_policy.h5 --json --plots out/
    """
    from h1fault.disc.compare import evaluate_with_context
    from h1fault.disc.detector import default_detector_path

    base = None
    if not no_baseline:
        base = baseline if baseline is not None else default_detector_path()
        if baseline is None and Path(checkpoint).resolve() == base.resolve():
            base = None  # evaluating the shipped detector itself
    report = evaluate_with_context(
        checkpoint,
        dataset,
        baseline=base,
        heldout=heldout,
        heldout_split=heldout_split,
        split=split,
        device=device,
        num_envs=envs,
        fault_threshold=threshold,
        persistence=persistence,
        latch=latch,
        pick_on=pick_on,
        fa_target=fa_target,
        target_labels=labels,
        window_s=window,
        cuda_graph=cuda_graph,
        plots_dir=plots,
    )
    if json_out:
        print_json(report)
        return
    print_eval_report(report)
    if len(report.get("comparison", {})) > 1:
        print_comparison(report["comparison"], report["window_s"])


def print_comparison(columns: dict[str, Any], window: float) -> None:
    """Identification within the window per joint group, one column per (detector, dataset),
    with each column's healthy-episode false alarms and their 95 % upper bound."""
    table = Table(title=f"identified ≤ {window} s after saturation, per joint group")
    table.add_column("group", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right")
    names = [g["group"] for g in next(iter(columns.values()))["groups"]]
    for i, group in enumerate(names):
        cells = []
        for col in columns.values():
            g = col["groups"][i]
            rate = g["identified_within_window_of_saturation"]
            cells.append(f"{_fmt(rate, pct=True)} ({g['identified']}/{g['saturating_episodes']})")
        table.add_row(group, *cells)
    table.add_row(
        "healthy eps alarmed",
        *(f"{c['healthy_episodes_with_alarm']}/{c['healthy_episodes']}" for c in columns.values()),
    )
    table.add_row(
        "FA 95% upper bound",
        *(
            f"{_fmt(c['false_alarm_upper_bound'], pct=True)}" + (" ✓" if c["certified"] else "")
            for c in columns.values()
        ),
    )
    console.print(table)


def print_eval_report(rep: dict[str, Any]) -> None:
    """Rich tables of a ``disc eval`` report (also used by ``h1fault demo``)."""
    w = rep["window_s"]
    table = Table(title=f"disc eval: {rep['split']} split, {rep['num_episodes']} episodes")
    table.add_column("joint", no_wrap=True)
    for col in ("eps", "sat.", f"id≤{w}s", "sat→det s med/p90", "onset→det s med/p90", "acc"):
        table.add_column(col, justify="right")
    for r in [*rep["detection"]["per_joint"], {"joint": "all", **rep["detection"]["overall"]}]:
        table.add_row(
            r["joint"],
            str(r["episodes"]),
            _fmt(r["saturating_fraction"], pct=True),
            _fmt(r["identified_within_window_of_saturation"], pct=True),
            f"{_fmt(r['latency_from_saturation_median_s'])}/"
            f"{_fmt(r['latency_from_saturation_p90_s'])}",
            f"{_fmt(r['latency_from_onset_median_s'])}/{_fmt(r['latency_from_onset_p90_s'])}",
            _fmt(r.get("step_accuracy", rep["step_accuracy"]), pct=True),
        )
    console.print(table)
    fa = rep["false_alarms"]
    rule = rep.get("decision_rule", {"text": f"threshold {rep['fault_threshold']}"})
    cal = rep.get("calibration")
    picked = f" (picked on {cal['split']})" if cal else ""
    console.print(f"decision rule: {rule['text']}{picked}")
    console.print(
        f"false alarms: {_fmt(fa['healthy_step_rate'], pct=True)} of healthy steps, "
        f"{fa['healthy_episodes_with_alarm']}/{fa['healthy_episodes']} healthy episodes "
        f"({_fmt(fa['healthy_episode_rate'], pct=True)}), "
        f"{fa.get('fault_episodes_with_alarm_before_onset', '-')} fault episodes before onset, "
        f"{_fmt(fa.get('alarms_per_healthy_hour'))} alarms per healthy hour"
    )
    qb = rep["quality_bar"]
    verdict = "[green]PASS[/]" if qb["pass"] else "[red]FAIL[/]"
    console.print(
        f"quality bar {verdict}: identified {_fmt(qb['identified_within_window_of_saturation'], True)}"
        f" (≥ {qb['identify_target']:.0%}), healthy-episode false alarms "
        f"{_fmt(qb['healthy_episode_false_alarm_rate'], True)} (< {qb['false_alarm_target']:.0%}"
        f"; 95% upper bound {_fmt(qb.get('false_alarm_upper_bound'), True)} from "
        f"{rep['false_alarms']['healthy_episodes']} healthy episodes"
        + (
            ""
            if qb.get("certified", True)
            else f", {qb['min_healthy_episodes_to_certify']} needed to certify"
        )  # fmt: skip
        + ")"
    )
    for path in rep.get("plots", []):
        err_console.print(f"wrote {escape(str(path))}")


def print_rule_grid(rows: list[dict[str, Any]], latch: bool, mark: dict[str, Any] | None) -> None:
    """Threshold × persistence table of one latch mode: identified within window / healthy-
    episode false alarms; ``mark`` (a grid row) is starred."""
    rows = [r for r in rows if r["latch"] == latch]
    if not rows:
        return
    ths = sorted({r["fault_threshold"] for r in rows})
    ks = sorted({r["persistence"] for r in rows})
    cell = {(r["fault_threshold"], r["persistence"]): r for r in rows}
    mode = "latched" if latch else "per step"
    table = Table(
        title=f"% identified ≤ window / % healthy episodes alarmed ({mode})", box=box.SIMPLE
    )
    table.add_column("p ≥ \\ k", no_wrap=True)
    for k in ks:
        table.add_column(str(k), justify="right")
    for th in ths:
        cells = []
        for k in ks:
            r = cell.get((th, k))
            if r is None:
                cells.append("")
                continue
            star = "*" if mark is not None and all(r[x] == mark[x] for x in ("fault_threshold",
                                                   "persistence", "latch")) else ""  # fmt: skip
            ident = r["identified_within_window_of_saturation"]
            fa = r["healthy_episode_false_alarm_rate"]
            i_txt = "-" if ident is None else f"{100 * ident:.0f}"
            f_txt = "-" if fa is None else f"{100 * fa:.{1 if fa < 0.1 else 0}f}"
            f_txt = f_txt.removesuffix(".0")
            cells.append(f"{star}{i_txt}/{f_txt}")
        table.add_row(f"{th:g}", *cells)
    console.print(table)


@disc_app.command("calibrate")
@friendly_errors
def calibrate_cmd(
    checkpoint: CheckpointArg,
    dataset: DatasetArg,
    split: Annotated[str, typer.Option("--split", help="Split to pick the rule on.")] = "val",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Calibrated checkpoint (default: calibrated.pt beside CHECKPOINT)."
        ),  # fmt: skip
    ] = None,
    fa_target: Annotated[
        float, typer.Option("--fa-target", help="Healthy-episode false-alarm rate to stay below.")
    ] = 0.01,
    window: Annotated[
        float, typer.Option("--window", help="Identification window after saturation (s).")
    ] = 0.5,
    device: DiscDeviceOpt = "auto",
    envs: Annotated[
        int, typer.Option("--envs", "-n", help="Streaming envs (episodes played in parallel).")
    ] = 4096,
    cuda_graph: Annotated[
        bool, typer.Option("--cuda-graph", help="Replay the streaming step as a CUDA graph.")
    ] = False,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Pick the decision rule (threshold, persistence, latch) on a split and write it into a copy
    of the checkpoint: max identification within the window with healthy-episode false alarms
    below --fa-target.

    CHECKPOINT `residual` (or a residual .json) tunes the physics-residual detector instead:
    gate, smoothing and rule, written as JSON (default: residual_detector.json beside DATASET).

    Example: h1fault disc calibrate best.pt ds.h5 && h1fault disc eval calibrated.pt ds.h5
    """
    from h1fault.disc.calibrate import calibrate
    from h1fault.disc.residual import is_residual_file

    residual = str(checkpoint) == "residual" or is_residual_file(checkpoint)
    default_name = "residual_detector.json" if residual else "calibrated.pt"
    folder = dataset.parent if str(checkpoint) == "residual" else checkpoint.parent
    target = out if out is not None else folder / default_name
    rep = calibrate(
        checkpoint, dataset, split=split, fa_target=fa_target, window_s=window, device=device,
        num_envs=envs, out=target, cuda_graph=cuda_graph, force=force,
    )  # fmt: skip
    if json_out:
        print_json(rep)
        return
    pick = rep["pick"]
    print_rule_grid(rep["grid"], pick["latch"], pick)
    for mode, row in rep["best_per_latch_mode"].items():
        console.print(
            f"best {mode:8s}: p ≥ {row['fault_threshold']:g}, k = {row['persistence']}: "
            f"identified {_fmt(row['identified_within_window_of_saturation'], pct=True)}, "
            f"healthy-episode false alarms {_fmt(row['healthy_episode_false_alarm_rate'], True)}"
            + ("" if row["feasible"] else " (target not met)")
        )
    verdict = "" if rep["feasible"] else " [red](no rule meets the false-alarm target)[/]"
    console.print(
        f"picked on {rep['split']} ({rep['num_episodes']} episodes, "
        f"{rep['num_healthy_episodes']} healthy): {rep['rule_text']}: identified "
        f"{_fmt(pick['identified_within_window_of_saturation'], pct=True)}, healthy-episode "
        f"false alarms {_fmt(pick['healthy_episode_false_alarm_rate'], pct=True)}, "
        f"{_fmt(pick['alarms_per_healthy_hour'])} alarms per healthy hour{verdict}"
    )
    if "params" in rep:
        console.print(
            f"residual detector: gate {rep['params']['gate']:g} x nominal limit, smoothing "
            f"{rep['params']['smoothing']:g}, z >= {rep['z_threshold']:g} noise bounds"
        )
    cert = rep.get("certification")
    if cert is not None:
        console.print(
            f"false alarms: {cert['healthy_episodes_with_alarm']}/{cert['healthy_episodes']} "
            f"healthy {rep['split']} episodes, 95% upper bound "
            f"{_fmt(cert['false_alarm_upper_bound'], pct=True)}"
        )
    for line in rep.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {line}", highlight=False)
    console.print(f"wrote {escape(str(rep['out']))}")


@disc_app.command("export")
@friendly_errors
def export_cmd(
    checkpoint: CheckpointArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.ts or .onnx).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="torchscript or onnx (onnx needs `onnx`).")
    ] = "torchscript",
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Export the streaming step (with normalisation) and check it against the Python model.

    Example: h1fault disc export best.pt --out disc.ts   (or --format onnx --out disc.onnx)
    """
    from h1fault.disc.export import export

    result = export(checkpoint, out, fmt, force=force)
    if json_out:
        print_json(result)
        return
    diff = result["max_abs_diff"]
    check = "not checked (onnxruntime missing)" if diff is None else f"max |diff| {diff:.2e}"
    console.print(
        f"wrote {escape(str(result['path']))} ({result['format']}); vs Python model: {check}"
    )


def register(root: typer.Typer) -> None:
    """Attach this group's commands to the root app."""
    root.add_typer(disc_app, name="disc")
