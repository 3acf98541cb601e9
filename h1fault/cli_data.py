"""CLI layer for the data commands (thin: parse, call h1fault.data, print).

``collect`` at the root; ``dataset build|stats|import`` as a group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from h1fault.cli_common import (
    BackendOpt,
    DeviceOpt,
    EnvsOpt,
    ForceOpt,
    JsonOpt,
    SeedOpt,
    console,
    err_console,
    friendly_errors,
    print_json,
    print_partial_collect,
)
from h1fault.errors import H1FaultError
from h1fault.fileio import check_output_file, io_error_text
from h1fault.validate import number_in

dataset_app = typer.Typer(
    no_args_is_help=True,
    help="Build, check and import fault datasets.\n\n"
    "Example: h1fault dataset build raw.h5 --out ds.h5 && h1fault dataset stats ds.h5",
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output HDF5 file.")]
NoProgressOpt = Annotated[bool, typer.Option("--no-progress", help="No progress bar on stderr.")]
AllowPartialOpt = Annotated[
    bool,
    typer.Option(
        "--allow-partial",
        help="Accept interrupted raw files (no 'complete' flag); drop each env's unfinished "
        "episode.",
    ),
]


def register(root: typer.Typer) -> None:
    """Attach ``collect`` and the ``dataset`` group to the root app."""
    root.command("collect")(collect)
    dataset_app.command("build")(build)
    dataset_app.command("stats")(stats)
    dataset_app.command("import")(import_)
    root.add_typer(dataset_app, name="dataset")


def _pair(text: str | None, what: str) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise H1FaultError(f"{what} must be two numbers like 0.0,0.3, got {text!r}") from None
    return lo, hi


@friendly_errors
def collect(
    out: OutOpt,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Env config overrides, e.g. env.faults.p_fault=0.5", show_default=False
        ),
    ] = None,
    envs: EnvsOpt = 4,
    steps: Annotated[int, typer.Option("--steps", "-t", help="Env steps to collect.")] = 1000,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--policy",
            "--checkpoint",
            help="Policy checkpoint (default: shipped one). Repeat to spread several policies "
            "over contiguous env groups (recorded per env in the file's env_policy).",
        ),
    ] = None,
    device: DeviceOpt = "cpu",
    backend: BackendOpt = "auto",
    seed: SeedOpt = 0,
    dtype: Annotated[str, typer.Option("--dtype", help="Stored obs dtype: float32 or float16.")] = (
        "float32"
    ),
    compression: Annotated[
        str, typer.Option("--compression", help="Chunk compression: none, lzf or gzip.")
    ] = "none",
    flush_steps: Annotated[
        int, typer.Option("--flush-steps", help="Steps per write batch / flush / chunk.")
    ] = 32,
    checksum: Annotated[
        bool,
        typer.Option(
            "--checksum/--no-checksum",
            help="Per-chunk fletcher32 checksums (build and stats then catch corrupted bytes).",
        ),
    ] = True,
    force: ForceOpt = False,
    no_progress: NoProgressOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Roll the policy out under the fault model and write the raw file.

    Writing runs on a background thread; the file is flushed every --flush-steps steps.

    Ctrl-C / SIGTERM stop cleanly (exit 130): flushed steps stay readable, no 'complete' flag.

    Build such a file with --allow-partial. An existing --out is only replaced with --force.

    Under torchrun each rank collects --envs envs on cuda:LOCAL_RANK (or the CPU) into
    raw.rank<r>.h5, with globally unique env ids and its own seed; build all shards together.

    Example: h1fault collect --envs 4096 --steps 1000 --device cuda --out raw.h5
    (several policies: --policy a.pt --policy b.pt)

    Example: torchrun --standalone --nproc-per-node 4 -m h1fault collect --envs 4096 --device cuda --out raw.h5
    """
    from h1fault import dist as hdist
    from h1fault.data.collect import run_collect
    from h1fault.data.writer import WriterConfig

    wcfg = WriterConfig(dtype=dtype, compression=compression, flush_steps=flush_steps,
                        checksum=checksum)  # fmt: skip
    with hdist.session(device) as d:
        res = run_collect(
            out, envs, steps, checkpoint=checkpoint, device=device, backend=backend, seed=seed,
            overrides=list(overrides or []), writer=wcfg, force=force, progress=not no_progress,
            dist=d,
        )  # fmt: skip
    if d.is_rank0:
        _print_collect(res, as_json)
    if res.interrupted:
        if d.is_rank0:
            print_partial_collect(res.path, res.num_steps)
        raise typer.Exit(130)


def _print_collect(res, as_json: bool) -> None:  # noqa: ANN001 - CollectResult (lazy import)
    shards = res.shards or (res,)
    env_steps = sum(r.num_steps * r.num_envs for r in shards)
    seconds = max(r.seconds for r in shards)

    def one(r) -> dict:  # noqa: ANN001
        return {
            "path": str(r.path), "num_envs": r.num_envs, "num_steps": r.num_steps,
            "complete": r.complete, "interrupted": r.interrupted, "num_events": r.num_events,
            "mb_written": r.bytes_written / 1e6, "seconds": r.seconds,
            "env_steps_per_s": r.env_steps_per_s, "sim_waited_on_disk_s": r.wait_s,
        }  # fmt: skip

    summary = one(res)
    if res.shards:  # the run's totals over all ranks, then each shard
        summary.update({
            "path": [str(r.path) for r in shards], "world_size": len(shards),
            "num_envs": sum(r.num_envs for r in shards), "num_events": sum(r.num_events for r in shards),
            "mb_written": sum(r.bytes_written for r in shards) / 1e6, "seconds": seconds,
            "env_steps_per_s": env_steps / max(seconds, 1e-9),
            "complete": all(r.complete for r in shards),
            "interrupted": any(r.interrupted for r in shards),
            "sim_waited_on_disk_s": max(r.wait_s for r in shards),
            "shards": [one(r) for r in shards],
        })  # fmt: skip
    if as_json:
        print_json(summary)
        return
    for r in shards:
        console.print(
            f"wrote {escape(str(r.path))}: {r.num_steps:,} steps x {r.num_envs:,} envs, "
            f"{r.num_events:,} fault events, {r.bytes_written / 1e6:,.1f} MB, "
            f"{r.env_steps_per_s:,.0f} env-steps/s (sim waited {r.wait_s:.2f} s on disk)"
        )
    if res.shards:
        console.print(
            f"{len(shards)} ranks: {summary['num_envs']:,} envs, "
            f"{summary['env_steps_per_s']:,.0f} env-steps/s in all; build them with "
            f"h1fault dataset build {escape(' '.join(str(r.path) for r in shards))} "
            "--out <dataset.h5>"
        )


@friendly_errors
def build(
    raw: Annotated[list[Path], typer.Argument(help="Raw collect files.", show_default=False)],
    out: OutOpt,
    allow_partial: AllowPartialOpt = False,
    seed: SeedOpt = 0,
    split: Annotated[
        str, typer.Option("--split", help="Train,val,test shares of the episodes.")
    ] = "0.8,0.1,0.1",
    tile_mb: Annotated[int, typer.Option("--tile-mb", help="Obs read per tile (MB).")] = 128,
    force: ForceOpt = False,
    no_progress: NoProgressOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Turn raw files into one flat, labelled, split dataset with normalisation stats.

    Labels from the event table: -1 before the onset and in healthy episodes, then the joint.

    Splits are by episode, stratified by fault joint; norm stats come from the train split.

    Example: h1fault dataset build raw.h5 more.h5 --out ds.h5
    """
    from h1fault.data.build import BuildConfig, build_dataset

    try:
        fractions = tuple(float(x) for x in split.split(","))
    except ValueError:
        raise H1FaultError(
            f"--split must be three numbers like 0.8,0.1,0.1, got {split!r}"
        ) from None
    if len(fractions) != 3:
        raise H1FaultError(f"--split must be three numbers like 0.8,0.1,0.1, got {split!r}")
    cfg = BuildConfig(split_fractions=fractions, seed=seed, allow_partial=allow_partial,  # type: ignore[arg-type]
                      tile_mb=tile_mb)  # fmt: skip
    res = build_dataset(raw, out, cfg, force=force, progress=not no_progress)
    summary = {
        "path": str(res.path), "samples": res.num_samples, "episodes": res.num_episodes,
        "split_episodes": res.split_episodes, "split_samples": res.split_samples,
        "dropped_episodes": res.dropped_episodes, "crosscheck": res.crosscheck,
        "seconds": res.seconds, "raw_obs_mb_per_s": res.mb_per_s, "warnings": res.warnings,
    }  # fmt: skip
    if as_json:
        print_json(summary)
    else:
        sp = ", ".join(f"{k} {v:,}" for k, v in res.split_episodes.items())
        console.print(
            f"wrote {escape(str(res.path))}: {res.num_samples:,} samples, {res.num_episodes:,} episodes "
            f"({sp}) in {res.seconds:.1f} s ({res.mb_per_s:,.0f} MB/s of raw obs)"
            + (
                f"; dropped {res.dropped_episodes} unfinished episodes"
                if res.dropped_episodes
                else ""
            )  # fmt: skip
        )
    for note in res.notes:
        err_console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    for w in res.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    if res.warnings:
        err_console.print(
            f"run `h1fault dataset stats {escape(str(res.path))}` for the full report"
        )


@friendly_errors
def stats(
    path: Annotated[Path, typer.Argument(help="Built dataset (or raw collect file).")],
    as_json: JsonOpt = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG bar chart of the joint shares.")
    ] = None,
    allow_partial: AllowPartialOpt = False,
    threshold: Annotated[
        float, typer.Option("--threshold", help="p-value below which a distribution check fails.")
    ] = 1e-3,
    no_progress: NoProgressOpt = False,
) -> None:
    """Validate a dataset against its recorded fault distribution; exit 1 naming a failed check.

    Checks: finite obs, candidate joints only, one fault per episode, labels vs logged limits.

    Also: every env contributes, joint shares fit (chi-square), all candidates present, fault rate.

    Accepts a built dataset or a raw collect file.

    Example: h1fault dataset stats ds.h5 --plot shares.png
    """
    from h1fault.data.stats import dataset_stats, failed_summary, plot_report

    number_in("--threshold", threshold, 0.0, 1.0, lo_open=True, hi_open=True)
    if plot is not None:  # a plot is a regenerated picture: replacing an old one is fine
        check_output_file(plot, force=True, suffixes=(".png",), what="--plot")
    rep = dataset_stats(path, allow_partial=allow_partial, threshold=threshold,
                        progress=not no_progress)  # fmt: skip
    if as_json:
        print_json(rep)
    else:
        print_report(rep)
    if plot is not None:
        try:
            plot_report(rep, plot)
        except OSError as exc:
            raise H1FaultError(f"cannot write {plot}: {io_error_text(exc)}") from None
        err_console.print(f"wrote {escape(str(plot))}", highlight=False)
    if not rep["ok"]:
        raise H1FaultError(failed_summary(rep))


def print_report(rep: dict[str, Any]) -> None:
    """The human-readable stats report (rich tables on stdout)."""
    table = Table(title=f"{escape(str(rep['path']))} ({rep['kind']}): {rep['samples']:,} samples, "
                  f"{rep['episodes']:,} episodes, {rep['faulted_episodes']:,} faulted")  # fmt: skip
    for col in ("joint", "model", "Isaac Lab", "episodes", "ep. share", "samples", "share",
                "expected"):  # fmt: skip
        if col == "joint":
            table.add_column(col, no_wrap=True, min_width=20)
        else:
            table.add_column(col, justify="right")
    for j in rep["joints"]:
        name = j["name"] if j["candidate"] else f"[red]{j['name']} (not a candidate)[/]"
        table.add_row(
            name, str(j["model_index"]), str(j["isaaclab_index"]), f"{j['episodes']:,}",
            f"{100 * j['episode_share']:.1f}%", f"{j['samples']:,}", f"{100 * j['share']:.2f}%",
            f"{100 * j['expected_share']:.2f}%",
        )  # fmt: skip
    h = rep["healthy"]
    table.add_section()
    table.add_row("healthy (-1)", "", "", "", "", f"{h['samples']:,}", f"{100 * h['share']:.2f}%",
                  f"{100 * h['expected_share']:.2f}%")  # fmt: skip
    table.caption = f"expected shares: {rep['expected_basis']}"
    console.print(table)
    el = rep["episode_length"]
    if el.get("episodes"):
        console.print(
            f"episode length (steps): min {el['min']}, median {el['median']:.0f}, mean "
            f"{el['mean']:.1f} ({el['mean_s']:.2f} s), max {el['max']}; terminated "
            f"{el['terminated']:,}, timed out {el['timed_out']:,}, cut by end of collection "
            f"{el['cut_by_end_of_collection']:,}",
            highlight=False,
        )
    if "splits" in rep:
        console.print("splits: " + ", ".join(
            f"{k} {v['episodes']:,} episodes / {v['samples']:,} samples"
            for k, v in rep["splits"].items()), highlight=False)  # fmt: skip
    cov = Table(title="per-env coverage")
    for col in ("source", "envs", "with samples", "samples/env min", "median", "max"):
        cov.add_column(col, justify="left" if col == "source" else "right")
    for c in rep["coverage"]:
        s = c["samples_per_env"]
        cov.add_row(escape(str(c["source"])), str(c["num_envs"]), str(c["envs_with_samples"]), f"{s['min']:,}",
                    f"{s['median']:,.0f}", f"{s['max']:,}")  # fmt: skip
    console.print(cov)
    checks = Table(title=f"checks (p-value threshold {rep['threshold']:g})")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("details", overflow="fold")
    style = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}
    for c in rep["checks"]:
        checks.add_row(c["name"], style[c["status"]], escape(c["message"]))
    console.print(checks)


@friendly_errors
def import_(
    obs_file: Annotated[Path, typer.Argument(help="discriminator_obs.dat (float32 rows).")],
    events_file: Annotated[Path, typer.Argument(help="joint_torque_event_log.dat.")],
    out: OutOpt,
    envs: Annotated[int, typer.Option("--envs", "-n", help="Envs logged per step.")] = 1,
    obs_dim: Annotated[int, typer.Option("--obs-dim", help="Floats per obs row.")] = 88,
    joint_order: Annotated[
        str, typer.Option("--joint-order", help="Joint order of the logs: isaaclab or model.")
    ] = "isaaclab",
    episode_steps: Annotated[
        int, typer.Option("--episode-steps", help="Steps per episode (resets were not logged).")
    ] = 1000,
    events_layout: Annotated[
        str,
        typer.Option(
            "--events-layout",
            help="auto, text, f4x3, f4x4, f8x3, f8x4, i4x3, i8x3, i4x3+f4, i8x3+f8.",
        ),
    ] = "auto",  # fmt: skip
    control_dt: Annotated[float, typer.Option("--control-dt", help="Seconds per step.")] = 0.02,
    p_fault: Annotated[
        float | None, typer.Option("--p-fault", help="Fault probability of the legacy run.")
    ] = None,
    onset_window: Annotated[
        str | None, typer.Option("--onset-window", help="Onset window in s, e.g. 1,10.")
    ] = None,
    scale_range: Annotated[
        str | None, typer.Option("--scale-range", help="Kept-torque range, e.g. 0,0.3.")
    ] = None,
    force: ForceOpt = False,
    no_progress: NoProgressOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Convert the legacy Isaac Lab logs into a raw file that build and stats accept.

    --joint-order isaaclab (default) maps joint indices and obs joint columns to model order.

    Episodes are fixed --episode-steps windows: the legacy logger recorded no resets.

    Example: h1fault dataset import discriminator_obs.dat joint_torque_event_log.dat --out raw.h5
    """
    from h1fault.data.legacy_import import ImportConfig, import_legacy

    cfg = ImportConfig(
        num_envs=envs, obs_dim=obs_dim, joint_order=joint_order, episode_steps=episode_steps,
        events_layout=events_layout, control_dt=control_dt, p_fault=p_fault,
        onset_window_s=_pair(onset_window, "--onset-window"),
        scale_range=_pair(scale_range, "--scale-range"),
    )  # fmt: skip
    res = import_legacy(obs_file, events_file, out, cfg, force=force, progress=not no_progress)
    summary = {
        "path": str(res.path), "num_envs": res.num_envs, "num_steps": res.num_steps,
        "num_events": res.num_events, "events_ignored": res.events_ignored,
        "events_layout": res.layout, "joint_order": res.joint_order,
    }  # fmt: skip
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"wrote {escape(str(res.path))}: {res.num_steps:,} steps x {res.num_envs} envs, "
            f"{res.num_events:,} events (layout {res.layout}, {res.joint_order} joint order)",
            highlight=False,
        )
    if res.events_ignored:
        err_console.print(f"[yellow]warning:[/] {res.events_ignored} events lie past the end of "
                          "the obs log and were ignored", highlight=False)  # fmt: skip
