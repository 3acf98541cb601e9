"""``collect``: roll a policy out under the fault model and write the raw file.

Per step ``t``: ``obs[t]`` is the discriminator observation *before* action ``t``; the policy acts
on the policy observation; the env steps; the flags of row ``t`` describe that transition (taken
from ``info``, pre-reset). Rows are staged on the env's device in batches of ``flush_steps``,
copied to the host asynchronously and written by :class:`~h1fault.data.writer.RawWriter` on a
background thread, so the simulation only waits when the disk cannot keep up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from h1fault.console import make_progress, resolve_device
from h1fault.data.schema import EVENT_DTYPE, OBS_DIM, RAW_STEP_DATASETS
from h1fault.data.writer import RawWriter, StepBatch, WriterConfig
from h1fault.dist import Dist, shard_path
from h1fault.errors import H1FaultError
from h1fault.fileio import check_output_file
from h1fault.provenance import git_commit, package_versions
from h1fault.sim.contract import Policy, VecEnv
from h1fault.validate import at_least

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype.newbyteorder("="))).dtype


_FLAG_TORCH = {name: _torch_dtype(dt) for name, dt in RAW_STEP_DATASETS.items()}
"""Staging dtypes of the per-step flags: the raw format's (:data:`RAW_STEP_DATASETS`)."""
_EVENT_TORCH = {name: _torch_dtype(EVENT_DTYPE[name]) for name in EVENT_DTYPE.names}
"""Staging dtypes of the fault events: the raw format's (:data:`EVENT_DTYPE`)."""


@dataclass(frozen=True)
class CollectResult:
    """What a collect run did."""

    path: Path
    """The raw file."""
    num_envs: int
    """N."""
    num_steps: int
    """Steps written (T); less than planned if interrupted."""
    complete: bool
    """Whether the file got the ``complete`` attr."""
    interrupted: bool
    """Stopped by Ctrl-C or SIGTERM."""
    seconds: float
    """Wall time of the rollout loop."""
    bytes_written: int
    """Array bytes written."""
    num_events: int
    """Fault onsets logged."""
    wait_s: float
    """Seconds the simulation waited for the writer (full queue)."""
    shards: tuple[CollectResult, ...] = ()
    """Under torchrun: every rank's result in rank order (this one included); else empty."""

    @property
    def env_steps_per_s(self) -> float:
        """Env-steps (steps x envs) per second."""
        return self.num_steps * self.num_envs / max(self.seconds, 1e-9)


class _Staging:
    """Device-side buffers for one batch of ``k`` steps, handed to the writer as host arrays."""

    def __init__(
        self,
        k: int,
        n: int,
        obs_dtype: torch.dtype,
        device: torch.device,
        nominal_limits: torch.Tensor | None,
    ) -> None:
        self.k, self.n, self.obs_dtype, self.device = k, n, obs_dtype, device
        self.nominal = None if nominal_limits is None else nominal_limits.detach().cpu().numpy()
        self._alloc()

    def _alloc(self) -> None:
        d = self.device
        self.obs = torch.empty(self.k, self.n, OBS_DIM, dtype=self.obs_dtype, device=d)
        self.flags = {name: torch.empty(self.k, self.n, dtype=dt, device=d)
                      for name, dt in _FLAG_TORCH.items()}  # fmt: skip
        self.onset = torch.zeros(self.k, self.n, dtype=torch.bool, device=d)
        self.events: list[dict[str, torch.Tensor]] = []
        self.dense = True

    def record(self, k: int, terminated: torch.Tensor, truncated: torch.Tensor, info: dict) -> None:
        """Store row ``k``'s flags (the transition just taken) from the env's info.

        Fault onsets are staged as the dense ``fault_onset`` mask when the env provides it (no
        host sync); otherwise the compact ``fault_events`` are read (one sync per step).
        """
        f = self.flags
        f["terminated"][k].copy_(terminated)
        f["truncated"][k].copy_(truncated)
        torch.logical_or(terminated, truncated, out=f["done"][k])
        f["fault_joint"][k].copy_(info["fault_joint"])
        f["saturated"][k].copy_(info["saturated"])
        f["episode"][k].copy_(info["episode"])
        f["step_in_episode"][k].copy_(info["step_in_episode"])
        f["torque_limit"][k].copy_(info["fault_limit"])
        onset = info.get("fault_onset")
        if onset is not None and self.dense:
            self.onset[k].copy_(onset)
            return
        self.dense = False
        ev = info.get("fault_events")
        if ev is not None and ev["env"].numel():
            self.events.append(ev)

    def hand_off(self, t0: int, k: int) -> StepBatch:
        """The first ``k`` rows as a :class:`StepBatch` (async copy on CUDA). Changes no state,
        so an interrupted hand-off can simply be repeated."""
        events: dict[str, Any] = {}
        if self.events:
            events = {name: torch.cat([e[name] for e in self.events]).to(dt)
                      for name, dt in _EVENT_TORCH.items()}  # fmt: skip
        if self.device.type == "cuda":
            obs = self.obs[:k].to("cpu", non_blocking=True)
            flags = {n: v[:k].to("cpu", non_blocking=True) for n, v in self.flags.items()}
            events = {n: v.to("cpu", non_blocking=True) for n, v in events.items()}
            onset = self.onset[:k].to("cpu", non_blocking=True) if self.dense else None
            done = torch.cuda.Event()
            done.record(torch.cuda.current_stream(self.device))
            return StepBatch(t0, obs, flags, events, onset, self.nominal, ready=done.synchronize)
        return StepBatch(t0, self.obs[:k], {n: v[:k] for n, v in self.flags.items()},
                         {n: v.cpu() for n, v in events.items()},
                         self.onset[:k] if self.dense else None, self.nominal)  # fmt: skip

    def renew(self) -> None:
        """Start the next batch once the writer has the last one (on the CPU the writer now
        owns the old buffers, so new ones are allocated)."""
        self.events = []
        if self.device.type != "cuda":
            self._alloc()


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """While active (main thread only), SIGTERM raises KeyboardInterrupt like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def collect(
    env: VecEnv,
    policy: Policy,
    out: str | Path,
    num_steps: int,
    *,
    writer: WriterConfig | None = None,
    attrs: dict[str, Any] | None = None,
    force: bool = False,
    progress: bool = True,
) -> CollectResult:
    """Roll ``policy`` out in ``env`` for ``num_steps`` steps and write the raw file ``out``.

    env: any :class:`~h1fault.sim.contract.VecEnv` (e.g. :class:`~h1fault.sim.vec_env.H1VecEnv`).
    policy: obs (N, 69) -> actions (N, 19), called under ``torch.no_grad`` (not inference
    mode: the env stays usable for training afterwards).
    attrs: extra file attrs (seed, checkpoint, hash, ...); env-derived attrs are added here.
    Ctrl-C / SIGTERM stop the run: completed steps are written, the file gets no ``complete``.
    """
    wcfg = writer or WriterConfig()
    wcfg.validate()
    n = env.num_envs
    all_attrs = env_attrs(env)
    all_attrs.update(attrs or {})
    stage = _Staging(min(wcfg.flush_steps, num_steps), n, _TORCH_DTYPES[wcfg.dtype], env.device,
                     env.nominal_limits)  # fmt: skip
    raw = RawWriter(out, n, num_steps, all_attrs, wcfg, force=force)
    interrupted = False
    t0 = rows_done = 0  # first step of the current batch; its rows whose flags are recorded
    pending: StepBatch | None = None
    start = time.perf_counter()
    bar = _progress(num_steps, n, progress)
    try:
        with sigterm_as_keyboard_interrupt(), bar as (update, set_bytes), torch.no_grad():
            obs, info = env.reset()
            disc = info["disc_obs"]
            for t in range(num_steps):
                k = t - t0
                stage.obs[k].copy_(disc)
                actions = policy(obs)
                obs, _reward, terminated, truncated, info = env.step(actions)
                stage.record(k, terminated, truncated, info)
                rows_done = k + 1
                disc = info["disc_obs"]
                if rows_done == stage.k or t + 1 == num_steps:
                    pending = stage.hand_off(t0, rows_done)
                    raw.put(pending)
                    stage.renew()
                    pending, t0, rows_done = None, t + 1, 0
                    set_bytes(raw.bytes_written)
                update()
    except KeyboardInterrupt:
        interrupted = True
        # keep the completed steps of the unfinished batch (unless the writer already has them)
        if raw.queued_steps == t0 and (pending is not None or rows_done > 0):
            with contextlib.suppress(H1FaultError):
                raw.put(pending if pending is not None else stage.hand_off(t0, rows_done))
    except BaseException:
        raw.close(complete=False)
        raise
    seconds = time.perf_counter() - start
    raw.close(complete=not interrupted)
    with _h5_read(raw.path) as f:
        written = int(f.attrs["num_steps_written"])
        complete = bool(f.attrs.get("complete", False))
        num_events = int(f["events"].shape[0])
    return CollectResult(
        path=raw.path, num_envs=n, num_steps=written, complete=complete, interrupted=interrupted,
        seconds=seconds, bytes_written=raw.bytes_written, num_events=num_events, wait_s=raw.wait_s,
    )  # fmt: skip


@contextlib.contextmanager
def _h5_read(path: Path) -> Iterator[Any]:
    import h5py

    f = h5py.File(path, "r", locking=False)
    try:
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def _progress(total: int, num_envs: int, enabled: bool) -> Iterator[tuple[Callable, Callable]]:
    """A rich progress bar on stderr with steps/s, env-steps/s and MB written."""
    if not enabled:
        yield (lambda: None), (lambda b: None)
        return
    with make_progress(fields=("rate", "mb")) as prog:
        task = prog.add_task("collect", total=total, rate="", mb="0.0 MB")
        t_start = time.perf_counter()
        state = {"n": 0, "last": 0.0}

        def update() -> None:
            state["n"] += 1
            now = time.perf_counter()
            if now - state["last"] > 0.25 or state["n"] == total:
                sps = state["n"] / max(now - t_start, 1e-9)
                prog.update(
                    task,
                    completed=state["n"],
                    rate=f"{sps:,.0f} steps/s ({sps * num_envs:,.0f} env-steps/s)",
                )
                state["last"] = now  # fmt: skip

        def set_bytes(b: int) -> None:
            prog.update(task, mb=f"{b / 1e6:.1f} MB")

        yield update, set_bytes


def env_attrs(env: VecEnv) -> dict[str, Any]:
    """File attrs describing the env: joint tables, fault distribution, config, versions."""
    from h1fault.config import to_dict
    from h1fault.sim.model import ISAACLAB_JOINT_NAMES, JOINT_NAMES

    cfg = env.cfg
    faults = cfg.faults
    fault_cfg = to_dict(faults)
    fault_cfg["candidate_indices"] = faults.candidate_indices()
    fault_cfg["p_fault_effective"] = float(faults.p_fault) if faults.enabled else 0.0
    return {
        "joint_names": list(JOINT_NAMES),
        "isaaclab_joint_names": list(ISAACLAB_JOINT_NAMES),
        "candidate_joints": faults.candidate_indices(),
        "fault_config": fault_cfg,
        "env_config": to_dict(cfg),
        "control_dt": float(env.control_dt),
        "max_episode_steps": int(env.max_episode_steps),
        "nominal_torque_limits": [float(x) for x in env.nominal_limits.cpu().tolist()],
        "device": str(env.device),
        "backend": env.backend_name,
        "seed": int(env.seed),
        "versions": package_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "git_commit": git_commit(),
    }


CPU_ENV_BYTES = 1_200_000
"""Host memory per env of the MuJoCo CPU backend (measured: 1.15 MB/env between 16 and 1024
envs, H1 model, torch 2.x; MjData dominates)."""


@dataclass(frozen=True)
class CollectEstimate:
    """What a collect run will need, computed before anything is built."""

    raw_bytes: int
    """Size of the raw file (uncompressed: obs + per-step flags; events not counted)."""
    host_bytes: int
    """Host memory: envs (CPU backend) plus staged batches waiting for the writer."""
    device_bytes: int
    """Device memory of the staging buffers (CUDA only; the simulation itself not counted)."""


def estimate_collect(
    num_envs: int, num_steps: int, writer: WriterConfig, device: str = "cpu"
) -> CollectEstimate:
    """Disk and memory a collect run needs (see :class:`CollectEstimate`)."""
    obs_item = 2 if writer.dtype == "float16" else 4
    per_step = OBS_DIM * obs_item + sum(dt.itemsize for dt in RAW_STEP_DATASETS.values())
    k = min(writer.flush_steps, num_steps)
    batch = k * num_envs * (per_step + 1)  # + the onset mask
    cuda = str(device).startswith("cuda")
    host = (writer.queue_batches + 2) * batch + (0 if cuda else num_envs * CPU_ENV_BYTES)
    return CollectEstimate(num_steps * num_envs * per_step, host, batch if cuda else 0)


def check_collect_fits(
    out: Path, num_envs: int, num_steps: int, writer: WriterConfig, device: str = "cpu"
) -> CollectEstimate:
    """Refuse, with the numbers, a run whose raw file cannot fit on the output's file system
    (uncompressed only: compressed sizes are unknown) or whose memory exceeds what is
    available, before the env is built or the file created."""
    est = estimate_collect(num_envs, num_steps, writer, device)
    free = shutil.disk_usage(out.parent).free + (out.stat().st_size if out.is_file() else 0)
    if writer.compression == "none" and est.raw_bytes > free:
        raise H1FaultError(
            f"{num_steps:,} steps x {num_envs:,} envs need {_gb(est.raw_bytes)} for {out}, but "
            f"only {_gb(free)} is free there; collect fewer steps or envs"
        )
    avail = _available_memory()
    if avail is not None and est.host_bytes > avail:
        raise H1FaultError(
            f"{num_envs:,} envs need about {_gb(est.host_bytes)} of memory, but only "
            f"{_gb(avail)} is available; use fewer envs"
        )
    if est.device_bytes and torch.cuda.is_available():
        dev_free = torch.cuda.mem_get_info(torch.device(device))[0]
        if est.device_bytes > dev_free:
            raise H1FaultError(
                f"{num_envs:,} envs need {_gb(est.device_bytes)} of staging buffers on {device}, "
                f"but only {_gb(dev_free)} is free; use fewer envs or --flush-steps"
            )
    return est


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def policy_groups(num_envs: int, num_policies: int) -> torch.Tensor:
    """Which policy drives each env: contiguous, near-equal blocks in the given order.

    Returns (num_envs,) int64 (policy ``k`` drives envs ``k * N // P`` up to ``(k + 1) * N // P``).
    """
    if not 1 <= num_policies <= num_envs:
        raise H1FaultError(f"{num_policies} policies need at least as many envs, got {num_envs}")
    return torch.arange(num_envs) * num_policies // num_envs


class MultiPolicy:
    """Several policies over env groups: obs (N, 69) -> actions (N, 19), env ``n`` acted on by
    ``policies[groups[n]]`` (contiguous groups: slices, no gather)."""

    def __init__(self, policies: list[Policy], groups: torch.Tensor) -> None:
        self.policies = policies
        counts = torch.bincount(groups, minlength=len(policies)).tolist()
        bounds = [0]
        for c in counts:
            bounds.append(bounds[-1] + c)
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(obs[s]) for p, s in zip(self.policies, self.slices, strict=True)])


def write_env_policy(path: str | Path, groups: torch.Tensor) -> None:
    """Add the ``env_policy`` dataset (num_envs,) int16 to a raw file: the index into the file's
    ``policies`` attr of the policy that drove each env."""
    import h5py

    with h5py.File(path, "a", locking=False) as f:
        ds = f.create_dataset("env_policy", data=groups.numpy().astype("int16"))
        ds.attrs["description"] = "index into the file attr 'policies' of each env's policy"


def run_collect(
    out: str | Path,
    num_envs: int,
    num_steps: int,
    *,
    checkpoint: str | Path | list[str | Path] | None = None,
    device: str = "cpu",
    backend: str = "auto",
    seed: int = 0,
    overrides: list[str] | None = None,
    writer: WriterConfig | None = None,
    force: bool = False,
    progress: bool = True,
    dist: Dist | None = None,
) -> CollectResult:
    """The ``h1fault collect`` command: build the env, load the policy (or policies), collect.

    checkpoint: one policy, several (spread over contiguous env groups in the given order; the
    file records each env's policy in the ``env_policy`` dataset and every policy's path and
    sha256 in the ``policies`` attr), or None for the shipped one.
    overrides: ``key=value`` items for the env config (``env.faults.p_fault=0.5`` or
    ``faults.p_fault=0.5``).
    dist: under torchrun (:func:`h1fault.dist.init`), rank ``r`` runs ``num_envs`` envs on its
    own device with seed ``dist.seed(seed)`` and writes ``<out stem>.rank<r><suffix>``; its attrs
    say which envs of the run it holds (``env_id_offset = r * num_envs``), so ``dataset build``
    of all shards numbers the envs 0 .. world_size * num_envs - 1.
    """
    out = Path(out)
    sharded = dist is not None and dist.active
    if sharded:
        assert dist is not None
        out, device = Path(shard_path(out, dist.rank)), str(dist.device)
    wcfg = writer or WriterConfig()
    problem = None
    try:
        at_least("--envs", num_envs)
        at_least("--steps", num_steps)
        wcfg.validate()
        resolve_device(device)
        check_output_file(out, force)  # before any work: a directory, missing folder, existing file
        check_collect_fits(out, num_envs, num_steps, wcfg, device)
    except H1FaultError as exc:
        if not sharded:
            raise
        problem = str(exc)
    if sharded:  # every rank stops if any rank cannot write its shard
        assert dist is not None
        problem = next((p for p in dist.gather_object(problem) if p is not None), None)
        if problem is not None:
            raise H1FaultError(problem)
    from h1fault.config import apply_overrides
    from h1fault.fileio import file_sha256
    from h1fault.rl.policy import default_policy_path, load_policy
    from h1fault.sim.task import EnvConfig
    from h1fault.sim.vec_env import H1VecEnv

    items = [o[4:] if o.startswith("env.") else o for o in (overrides or [])]
    cfg = apply_overrides(EnvConfig(), items)
    if checkpoint is None or checkpoint == []:
        paths = [default_policy_path()]
    elif isinstance(checkpoint, list | tuple):
        paths = [Path(c) for c in checkpoint]
    else:
        paths = [Path(checkpoint)]
    groups = policy_groups(num_envs, len(paths))
    loaded = [load_policy(p, device) for p in paths]  # every file checked before the env is built
    policy: Policy = loaded[0] if len(loaded) == 1 else MultiPolicy(loaded, groups)
    env_seed = dist.seed(seed) if sharded and dist is not None else seed
    shas = [file_sha256(p) for p in paths]
    counts = torch.bincount(groups, minlength=len(paths)).tolist()
    attrs: dict[str, Any] = {
        "policy_checkpoint": ",".join(str(p) for p in paths),
        "policy_sha256": ",".join(shas),
        "policies": [{"path": str(p), "sha256": h, "num_envs": c}
                     for p, h, c in zip(paths, shas, counts, strict=True)],
        "seed": env_seed,
    }  # fmt: skip
    if sharded:
        assert dist is not None
        attrs.update(shard_attrs(dist, num_envs, seed))
        progress = progress and dist.is_rank0
    env = H1VecEnv(cfg, num_envs=num_envs, device=device, backend=backend, seed=env_seed)
    res = collect(env, policy, out, num_steps, writer=writer, attrs=attrs, force=force,
                  progress=progress)  # fmt: skip
    write_env_policy(res.path, groups)
    if sharded:
        assert dist is not None
        res = dataclasses.replace(res, shards=tuple(dist.gather_object(res)))
    return res


def shard_attrs(dist: Dist, num_envs: int, base_seed: int) -> dict[str, Any]:
    """Raw-file attrs of one rank's shard (a collective: every rank must call it).

    ``dist_run_id`` is drawn on rank 0 and shared, so ``dataset build`` can tell the shards of
    one run from those of another and insist on a complete set.
    """
    import uuid

    return {
        "world_size": dist.world_size,
        "rank": dist.rank,
        "env_id_offset": dist.env_id_offset(num_envs),
        "base_seed": base_seed,
        "dist_run_id": dist.broadcast_object(uuid.uuid4().hex),
    }
