"""``train-failure``: the whole failure-policy bank in one PPO run, under deployment conditions.

Every episode gets a fault (``env.faults.p_fault = 1``). The healthy policy drives until the
fault's onset plus a detection delay drawn per episode (the time the detector needs); from then
on the expert of the failed joint drives (:class:`DelayedTakeover`). PPO learns from the experts'
steps only (control mask) with advantages normalised per joint, so arm faults (easy) do not drown
knee faults (hard). Experts warm-start from the healthy policy, which keeps the pre-fault gait the
detector was trained on; a fresh critic is trained alone for the first iterations so that its
noise does not undo the warm start.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from h1fault.dist import Dist
from h1fault.rl.bank import STRUCTURES, ConditionedValue, bank_from_healthy, make_actor
from h1fault.rl.config import AgentConfig, ModelConfig, PPOConfig, TrainerConfig
from h1fault.rl.policy import DeployedPolicy, load_policy
from h1fault.rl.ppo import PPO, RunningNorm
from h1fault.rl.train import (
    TrainResult,
    distribute,
    load_agent_checkpoint,
    run_training,
    start_run,
)
from h1fault.sim.faults import FaultConfig
from h1fault.sim.model import NUM_JOINTS
from h1fault.sim.task import EnvConfig
from h1fault.sim.vec_env import H1VecEnv


@dataclass(frozen=True)
class BankConfig:
    """What the bank is and how experts take over during training."""

    structure: str = "experts"
    """``experts`` (separate stacked MLPs) or ``conditioned`` (one net + one-hot joint)."""
    healthy_policy: str = ""
    """Healthy policy checkpoint to warm-start from and to drive before takeover ('' = shipped)."""
    detection_delay_s: tuple[float, float] = (0.1, 0.6)
    """Takeover delay after the onset (s), uniform per episode: the detector's latency."""
    critic_warmup_iterations: int = 20
    """First PPO iterations that train only the (fresh) critic; the experts stay as they are."""
    oversample: tuple[str, ...] = ("left_knee", "right_knee", "left_hip_pitch", "right_hip_pitch")
    """Joints whose faults are drawn more often in training (the ones the healthy gait falls on)."""
    oversample_factor: float = 4.0
    """Draw weight of each ``oversample`` joint relative to the other candidates (1: uniform)."""


@dataclass(frozen=True)
class FailureRunConfig:
    """Root of the ``key=value`` override tree of ``train-failure``: env.*, agent.*, bank.*."""

    env: EnvConfig = field(
        default_factory=lambda: EnvConfig(
            faults=FaultConfig(p_fault=1.0, onset_window_s=(1.0, 4.0))
        )
    )
    """The task; every episode faulted, onsets early (pre-fault steps teach the experts nothing)."""
    agent: AgentConfig = field(
        default_factory=lambda: AgentConfig(
            models=ModelConfig(initial_log_std=-1.0),
            ppo=PPOConfig(learning_rate=3e-4),  # fine-tuning a walking policy, not learning anew
            trainer=TrainerConfig(timesteps=12000, checkpoint_interval=2400),
            experiment="h1_failure_bank",
        )
    )
    """PPO, models (hidden sizes come from the healthy policy) and trainer."""
    bank: BankConfig = field(default_factory=BankConfig)
    """Bank structure and takeover."""


class DelayedTakeover:
    """The healthy policy drives until onset + delay, then the learner (see module docstring).

    Group ids are positions in ``env.cfg.faults.candidates``. State: ``delay`` (N,) int64 steps.
    """

    def __init__(
        self, env: H1VecEnv, healthy: DeployedPolicy, delay_s: tuple[float, float]
    ) -> None:
        self.env, self.healthy = env, healthy
        dev = env.device
        self._lo = round(delay_s[0] / env.control_dt)
        self._span = max(1, round(delay_s[1] / env.control_dt) - self._lo + 1)
        table = torch.zeros(NUM_JOINTS, dtype=torch.long)
        table[env.cfg.faults.candidate_indices()] = torch.arange(len(env.cfg.faults.candidates))
        self.group_of_joint = table.to(dev)
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(env.seed + 7919)
        self.delay = self._draw()
        self._mask = torch.zeros(env.num_envs, dtype=torch.bool, device=dev)

    def _draw(self) -> torch.Tensor:
        u = torch.rand(self.env.num_envs, device=self.env.device, generator=self.generator)
        return (u * self._span).long().clamp_(max=self._span - 1) + self._lo

    def control(self) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.env.faults
        self._mask = (f.planned_joint >= 0) & (
            self.env.step_in_episode >= f.onset_step + self.delay
        )
        return self._mask, self.group_of_joint[f.planned_joint.clamp(min=0)]

    def executed(self, learner_actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return torch.where(self._mask[:, None], learner_actions, self.healthy(obs))

    def after_step(self, done: torch.Tensor) -> None:
        torch.where(done, self._draw(), self.delay, out=self.delay)


def candidate_weights(cfg: FailureRunConfig) -> torch.Tensor:
    """Per-candidate draw weights (K,) from ``bank.oversample`` / ``bank.oversample_factor``."""
    from h1fault.errors import H1FaultError

    names = cfg.env.faults.candidates
    unknown = sorted(set(cfg.bank.oversample) - set(names))
    if unknown:
        raise H1FaultError(f"bank.oversample names non-candidate joints: {', '.join(unknown)}")
    if not cfg.bank.oversample_factor > 0:
        raise H1FaultError(f"bank.oversample_factor must be > 0, got {cfg.bank.oversample_factor}")
    return torch.tensor(
        [cfg.bank.oversample_factor if n in cfg.bank.oversample else 1.0 for n in names]
    )


def build_bank_ppo(
    cfg: FailureRunConfig, healthy: DeployedPolicy, num_envs: int, device: torch.device
) -> PPO:
    """PPO over the bank's actor (warm-started) and a joint-conditioned critic."""
    k = len(cfg.env.faults.candidates)
    m = cfg.agent.models
    actor = make_actor(cfg.bank.structure, k, healthy.hidden, healthy.activation,
                       m.initial_log_std)  # fmt: skip
    actor.warm_start(healthy)
    critic = ConditionedValue(k, m.value_hidden, m.activation)
    norm = RunningNorm(actor_obs_dim := healthy.obs_mean.shape[0])
    with torch.no_grad():  # the healthy policy's normaliser, as if trained on many samples
        norm.running_mean.copy_(healthy.obs_mean.double())
        norm.running_variance.copy_(healthy.obs_std.double().square())
        norm.current_count.fill_(1e7)
    return PPO(actor, critic, actor_obs_dim, 19, num_envs, cfg.agent.ppo, device, obs_norm=norm)


def train_failure(
    cfg: FailureRunConfig,
    num_envs: int,
    device: str,
    seed: int = 0,
    backend: str = "auto",
    checkpoint: str | Path | None = None,
    log_root: str | Path = "logs/skrl",
    show_progress: bool = True,
    dist: Dist | None = None,
) -> tuple[TrainResult, PPO, DeployedPolicy]:
    """Train the bank; returns the run, the final PPO state and the healthy policy.

    dist: under torchrun each rank trains ``num_envs`` envs with its own seed, one replica of
    the bank (:func:`~h1fault.rl.train.distribute`); rank 0 alone writes the run directory.
    """
    from h1fault.errors import H1FaultError

    if cfg.bank.structure not in STRUCTURES:
        raise H1FaultError(
            f"bank.structure must be one of {', '.join(STRUCTURES)}, got '{cfg.bank.structure}'"
        )
    lo, hi = cfg.bank.detection_delay_s
    if not 0.0 <= lo <= hi:
        raise H1FaultError(f"bank.detection_delay_s must satisfy 0 <= lo <= hi, got {(lo, hi)}")
    t_start = time.perf_counter()
    weights = candidate_weights(cfg)
    healthy = load_policy(cfg.bank.healthy_policy or None)  # a bad file: no run dir made
    env, run_dir, d = start_run(cfg, num_envs, device, seed, backend, log_root, dist)
    env.faults.weight_candidates(weights)
    healthy = healthy.to(env.device)
    ppo = build_bank_ppo(cfg, healthy, num_envs, env.device)
    warmup = cfg.bank.critic_warmup_iterations
    if checkpoint is not None:
        load_agent_checkpoint(ppo, Path(checkpoint))
        warmup = 0
    distribute(ppo, d)
    takeover = DelayedTakeover(env, healthy, cfg.bank.detection_delay_s)

    def on_update(iteration: int) -> None:
        ppo.actor_frozen = iteration <= warmup

    result = run_training(env, ppo, cfg.agent, run_dir, t_start, takeover=takeover,
                          show_progress=show_progress, on_update=on_update, dist=d)  # fmt: skip
    return result, ppo, healthy


def export_bank(
    ppo: PPO, healthy: DeployedPolicy, cfg: FailureRunConfig, out: str | Path, meta: dict
) -> Path:
    """The deployable bank file (experts + the PPO's observation normaliser + healthy policy)."""
    joints = cfg.env.faults.candidate_indices()
    bank = bank_from_healthy(healthy, joints, cfg.bank.structure)
    state = {k: v.detach().clone() for k, v in ppo.actor.state_dict().items()}
    bank.actor.load_state_dict(state)
    with torch.no_grad():
        bank.obs_mean.copy_(ppo.obs_norm.running_mean.float())
        bank.obs_std.copy_(ppo.obs_norm.running_variance.float().sqrt())
    return bank.save(out, meta)


def with_timesteps(cfg, timesteps: int):
    """``cfg`` with ``agent.trainer.timesteps`` replaced (any run config with an agent)."""
    trainer = dataclasses.replace(cfg.agent.trainer, timesteps=timesteps)
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, trainer=trainer))
