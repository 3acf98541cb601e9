"""CUDA graphs of PPO's two hot paths: the rollout ``act`` and the update's mini-batch step.

Why: at 4096 envs both are launch-bound, not compute-bound (on an H200 an update spent ~154 ms
of CPU launching ~21 ms of GPU work). A graph replays the recorded kernels with one launch.

How (PyTorch's whole-network capture recipe): every tensor a graph reads or writes lives at a
fixed address, so the graphs read the PPO's preallocated rollout storage and a few static input
buffers (observation, group id, step index, mini-batch index) that the caller copies into before
a replay. Parameters, normaliser statistics and the optimizer state are updated in place, so
graphs stay valid across updates; the optimizer is Adam(fused, capturable) with the learning
rate as a device tensor, which the KL schedule fills in place. Warm-up runs on a side stream
and its side effects (an optimizer step, a normaliser update) are undone before the first real
replay, so the graph path computes what the eager path computes (tests/rl/test_rl_graphs.py).

A ``reduce_grads`` hook (cross-process all-reduce) runs eagerly between two graphs: forward and
backward, then gradient clip and optimizer step. Under a ``reduce_moments`` hook on the
observation normaliser, the first epoch's steps (which update it) run eagerly. Graphs are
captured lazily, one per variant (with/without group ids, masks, first epoch, frozen actor), and
dropped when the PPO loads a checkpoint (the optimizer state tensors are replaced then).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from h1fault.rl.ppo import PPO, Batch


def _capture(fn: Callable[[], object], warmup: int) -> tuple[torch.cuda.CUDAGraph, object]:
    """Run fn ``warmup`` times on a side stream, then capture one call; (graph, its output)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    # thread_local: a logging thread's CUDA-free work cannot invalidate the capture
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        out = fn()
    return graph, out


class PPOGraphs:
    """Captured ``act`` and mini-batch step of one :class:`~h1fault.rl.ppo.PPO` (CUDA only).

    Static inputs: ``obs`` (N, D) float32, ``cond`` (N,) int64, ``t`` (1,) int64 storage slot,
    ``idx`` (B,) int64 mini-batch sample indices (B = rollouts * N / mini_batches).
    """

    def __init__(self, ppo: PPO) -> None:
        self.ppo = ppo
        dev, n = ppo.device, ppo.num_envs
        self.obs = torch.zeros(n, ppo.obs_dim, device=dev)
        self.cond = torch.zeros(n, dtype=torch.long, device=dev)
        self.t = torch.zeros(1, dtype=torch.long, device=dev)
        batch = ppo.cfg.rollouts * n
        self.idx = torch.zeros(batch // max(ppo.cfg.mini_batches, 1), dtype=torch.long, device=dev)
        self._act: dict[bool, torch.cuda.CUDAGraph | None] = {}
        self._step: dict[tuple, tuple[torch.cuda.CUDAGraph, ...] | None] = {}
        self._grads: dict[tuple, list[torch.Tensor | None]] = {}
        self.failed: list[str] = []
        """Variants that could not be captured (they run eagerly; a warning said why)."""

    def reset(self) -> None:
        """Drop every graph (the tensors they address may have been replaced)."""
        self._act.clear()
        self._step.clear()
        self._grads.clear()

    # -- rollout --------------------------------------------------------------------------------
    def act(self, obs: torch.Tensor, cond: torch.Tensor | None, step: int) -> torch.Tensor:
        """:meth:`PPO.act` by replay; returns the storage row of the sampled actions (N, A)."""
        ppo, key = self.ppo, cond is not None
        self.obs.copy_(obs)
        if cond is not None:
            self.cond.copy_(cond)
        self.t.fill_(step)
        if key not in self._act:
            c = self.cond if key else None
            try:  # the warm-up writes slot t like the replay that follows: no undo needed
                self._act[key], _ = _capture(lambda: ppo._sample_into(self.t, self.obs, c), 1)
            except RuntimeError as exc:  # an op that cannot be captured: stay correct, eagerly
                self._act[key] = None
                self._warn(f"act {key}", exc)
        if self._act[key] is None:
            return ppo._sample_into(step, obs, cond)
        self._act[key].replay()
        return ppo.actions[step]

    def _warn(self, what: str, exc: Exception) -> None:
        self.failed.append(what)
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        warnings.warn(f"PPO {what} runs eagerly: CUDA graph capture failed ({first})",
                      stacklevel=4)  # fmt: skip

    # -- update ---------------------------------------------------------------------------------
    def supports(self, samples: int) -> bool:
        """Whether a mini-batch step over ``samples`` stored samples can replay a graph."""
        mb = self.ppo.cfg.mini_batches
        return samples == self.ppo.cfg.rollouts * self.ppo.num_envs and samples % mb == 0

    def step(self, batch: Batch, idx: torch.Tensor, first_epoch: bool) -> None:
        """:meth:`PPO._minibatch` by replay (idx: (B,) int64 sample indices)."""
        ppo = self.ppo
        if first_epoch and ppo.obs_norm.reduce_moments is not None:
            ppo._minibatch(batch, idx, first_epoch)  # the normaliser's all-reduce stays eager
            return
        split = ppo.reduce_grads is not None
        key = (first_epoch, ppo.actor_frozen, batch.cond is not None, batch.mask is not None,
               split)  # fmt: skip
        if key not in self._step:
            self.idx.copy_(idx)
            self._capture_step(key, batch, first_epoch, split)
        graphs = self._step[key]
        if graphs is None:  # capture failed: this variant runs eagerly
            ppo._minibatch(batch, idx, first_epoch)
            return
        self.idx.copy_(idx)
        graphs[0].replay()
        if split:
            for p, g in zip(ppo.params, self._grads[key], strict=True):
                p.grad = g  # the hook all-reduces this graph's gradient buffers in place
            ppo.reduce_grads(ppo.params)
            graphs[1].replay()

    def _capture_step(self, key: tuple, batch: Batch, first_epoch: bool, split: bool) -> None:
        saved = _Snapshot(self.ppo)
        try:
            self._capture_step_variant(key, batch, first_epoch, split)
        except RuntimeError as exc:  # an op that cannot be captured: stay correct, eagerly
            self._step[key] = None
            self._warn(f"mini-batch step {key}", exc)
        saved.restore()
        self.ppo.optimizer.zero_grad(set_to_none=True)

    def _capture_step_variant(
        self, key: tuple, batch: Batch, first_epoch: bool, split: bool
    ) -> None:
        ppo = self.ppo
        if split:
            fwd = lambda: ppo._minibatch(batch, self.idx, first_epoch, apply=False)  # noqa: E731
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):  # the optimizer creates its state on the first step
                    fwd()
                    ppo._apply_grads(reduce=False)
            torch.cuda.current_stream().wait_stream(stream)
            ppo.optimizer.zero_grad(set_to_none=True)
            g_fwd, _ = _capture(fwd, warmup=0)
            self._grads[key] = [p.grad for p in ppo.params]
            g_apply, _ = _capture(lambda: ppo._apply_grads(reduce=False), warmup=0)
            self._step[key] = (g_fwd, g_apply)
        else:
            ppo.optimizer.zero_grad(set_to_none=True)
            graph, _ = _capture(lambda: ppo._minibatch(batch, self.idx, first_epoch), warmup=2)
            self._step[key] = (graph,)


class _Snapshot:
    """Values of everything a warm-up step changes: parameters, observation normaliser,
    optimizer state (zeroed where the warm-up created it) and the loss accumulator."""

    def __init__(self, ppo: PPO) -> None:
        self.ppo = ppo
        self.tensors = [*ppo.params, *ppo.obs_norm.buffers(), ppo._acc]
        self.values = [t.detach().clone() for t in self.tensors]
        self.state = {
            p: {k: v.clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
            for p, s in ppo.optimizer.state.items()
        }

    @torch.no_grad()
    def restore(self) -> None:
        for t, v in zip(self.tensors, self.values, strict=True):
            t.copy_(v)
        for p, s in self.ppo.optimizer.state.items():
            for k, v in s.items():
                if isinstance(v, torch.Tensor):
                    v.copy_(self.state[p][k]) if p in self.state else v.zero_()
