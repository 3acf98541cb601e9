"""Several processes, one run: torchrun's environment, the process group, and the few
collectives h1fault needs (data-parallel PPO, sharded collect).

Launch with ``torchrun --nproc-per-node N -m h1fault <command> ...`` (or
``python -m torch.distributed.run ...``). torchrun sets ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init` reads them, puts rank ``r`` on
``cuda:LOCAL_RANK`` (NCCL) or on the CPU (gloo) and returns a :class:`Dist`. Without torchrun it
returns a one-process :class:`Dist` whose collectives do nothing, so callers never branch.

What we own and what skrl would do: skrl 2.1 reads the same variables when it is *imported* and
then calls ``init_process_group("nccl")`` itself, which fails on a CPU-only torch and would
initialise the group twice on GPUs. Our PPO does its own broadcast, gradient and KL reduction
(as skrl's agents do) and, unlike skrl and rsl_rl, also reduces the observation normaliser's
statistics exactly (:meth:`Dist.reduce_moments`). So we create the group here, and the package
never imports skrl (only a test compares our PPO with skrl's).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist

from h1fault.console import parse_device
from h1fault.errors import H1FaultError

SEED_STRIDE = 1_000_003
"""Rank ``r`` seeds its envs and sampling with ``seed + r * SEED_STRIDE`` (a prime far above
the seeds people type, so the ranks of one run never reuse another run's streams by accident)."""


@dataclass(frozen=True)
class Launch:
    """What torchrun told this process."""

    rank: int
    """Global rank, 0 .. world_size - 1."""
    local_rank: int
    """Rank on this host: the GPU index this process drives."""
    world_size: int
    """Processes in the run."""


def launch_from_env(environ: Mapping[str, str] | None = None) -> Launch | None:
    """The torchrun variables, or None when they are absent (a plain one-process run)."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", env["RANK"]))
    except ValueError:
        raise H1FaultError(
            f"RANK/LOCAL_RANK/WORLD_SIZE must be integers, got {env.get('RANK')!r}/"
            f"{env.get('LOCAL_RANK')!r}/{env.get('WORLD_SIZE')!r}"
        ) from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise H1FaultError(f"bad torchrun environment: RANK={rank} WORLD_SIZE={world} "
                           f"LOCAL_RANK={local}")  # fmt: skip
    return Launch(rank, local, world)


def rank_device(device: str, launch: Launch | None) -> torch.device:
    """The device of this rank: ``cpu`` stays ``cpu``; ``cuda`` becomes ``cuda:LOCAL_RANK``.

    An explicit ``cuda:N`` is refused under torchrun with several processes (they would share
    one GPU); use ``CUDA_VISIBLE_DEVICES`` to choose the GPUs instead.
    """
    try:
        raw = torch.device(device)
    except (RuntimeError, TypeError):
        raw = None  # parse_device below says what is wrong with the name
    several = launch is not None and launch.world_size > 1
    if several and raw is not None and raw.type == "cuda" and raw.index is not None:
        raise H1FaultError(
            f"--device {device} under torchrun: pass --device cuda, each rank then uses "
            "cuda:LOCAL_RANK (pick GPUs with CUDA_VISIBLE_DEVICES)"
        )
    dev = parse_device(device)
    if launch is None or dev.type != "cuda":
        return dev
    if launch.local_rank >= torch.cuda.device_count():
        raise H1FaultError(f"LOCAL_RANK {launch.local_rank} but only "
                           f"{torch.cuda.device_count()} CUDA devices are visible")  # fmt: skip
    return torch.device("cuda", launch.local_rank)


class Dist:
    """This process's place in the run and the collectives over all ranks.

    Every method is a no-op (or the identity) in a one-process run. Collectives must be called
    by every rank in the same order, as with any torch.distributed code.
    """

    def __init__(
        self, launch: Launch | None, device: torch.device, owns_group: bool = False
    ) -> None:
        self.launch = launch
        self.owns_group = owns_group
        """This object created the process group (and :meth:`close` destroys it)."""
        self.device = device
        """This rank's torch device."""
        self.rank = launch.rank if launch else 0
        """Global rank."""
        self.local_rank = launch.local_rank if launch else 0
        """Rank on this host."""
        self.world_size = launch.world_size if launch else 1
        """Processes in the run."""

    @property
    def active(self) -> bool:
        """Started by torchrun (even with one process): outputs are sharded per rank."""
        return self.launch is not None

    @property
    def is_rank0(self) -> bool:
        """The rank that logs, prints and writes the run directory."""
        return self.rank == 0

    @property
    def _collective(self) -> bool:
        return self.world_size > 1

    # -- identities of this rank -------------------------------------------------------------
    def seed(self, seed: int) -> int:
        """This rank's seed for ``seed`` (see :data:`SEED_STRIDE`)."""
        return seed + self.rank * SEED_STRIDE

    def env_id_offset(self, num_envs: int) -> int:
        """Global id of this rank's env 0 when every rank runs ``num_envs`` envs."""
        return self.rank * num_envs

    # -- collectives -------------------------------------------------------------------------
    def barrier(self) -> None:
        """Wait for every rank."""
        if self._collective:
            tdist.barrier()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers into every rank's ``module`` (in place)."""
        if not self._collective:
            return
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                tdist.broadcast(t.data, src=0)

    def broadcast_tensors(self, tensors: Iterable[torch.Tensor]) -> None:
        """Copy rank 0's values into these tensors on every rank (in place)."""
        if self._collective:
            for t in tensors:
                tdist.broadcast(t, src=0)

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (small picklable values between our own processes)."""
        if not self._collective:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self._collective:
            return [obj]
        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def allreduce_grads(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the ranks, in one flat all-reduce.

        A parameter without a gradient counts as zero (and gets one), so every rank reduces the
        same buffer. Call after ``backward()`` and before clipping and ``optimizer.step()``.
        """
        if not self._collective:
            return
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                          for p in params])  # fmt: skip
        tdist.all_reduce(flat)
        flat /= self.world_size
        i = 0
        for p in params:
            n = p.numel()
            g = flat[i : i + n].view_as(p)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
            i += n

    def allreduce_mean(self, x: torch.Tensor | float) -> torch.Tensor | float:
        """Mean of ``x`` over the ranks (a tensor, or a float -> float), e.g. the KL that the
        adaptive learning rate reads, so all ranks change the rate together."""
        return self._allreduce(x, mean=True)

    def allreduce_sum(self, x: torch.Tensor | float) -> torch.Tensor | float:
        """Sum of ``x`` over the ranks (env-step counts, episode counts)."""
        return self._allreduce(x, mean=False)

    def _allreduce(self, x: torch.Tensor | float, mean: bool) -> torch.Tensor | float:
        if not self._collective:
            return x
        is_tensor = isinstance(x, torch.Tensor)
        t = x.detach().clone() if is_tensor else torch.tensor(float(x), dtype=torch.float64)
        dev = self.device if self.device.type == "cuda" else torch.device("cpu")
        moved = t.to(dev)
        tdist.all_reduce(moved)
        if mean:
            moved /= self.world_size
        if is_tensor:
            return moved.to(t.device)
        return float(moved.item())

    def reduce_moments(
        self, count: torch.Tensor, mean: torch.Tensor, m2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Moments of the union of every rank's rows from each rank's own.

        count: () rows seen by this rank; mean: (D,) their mean; m2: (D,) sum of squared
        deviations from that mean. Returns the same three over all ranks (dtype and device of
        ``mean``), identical on every rank: the ranks' moments are gathered and combined in rank
        order in float64 (:func:`combine_moments`), which equals one pass over all rows.
        """
        if not self._collective:
            return count, mean, m2
        d = mean.numel()
        dev = self.device if self.device.type == "cuda" else torch.device("cpu")
        row = torch.cat([count.reshape(1).to(dev, torch.float64),
                         mean.reshape(-1).to(dev, torch.float64),
                         m2.reshape(-1).to(dev, torch.float64)])  # fmt: skip
        rows = [torch.empty_like(row) for _ in range(self.world_size)]
        tdist.all_gather(rows, row)
        stacked = torch.stack(rows)
        n, mu, s = combine_moments(stacked[:, 0], stacked[:, 1 : 1 + d], stacked[:, 1 + d :])
        return (n.to(count.device, count.dtype), mu.to(mean.device, mean.dtype).view_as(mean),
                s.to(m2.device, m2.dtype).view_as(m2))  # fmt: skip

    def close(self) -> None:
        """Destroy the process group if :func:`init` created it (a group that already existed,
        e.g. one a caller runs several commands in, stays)."""
        if self.owns_group and tdist.is_initialized():
            tdist.destroy_process_group()


def combine_moments(
    counts: torch.Tensor, means: torch.Tensor, m2s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chan et al.'s parallel combination of per-part moments, part by part in the given order.

    counts: (P,); means, m2s: (P, D). Returns count (), mean (D,), m2 (D,) of the union: the
    mean and the sum of squared deviations one would get from all rows at once (up to
    round-off). Parts with count 0 are neutral.
    """
    n = counts[0].clone()
    mu = means[0].clone()
    s = m2s[0].clone()
    for i in range(1, len(counts)):
        nb = counts[i]
        tot = n + nb
        w = nb / tot.clamp(min=1.0)  # no branch on the host: a part of 0 rows adds nothing
        delta = means[i] - mu
        mu = mu + delta * w
        s = s + m2s[i] + delta * delta * (n * w)
        n = tot
    return n, mu, s


def batch_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """count (), mean (D,), m2 (D,) of the rows of ``x`` (B, D), in float64."""
    x64 = x.reshape(-1, x.shape[-1]).to(torch.float64)
    mean = x64.mean(dim=0)
    m2 = ((x64 - mean) ** 2).sum(dim=0)
    return torch.tensor(float(x64.shape[0]), dtype=torch.float64, device=x.device), mean, m2


def init(device: str = "cpu", environ: Mapping[str, str] | None = None) -> Dist:
    """Join torchrun's process group if started by torchrun; else a one-process :class:`Dist`.

    NCCL for CUDA devices, gloo for the CPU. A group that already exists is reused (and not
    destroyed by :meth:`Dist.close`).
    """
    launch = launch_from_env(environ)
    dev = rank_device(device, launch)
    if launch is None:
        return Dist(None, dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if launch.world_size == 1 or tdist.is_initialized():
        return Dist(launch, dev)
    kw: dict[str, Any] = {"backend": "gloo"}
    if dev.type == "cuda":
        kw = {"backend": "nccl", "device_id": dev}  # bound to this rank's GPU from the start
    tdist.init_process_group(rank=launch.rank, world_size=launch.world_size, **kw)
    return Dist(launch, dev, owns_group=True)


@contextlib.contextmanager
def session(device: str = "cpu") -> Iterator[Dist]:
    """:func:`init` for the length of a command; leaves the group at the end."""
    d = init(device)
    try:
        yield d
    finally:
        d.close()


def shard_path(path: os.PathLike | str, rank: int) -> str:
    """``raw.h5`` -> ``raw.rank<r>.h5``: where rank ``r`` writes its part of a sharded output."""
    p = os.fspath(path)
    root, ext = os.path.splitext(p)
    return f"{root}.rank{rank}{ext}"
