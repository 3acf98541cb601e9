"""Lazy views of a step's sparse info: fault onsets and statistics of the episodes that ended.

Both are read-only mappings of tensors (``info["fault_events"]``, ``info["log"]``) whose contents
depend on how many envs had an event, which on a GPU is only known after a host sync. They keep
dense per-env snapshots of the step and build their compact form on first access, so a step whose
events nobody reads never waits for the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from h1fault.sim.event_fields import EVENT_KEYS


class FaultEvents(Mapping[str, torch.Tensor]):
    """The fault onsets of one step as 1-D tensors ``EVENT_KEYS``, one entry per onset.

    Keys are known without the device; the values are built (one ``nonzero``, a host sync on
    GPUs) on first access and cached. :attr:`mask` is the dense (num_envs,) bool form.
    """

    def __init__(
        self,
        mask: torch.Tensor,
        episode: torch.Tensor,
        step_in_episode: torch.Tensor,
        global_step: int,
        joint: torch.Tensor,
        scale: torch.Tensor,
        limit: torch.Tensor,
    ) -> None:
        self.mask = mask
        """(num_envs,) bool: the env's fault took effect in this step."""
        self._dense = (episode, step_in_episode, joint, scale, limit)
        self._global_step = global_step
        self._built: dict[str, torch.Tensor] | None = None

    def _build(self) -> dict[str, torch.Tensor]:
        if self._built is None:
            rows = torch.nonzero(self.mask).flatten()
            episode, step, joint, scale, limit = (x[rows] for x in self._dense)
            self._built = {
                "env": rows,
                "episode": episode,
                "step_in_episode": step,
                "global_step": torch.full_like(rows, self._global_step),
                "joint": joint,
                "scale": scale,
                "limit": limit,
            }
        return self._built

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in EVENT_KEYS:
            raise KeyError(key)
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(EVENT_KEYS)

    def __len__(self) -> int:
        return len(EVENT_KEYS)

    def __repr__(self) -> str:
        return f"FaultEvents({self._build()!r})"


class EpisodeLog(Mapping[str, torch.Tensor]):
    """Mean statistics (0-d tensors) of the episodes that ended in one step or a run of steps.

    Built from a totals vector ``[episodes, sum of value 0, sum of value 1, ...]`` (device
    tensor, or None for "no episode ended"). Logs add up (``a + b``) without a host sync, so a
    training loop can sum them over many steps and read them once. Reading keys, values or the
    length syncs once: the mapping is empty when no episode ended, as Isaac Lab's ``extras["log"]``.
    """

    def __init__(self, names: tuple[str, ...], totals: torch.Tensor | None) -> None:
        self.names = names
        """The statistic names, in the order of ``totals[1:]``."""
        self.totals = totals
        """(1 + len(names),) float32: episode count, then the sum of each statistic; or None."""
        self._means: dict[str, torch.Tensor] | None = None

    def __add__(self, other: EpisodeLog) -> EpisodeLog:
        if not isinstance(other, EpisodeLog) or other.names != self.names:
            return NotImplemented
        if self.totals is None or other.totals is None:
            return EpisodeLog(self.names, self.totals if other.totals is None else other.totals)
        return EpisodeLog(self.names, self.totals + other.totals)

    def _build(self) -> dict[str, torch.Tensor]:
        if self._means is None:
            self._means = {}
            if self.totals is not None and float(self.totals[0]) > 0:
                means = self.totals[1:] / self.totals[0]
                self._means = dict(zip(self.names, means.unbind(), strict=True))
        return self._means

    def floats(self) -> dict[str, float]:
        """The means as Python floats, with one host sync (empty if no episode ended)."""
        if self.totals is None:
            return {}
        totals = self.totals.tolist()
        if totals[0] <= 0:
            return {}
        return {k: v / totals[0] for k, v in zip(self.names, totals[1:], strict=True)}

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"EpisodeLog({self._build()!r})"
