"""``h1fault demo``: the whole loop, small, on the CPU, with the shipped walking policy.

1. a rollout under the fault model, summarised (falls, faults injected, torque saturation);
2. ``collect`` -> raw HDF5; 3. ``dataset build``; 4. ``dataset stats`` (validation + plot);
5. ``disc train``; 6. ``disc eval`` (streaming, as deployed; plots);
7. ``closed-loop`` with the shipped policy bank on knee faults: healthy policy only vs the switch
   to the knee expert (oracle at onset, and the detector: the shipped one, else step 5's).

Everything goes to a fresh timestamped folder, so a second demo never overwrites the first.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from h1fault.errors import H1FaultError


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo (defaults: a few minutes on two CPU cores)."""

    envs: int = 48
    """Parallel envs for collect."""
    steps: int = 1500
    """Collect steps (50 Hz): 30 s per env."""
    episode_length_s: float = 8.0
    """Shorter episodes than training (20 s), so the demo sees many faults."""
    onset_window_s: tuple[float, float] = (1.0, 4.0)
    """Fault onset window (s)."""
    p_fault: float = 0.85
    """Probability that an episode gets a fault."""
    rollout_envs: int = 16
    """Envs of the summarised rollout (step 1)."""
    rollout_steps: int = 400
    """Steps of the summarised rollout."""
    disc_epochs: int = 12
    """Discriminator epochs."""
    disc_hidden: int = 64
    """Discriminator GRU width."""
    loop_envs: int = 6
    """Envs (episodes per controller) of the closed-loop step."""
    loop_episode_length_s: float = 5.0
    """Episode length of the closed-loop step (s); knee faults start in 1-3 s."""
    seed: int = 0
    """Seed of every step."""

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smoke-test size (seconds), used by the tests."""
        return cls(envs=12, steps=500, episode_length_s=4.0, onset_window_s=(0.5, 2.0),
                   rollout_envs=4, rollout_steps=100, disc_epochs=2, disc_hidden=16,
                   loop_envs=3, loop_episode_length_s=3.0)  # fmt: skip


def env_overrides(cfg: DemoConfig) -> list[str]:
    """The env ``key=value`` overrides the demo collects with."""
    lo, hi = cfg.onset_window_s
    return [f"episode_length_s={cfg.episode_length_s}", f"faults.onset_window_s=[{lo},{hi}]",
            f"faults.p_fault={cfg.p_fault}"]  # fmt: skip


def run_demo(out_root: str | Path, cfg: DemoConfig, progress: bool = True, say=print) -> dict:
    """Run the six steps into ``out_root/<timestamp>/``; returns a JSON-able summary.

    ``say(text)`` reports each step as it finishes (the CLI prints rich tables from it).
    """
    from h1fault.config import apply_overrides
    from h1fault.data.build import BuildConfig, build_dataset
    from h1fault.data.collect import run_collect
    from h1fault.data.stats import dataset_stats, failed_summary, plot_report
    from h1fault.demo_rollout import faulted_rollout
    from h1fault.disc.config import DiscConfig
    from h1fault.disc.eval import evaluate
    from h1fault.disc.train import train
    from h1fault.provenance import new_run_dir
    from h1fault.rl.policy import load_policy
    from h1fault.sim.task import EnvConfig

    out = new_run_dir(out_root, "demo")
    summary: dict[str, Any] = {"out": str(out)}
    timings: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        return result

    env_cfg = apply_overrides(EnvConfig(), env_overrides(cfg))
    rollout = timed("rollout", faulted_rollout, load_policy(), env_cfg, cfg.rollout_envs,
                    cfg.rollout_steps, seed=cfg.seed)  # fmt: skip
    summary["rollout"] = dataclasses.asdict(rollout)
    say(("rollout", summary["rollout"]))

    raw = out / "raw.h5"
    collected = timed("collect", run_collect, raw, cfg.envs, cfg.steps, seed=cfg.seed,
                      overrides=env_overrides(cfg), progress=progress)  # fmt: skip
    summary["collect"] = {"path": str(raw), "env_steps": collected.num_steps * collected.num_envs,
                          "events": collected.num_events,
                          "env_steps_per_s": round(collected.env_steps_per_s)}  # fmt: skip
    say(("collect", summary["collect"]))

    ds = out / "ds.h5"
    built = timed("build", build_dataset, [raw], ds, BuildConfig(seed=cfg.seed),
                  progress=progress)  # fmt: skip
    summary["build"] = {"path": str(ds), "samples": built.num_samples,
                        "episodes": built.num_episodes, "splits": built.split_episodes}  # fmt: skip
    say(("build", summary["build"]))

    stats = timed("stats", dataset_stats, ds, progress=progress)
    plot_report(stats, out / "stats.png")
    summary["stats"] = {"ok": stats["ok"], "plot": str(out / "stats.png"),
                        "checks": {c["name"]: c["status"] for c in stats["checks"]}}  # fmt: skip
    say(("stats", stats))
    if not stats["ok"]:
        raise H1FaultError(f"demo dataset failed validation: {failed_summary(stats)}")

    disc_cfg = DiscConfig(hidden_size=cfg.disc_hidden, epochs=cfg.disc_epochs, seed=cfg.seed,
                          device="cpu", batch_lanes=64, chunk_len=32)  # fmt: skip
    trained = timed("disc_train", train, ds, disc_cfg, experiment="demo",
                    log_root=out / "disc", progress=progress, tensorboard=False)  # fmt: skip
    summary["disc_train"] = {"checkpoint": str(trained.best_checkpoint),
                             "best_epoch": trained.best_epoch}  # fmt: skip
    say(("disc_train", summary["disc_train"]))

    report = timed("disc_eval", evaluate, trained.best_checkpoint, ds, device="cpu",
                   plots_dir=out / "plots", progress=progress)  # fmt: skip
    summary["disc_eval"] = {k: report[k] for k in ("false_alarms", "quality_bar") if k in report}
    summary["disc_eval"]["detection"] = report["detection"]["overall"]
    say(("disc_eval", report))

    loop = timed("closed_loop", closed_loop_step, cfg, trained.best_checkpoint)
    summary["closed_loop"] = loop
    say(("closed_loop", loop))
    summary["seconds"] = timings
    return summary


def closed_loop_step(cfg: DemoConfig, disc_checkpoint: str | Path) -> dict:
    """Step 7: knee faults (kept torque 0-20 %) under the healthy policy alone and switched to
    the shipped bank's knee expert. Returns the closed-loop report, or ``{"skipped": why}``
    when this h1fault ships no policy bank yet."""
    from h1fault.closedloop import closed_loop, detector_factory, gru_detector_factory
    from h1fault.config import apply_overrides
    from h1fault.rl.bank import default_bank_path, load_bank
    from h1fault.rl.policy import load_policy
    from h1fault.sim.task import EnvConfig

    if not default_bank_path().is_file():
        return {"skipped": f"this h1fault ships no policy bank ({default_bank_path().name})"}
    env_cfg = apply_overrides(EnvConfig(), [
        f"episode_length_s={cfg.loop_episode_length_s}", "faults.p_fault=1.0",
        "faults.onset_window_s=[1.0,2.0]", "faults.scale_range=[0.0,0.2]",
        "faults.candidates=[left_knee,right_knee]",
    ])  # fmt: skip
    bank = load_bank(require_joints=env_cfg.faults.candidate_indices())
    detector = detector_factory(None) or gru_detector_factory(disc_checkpoint)
    report, _ = closed_loop(env_cfg, load_policy(), bank, detector=detector,
                            rows=("healthy", "oracle_onset", "detector"), num_envs=cfg.loop_envs,
                            seed=cfg.seed)  # fmt: skip
    shipped = detector_factory(None) is not None
    report["detector"] = "shipped" if shipped else f"{disc_checkpoint} (step 5)"
    return report
