"""Agent configuration for ``train-healthy`` (defaults mirror Isaac Lab's H1-flat skrl PPO)."""

from __future__ import annotations

from dataclasses import dataclass, field

from h1fault.sim.faults import FaultConfig
from h1fault.sim.task import EnvConfig


@dataclass(frozen=True)
class ModelConfig:
    """Policy and value MLPs."""

    policy_hidden: tuple[int, ...] = (128, 128, 128)
    """Hidden layer sizes of the Gaussian policy."""
    value_hidden: tuple[int, ...] = (128, 128, 128)
    """Hidden layer sizes of the value function."""
    activation: str = "elu"
    """Hidden activation: elu, relu or tanh."""
    initial_log_std: float = 0.0
    """Initial log standard deviation of the policy."""


@dataclass(frozen=True)
class PPOConfig:
    """skrl PPO hyper-parameters (skrl 2.x ``PPO_CFG`` fields)."""

    rollouts: int = 24
    """Env steps per env between updates."""
    learning_epochs: int = 5
    """Passes over each rollout."""
    mini_batches: int = 4
    """Mini-batches per epoch."""
    discount_factor: float = 0.99
    """Gamma."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    learning_rate: float = 1e-3
    """Adam learning rate (adapted by KL when kl_target > 0)."""
    kl_target: float = 0.01
    """Target KL of skrl's KLAdaptiveLR scheduler; 0 disables the scheduler."""
    learning_rate_max: float = 1e-2
    """Ceiling of the KL-adapted learning rate (skrl's KLAdaptiveLR: 1e-2)."""
    lr_anneal_fraction: float = 0.0
    """Last fraction of training in which the rate decays linearly to 0 (KL adaptation off)."""
    grad_norm_clip: float = 1.0
    """Global gradient-norm clip."""
    ratio_clip: float = 0.2
    """PPO clip of the probability ratio."""
    value_clip: float = 0.2
    """Clip of the value prediction change."""
    entropy_loss_scale: float = 0.01
    """Entropy bonus."""
    value_loss_scale: float = 1.0
    """Value loss weight."""
    time_limit_bootstrap: bool = True
    """Bootstrap the value at time-outs (truncation is not failure)."""
    cuda_graphs: bool = True
    """On CUDA, replay act and the mini-batch step as CUDA graphs (same math; CPU: eager)."""


@dataclass(frozen=True)
class TrainerConfig:
    """Length of training and checkpointing."""

    timesteps: int = 24000
    """Vector-env steps to train for (env steps = timesteps * num_envs)."""
    checkpoint_interval: int = 2400
    """Write ``agent_<t>.pt`` every this many timesteps (0: only the final one)."""
    write_interval: int = 120
    """TensorBoard write interval in timesteps."""
    max_minutes: float = 0.0
    """Stop cleanly (final checkpoint written) after this much loop time; 0: no limit."""
    spread_first_episodes: bool = False
    """Cut the first episodes short at random so time-outs and command changes desynchronise."""


@dataclass(frozen=True)
class AgentConfig:
    """Everything PPO needs besides the env."""

    models: ModelConfig = field(default_factory=ModelConfig)
    """Networks."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """Algorithm."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Loop length and checkpoints."""
    experiment: str = "h1_flat"
    """Experiment name: runs go to logs/skrl/<experiment>/<timestamp>_ppo_torch/."""


@dataclass(frozen=True)
class TrainRunConfig:
    """Root of the ``key=value`` override tree: ``env.*`` and ``agent.*``."""

    env: EnvConfig = field(default_factory=lambda: EnvConfig(faults=FaultConfig(enabled=False)))
    """The task (faults off for the healthy policy)."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    """PPO, models and trainer."""


RECIPES: dict[str, tuple[str, ...]] = {
    "isaaclab": (),
    "fast": (
        # 8 mini-batches: 40 Adam steps per rollout instead of 20, nearly free once each step is
        # a CUDA graph
        "agent.ppo.mini_batches=8",
        # less action noise (std 0.61 instead of 1.0, half the entropy bonus): the deterministic
        # policy's tracking error follows the noisy one down instead of waiting for it
        "agent.models.initial_log_std=-0.5",
        "agent.ppo.entropy_loss_scale=0.005",
        # turning is learnt last: pay it as much as walking speed, and pull the hip yaw less
        # towards default (2.0 tracked yaw worse than 1.5 next to the turning commands below)
        "env.rewards.track_ang_vel_z=1.5",
        "env.rewards.joint_deviation_hip=-0.1",
        # walking speed pays 1.5x (lin error 0.06-0.08 instead of up to 0.10); alone that made
        # falls more common (up to 3.9 %), so a fall costs twice as much
        "env.rewards.track_lin_vel_xy=1.5",
        "env.rewards.termination=-400",
        # the remaining falls all came when told to turn in place or stand: train on 10 % more
        # turn-in-place commands (play still judges the task's own commands), and pay stepping
        # while doing it, else the feet shuffle and catch
        "env.commands.turning_fraction=0.1",
        "env.rewards.air_time_when_turning=true",
        # 36.9 M env steps at 4096 envs, ~59 s of loop on one H200 (34.4 M left one seed's lin
        # error at 0.100 m/s, on the bar's edge); one checkpoint, at the end
        "agent.trainer.timesteps=9000",
        "agent.trainer.checkpoint_interval=0",
    ),
}
"""Named override sets for ``train-healthy --recipe`` (applied before the user's overrides).

``isaaclab``: Isaac Lab's H1-flat task and skrl PPO settings, what the shipped walking policy was
trained with. ``fast``: aims at a policy of the same quality in under two minutes from a cold
start on one H200; chosen in ten GPU sweeps (issue 12). Cold starts took 103.6-106.3 s and met
the quality bar on 3 of 3 seeds (0-2), and on seeds 3-5 too: six cold seeds, 2 falls in 1,536
evaluation episodes, lin error 0.066-0.086 m/s, yaw error 0.087-0.143 rad/s (README, Performance).
"""


def recipe_overrides(name: str) -> tuple[str, ...]:
    """The overrides of recipe ``name``; one-line :class:`H1FaultError` for an unknown one."""
    from h1fault.errors import H1FaultError

    if name not in RECIPES:
        raise H1FaultError(f"unknown recipe '{name}' (choose {', '.join(RECIPES)})")
    return RECIPES[name]
