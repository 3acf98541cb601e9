"""CLI layer for ``closed-loop`` (thin: parse, call h1fault.closedloop, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from h1fault.cli_common import (
    BackendOpt,
    DeviceOpt,
    JsonOpt,
    SeedOpt,
    console,
    err_console,
    fail,
    friendly_errors,
    print_json,
)


def register(root: typer.Typer) -> None:
    """Attach ``closed-loop`` to the root app."""
    root.command("closed-loop")(closed_loop)


@friendly_errors
def closed_loop(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Env config overrides key=value, e.g. env.faults.p_fault=0.5 "
            "env.faults.scale_range=[0.0,0.1] env.episode_length_s=10",
            show_default=False,
        ),
    ] = None,
    envs: Annotated[
        int | None,
        typer.Option(
            "--envs", "-n", help="Envs = episodes per controller (default: 6144 on CUDA, 8 on CPU)."
        ),
    ] = None,
    device: DeviceOpt = "cpu",
    backend: BackendOpt = "auto",
    seed: SeedOpt = 0,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Healthy policy checkpoint (default: the shipped one)."),
    ] = None,
    bank: Annotated[
        Path | None, typer.Option("--bank", help="Policy bank file (default: the shipped bank).")
    ] = None,
    disc: Annotated[
        Path | None,
        typer.Option(
            "--disc",
            help="Detector for the detector row: a discriminator checkpoint (default: the shipped detector, if any).",
        ),
    ] = None,
    robust: Annotated[
        Path | None,
        typer.Option(
            "--robust", help="A robust policy checkpoint: adds its row (no detector, no switch)."
        ),
    ] = None,
    controllers: Annotated[
        str | None,
        typer.Option(
            "--controllers",
            help="Comma-separated rows to run (default: every row whose input is at hand): healthy, robust, oracle_onset, oracle_saturation, detector.",
        ),
    ] = None,
    fault_joint: Annotated[
        str | None,
        typer.Option(
            "--fault-joint",
            help="Force this fault in every episode (joint name), with --fault-scale and --fault-onset.",
        ),
    ] = None,
    fault_scale: Annotated[
        float, typer.Option("--fault-scale", help="Kept torque fraction of the forced fault.")
    ] = 0.1,
    fault_onset: Annotated[
        float, typer.Option("--fault-onset", help="Onset of the forced fault (s).")
    ] = 2.0,
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            help="Write fall_rate_per_joint.png and fall_rate_vs_scale.png into this folder.",
        ),
    ] = None,
    video: Annotated[
        list[Path] | None,
        typer.Option(
            "--video",
            help="Side-by-side .gif, .webp (smaller) or .mp4 (needs ffmpeg) of one env under two rows; repeat for several files of the same frames; needs MUJOCO_GL=egl (GPU) or osmesa (CPU).",
        ),
    ] = None,
    video_rows: Annotated[
        str | None,
        typer.Option(
            "--video-rows",
            help="The two rows of the video, e.g. healthy,detector (default: healthy and the first run of detector, oracle_saturation, oracle_onset).",
        ),
    ] = None,
    video_env: Annotated[int, typer.Option("--video-env", help="Env shown in the video.")] = 0,
    video_seconds: Annotated[
        float, typer.Option("--video-seconds", help="Length of the video (s of simulated time).")
    ] = 10.0,
    video_fps: Annotated[
        float,
        typer.Option(
            "--video-fps", help="Frames per second of the video (at most 50, the control rate)."
        ),
    ] = 25.0,
    video_size: Annotated[
        str, typer.Option("--video-size", help="Panel size WIDTHxHEIGHT in pixels.")
    ] = "320x240",
    as_json: JsonOpt = False,
) -> None:
    """The deployed loop, judged side by side: healthy policy only, a robust policy, oracle
    switches (at onset, at first saturation) and the detector-driven switch to the policy
    bank's expert, all on the same seed and fault draws, one episode per env.

    Reports per controller: fall rate of faulted episodes (overall, per joint group, per joint
    in --json), time to fall, velocity tracking after the onset of the episodes that survive,
    healthy episodes' falls, tracking and false switches, wrong-joint switches.

    Example: h1fault closed-loop --device cuda --envs 6144 --robust robust.pt --plots plots/ --json

    Example (video): MUJOCO_GL=egl h1fault closed-loop --device cuda --envs 16 --fault-joint left_knee --fault-scale 0.1 --fault-onset 2 --controllers healthy,detector --video knee.gif
    """
    from h1fault.closedloop.evaluate import CONTROLLERS, default_rows, with_forced_fault
    from h1fault.closedloop.evaluate import closed_loop as run
    from h1fault.closedloop.sources import detector_factory
    from h1fault.config import apply_overrides
    from h1fault.console import parse_device
    from h1fault.rl.policy import load_policy
    from h1fault.sim.render import check_video_path
    from h1fault.sim.task import EnvConfig
    from h1fault.validate import at_least, number_in

    parse_device(device)
    num_envs = at_least(
        "--envs", envs if envs is not None else (6144 if device.startswith("cuda") else 8)
    )
    items = [o[4:] if o.startswith("env.") else o for o in (overrides or [])]
    cfg = apply_overrides(EnvConfig(), items)
    if fault_joint is not None:
        cfg = with_forced_fault(cfg, fault_joint, fault_scale, fault_onset)
    cfg.faults.validate(cfg.episode_length_s)  # before any file is read or env built
    rows = _split(controllers)
    if rows is not None and not rows:
        fail("--controllers is empty")
    width, height = _size(video_size)
    number_in("--video-fps", video_fps, 0, 50, lo_open=True)
    number_in("--video-seconds", video_seconds, 0, lo_open=True)
    if video:
        for path in video:
            check_video_path(path)
        if not 0 <= video_env < num_envs:
            fail(f"--video-env must be in 0..{num_envs - 1}, got {video_env}")
    healthy_policy = load_policy(policy, device=device)
    robust_policy = load_policy(robust, device=device) if robust is not None else None
    detector = detector_factory(disc, device=device)
    wanted = rows or CONTROLLERS
    needs_bank = any(r.startswith("oracle") or r == "detector" for r in wanted)
    policy_bank = None
    if needs_bank or bank is not None:
        from h1fault.rl.bank import load_bank

        # the oracle rows switch on every joint the fault model may pick: each needs an expert
        policy_bank = load_bank(bank, device=device, require_joints=cfg.faults.candidate_indices())
    rows = rows or default_rows(robust_policy is not None, detector is not None)
    switched = [r for r in ("detector", "oracle_saturation", "oracle_onset") if r in rows]
    pair = _split(video_rows) or ("healthy", *switched[:1])
    if video:
        if len(pair) != 2:
            fail(f"--video-rows needs two rows, got {','.join(pair)}")
        missing = [p for p in pair if p not in rows]
        if missing:
            fail(f"--video-rows {','.join(missing)} not among the rows run ({','.join(rows)})")
    if video:
        from h1fault.sim.model import load_model
        from h1fault.sim.render import check_rendering

        check_rendering(load_model())  # no GL here: say so before the rollout, not after it
    report, result = run(
        cfg, healthy_policy, policy_bank, robust=robust_policy, detector=detector, rows=rows,
        num_envs=num_envs, device=device, backend=backend, seed=seed,
        trace=pair if video else (), trace_env=video_env, show_progress=True,
    )  # fmt: skip
    report["detector"] = str(disc) if disc is not None else ("shipped" if detector else None)
    report["bank"] = None if policy_bank is None else (str(bank) if bank else "shipped")
    report["robust"] = str(robust) if robust is not None else None
    report["env_overrides"] = items
    if fault_joint is not None:
        report["forced_fault"] = {
            "joint": fault_joint,
            "scale": fault_scale,
            "onset_s": fault_onset,
        }
    if plots is not None:
        from h1fault.closedloop.plots import plot_report

        report["plots"] = [str(p) for p in plot_report(report, plots)]
    if video:
        from h1fault.closedloop.video import side_by_side

        err_console.print(f"rendering {', '.join(map(str, video))} ...")
        written = side_by_side([result.records[p] for p in pair], video, width=width,
                               height=height, fps=video_fps, max_seconds=video_seconds)  # fmt: skip
        report["video"] = [str(p) for p in written]
    if as_json:
        print_json(report)
        return
    print_report(report)


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        fail(f"--video-size must look like 320x240, got {text!r}")
    if not (16 <= w <= 640 and 16 <= h <= 480):
        fail(
            f"--video-size must be within 16x16..640x480 (the model's offscreen buffer), got {text}"
        )
    return w, h


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


_HEADERS = {
    "healthy": "healthy\nonly",
    "robust": "robust\npolicy",
    "oracle_onset": "oracle\nonset",
    "oracle_saturation": "oracle\nsaturation",
    "detector": "detector\nswitch",
}


def _frac(k: int, n: int) -> str:
    return f"{_pct(k / n if n else None)}\n{k}/{n}"


def print_report(report: dict) -> None:
    """The rich tables of a closed-loop report, one column per row (also used by the demo)."""
    rows = report["controllers"]
    table = Table(
        title=f"closed loop: {report['episodes_per_controller']} episodes per controller, seed "
        f"{report['seed']}, same fault draws: {report['identical_fault_draws']}",
        caption="tracking: mean |command - velocity|, lin m/s / yaw rad/s, after the onset of the "
        "faulted episodes that did not fall, or in the healthy episodes; wrong joint: of the "
        "faulted episodes switched",
        show_lines=True,
    )
    table.add_column("")
    for name in rows:
        table.add_column(_HEADERS.get(name, name), justify="right")

    def line(label: str, cell) -> None:
        table.add_row(label, *(cell(r) for r in rows.values()))

    def switch(key: str, of: str):
        def cell(r: dict) -> str:
            s = r.get("switches")
            return "-" if s is None else _frac(s[key] if key in s else r["healthy"][key], of(r))

        return cell

    line("faulted: falls", lambda r: _frac(r["faulted"]["falls"], r["faulted"]["episodes"]))
    line(
        "fall after onset (s, med.)",
        lambda r: _num(r["faulted"]["time_to_fall_s"]["median"], ".2f"),
    )
    line(
        "tracking after onset",
        lambda r: (
            f"{_num(r['faulted']['lin_vel_error_after_onset'], '.2f')} / {_num(r['faulted']['ang_vel_error_after_onset'], '.2f')}"
        ),
    )
    line("healthy: falls", lambda r: _frac(r["healthy"]["falls"], r["healthy"]["episodes"]))
    line(
        "healthy tracking",
        lambda r: (
            f"{_num(r['healthy']['lin_vel_error'], '.2f')} / {_num(r['healthy']['ang_vel_error'], '.2f')}"
        ),
    )
    line(
        "healthy: false switches",
        switch("false_switches", lambda r: r["healthy"]["episodes"]),
    )
    line(
        "faulted: wrong joint",
        switch("wrong_joint", lambda r: r["switches"]["faulted_switched"]),
    )
    line(
        "switch latency (s, med.)",
        lambda r: "-" if "switches" not in r else _num(r["switches"]["latency_s"]["median"], ".2f"),
    )
    console.print(table)
    groups = list(next(iter(rows.values()))["per_group"]) if rows else []
    if groups:
        gt = Table(title="falls of faulted episodes per joint group")
        gt.add_column("")
        for name in rows:
            gt.add_column(_HEADERS.get(name, name), justify="right")
        for g in groups:
            n = next(iter(rows.values()))["per_group"][g]["episodes"]
            gt.add_row(f"{g} ({n})", *(_pct(r["per_group"][g]["fall_rate"]) for r in rows.values()))
        console.print(gt)
    for p in report.get("plots", []):
        err_console.print(f"plot: {p}")
    for p in report.get("video", []):
        err_console.print(f"video: {p}")
