"""Run by tests/rl/test_rl_dist.py under ``torch.distributed.run`` (gloo, CPU): real training
commands, one after the other in the same processes, with every PPO update and every
observation-normaliser batch recorded per rank into ``<out>/<command>.rank<r>.pt``.

Usage: ``dist_train_worker.py OUT COMMAND ARGS... [:: COMMAND ARGS...]``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from h1fault import dist as hdist
from h1fault.cli import app
from h1fault.rl import ppo as ppo_mod


def _state(ppo) -> dict[str, torch.Tensor]:  # noqa: ANN001
    state = {"lr": torch.tensor(ppo.learning_rate)}
    for name in ("actor", "critic", "obs_norm", "value_norm"):
        state |= {f"{name}.{k}": v.clone() for k, v in getattr(ppo, name).state_dict().items()}
    return state


def main(out: Path, argv: list[str]) -> None:
    rank = int(os.environ["RANK"])
    update, norm_update = ppo_mod.PPO.update, ppo_mod.RunningNorm.update
    record: dict[str, list] = {}

    def recorded_update(self, *a, **k):  # noqa: ANN001, ANN202
        record["obs_norm_before"].append(
            {k: v.clone() for k, v in self.obs_norm.state_dict().items()}
        )
        stats = update(self, *a, **k)
        record["updates"].append(_state(self))
        return stats

    def recorded_norm_update(self, x):  # noqa: ANN001, ANN202
        if x.shape[-1] > 1:  # the observation normaliser (the value one is 1 wide)
            record["obs_norm_in"].append(x.reshape(-1, x.shape[-1]).clone())
        return norm_update(self, x)

    ppo_mod.PPO.update = recorded_update
    ppo_mod.RunningNorm.update = recorded_norm_update
    commands, current = [], []
    for word in argv:
        if word == "::":
            commands.append(current)
            current = []
        else:
            current.append(word)
    commands.append(current)
    group = hdist.init("cpu")  # one process group for all commands (each leaves it standing)
    for args in commands:
        record.clear()
        record.update(updates=[], obs_norm_in=[], obs_norm_before=[])
        try:
            app(args, standalone_mode=False)
        finally:
            torch.save(record, out / f"{args[0]}.rank{rank}.pt")
    group.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
