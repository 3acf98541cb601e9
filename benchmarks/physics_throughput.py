"""Bare physics throughput of one backend: env-steps/s with no policy, task or reward code.

One env-step is one ``backend.step()`` for one env, i.e. ``--substeps`` physics steps (control at
50 Hz with 5 substeps of 4 ms on the shipped H1 model). Targets are the default pose plus small
Gaussian noise drawn on the device, so the robots mostly stand and keep their feet in contact.
Build time (model upload, kernel compilation, CUDA graph capture) is reported apart.

Examples::

    python benchmarks/physics_throughput.py --backend warp --device cuda --envs 1024 4096 8192
    python benchmarks/physics_throughput.py --backend mujoco --device cpu --envs 4 16 --steps 50
    python benchmarks/physics_throughput.py --backend warp --device cpu --envs 2 --steps 20 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import torch

from h1fault.console import resolve_device
from h1fault.errors import H1FaultError
from h1fault.sim.backend_factory import make_backend
from h1fault.sim.model import default_joint_pos, load_model


@dataclass(frozen=True)
class Result:
    """One row of the table."""

    backend: str
    """Backend that ran: ``mujoco`` (MuJoCo C) or ``warp`` (mujoco_warp)."""
    device: str
    """Torch device of the backend."""
    envs: int
    """Parallel envs (worlds)."""
    substeps: int
    """Physics steps per env-step."""
    build_s: float
    """Construction time: model upload, kernel compilation/loading, graph capture."""
    steps: int
    """Timed ``step()`` calls (after warm-up)."""
    seconds: float
    """Wall time of the timed steps, device synchronised."""
    env_steps_per_s: float
    """envs * steps / seconds."""
    physics_steps_per_s: float
    """env_steps_per_s * substeps."""
    unstable: int
    """Envs flagged by ``unstable()`` after the run (should be 0)."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    backend: str, device: str, envs: int, steps: int, warmup: int, substeps: int, noise: float
) -> Result:
    """Build one backend and time ``steps`` control steps after ``warmup`` untimed ones."""
    model = load_model()
    torch_device = resolve_device(device)
    t0 = time.perf_counter()
    sim = make_backend(model, envs, device, substeps, backend=backend)
    _sync(torch_device)
    build_s = time.perf_counter() - t0

    default = torch.tensor(default_joint_pos(model), dtype=torch.float32, device=torch_device)
    gen = torch.Generator(device=torch_device).manual_seed(0)

    def targets() -> torch.Tensor:
        noise_ = torch.randn(envs, model.nu, generator=gen, device=torch_device)
        return default + noise * noise_

    for _ in range(warmup):
        sim.step(targets())
    _sync(torch_device)
    t0 = time.perf_counter()
    for _ in range(steps):
        sim.step(targets())
    _sync(torch_device)
    seconds = time.perf_counter() - t0
    rate = envs * steps / seconds
    return Result(
        backend="warp" if type(sim).__name__ == "WarpBackend" else "mujoco",
        device=str(sim.device),
        envs=envs,
        substeps=substeps,
        build_s=build_s,
        steps=steps,
        seconds=seconds,
        env_steps_per_s=rate,
        physics_steps_per_s=rate * substeps,
        unstable=int(sim.unstable().sum()),
    )


def print_table(results: list[Result]) -> None:
    """Human-readable table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="bare physics throughput (H1 feet-only)")
    for name in ("backend", "device", "envs", "substeps", "build s", "steps", "env-steps/s",
                 "physics steps/s", "unstable"):  # fmt: skip
        # no_wrap: a piped stdout is 80 columns to rich; keep numbers on one line
        table.add_column(
            name, justify="left" if name in ("backend", "device") else "right", no_wrap=True
        )
    for r in results:
        table.add_row(
            r.backend,
            r.device,
            str(r.envs),
            str(r.substeps),
            f"{r.build_s:.1f}",
            str(r.steps),
            f"{r.env_steps_per_s:,.0f}",
            f"{r.physics_steps_per_s:,.0f}",
            str(r.unstable),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "mujoco", "warp"])
    parser.add_argument("--device", default="cuda" if cuda else "cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--envs", type=int, nargs="+", default=[1024, 4096, 8192] if cuda else [4, 16]
    )
    parser.add_argument("--steps", type=int, default=200, help="timed control steps per size")
    parser.add_argument("--warmup", type=int, default=10, help="untimed control steps first")
    parser.add_argument("--substeps", type=int, default=5, help="physics steps per control step")
    parser.add_argument("--noise", type=float, default=0.05, help="target noise (rad, std)")
    parser.add_argument("--json", action="store_true", help="one JSON list on stdout")
    args = parser.parse_args(argv)

    results = []
    try:
        for envs in args.envs:
            results.append(
                measure(
                    args.backend,
                    args.device,
                    envs,
                    args.steps,
                    args.warmup,
                    args.substeps,
                    args.noise,
                )
            )
            if not args.json:
                r = results[-1]
                print(f"{r.envs} envs: {r.env_steps_per_s:,.0f} env-steps/s", file=sys.stderr)
    except H1FaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
