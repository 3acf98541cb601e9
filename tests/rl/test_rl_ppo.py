"""Our PPO against skrl's PPO: same transitions, same initial weights -> same update."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from skrl.agents.torch.ppo import PPO as SkrlPPO
from skrl.agents.torch.ppo import PPO_CFG
from skrl.memories.torch import RandomMemory
from skrl.models.torch import DeterministicMixin, GaussianMixin, Model
from skrl.resources.preprocessors.torch import RunningStandardScaler
from skrl.resources.schedulers.torch import KLAdaptiveLR
from skrl.trainers.torch.sequential import SequentialTrainerCfg

from h1fault.rl.config import PPOConfig
from h1fault.rl.models import mlp
from h1fault.rl.ppo import PPO, GaussianActor, RunningNorm, ValueNet, normalise_advantages

D, A, N, T = 5, 3, 4, 6
HIDDEN = (16, 16)


class _SkrlPolicy(GaussianMixin, Model):
    def __init__(self, obs_space, act_space):
        Model.__init__(self, observation_space=obs_space, action_space=act_space, device="cpu")
        GaussianMixin.__init__(self, clip_actions=False, clip_log_std=True, min_log_std=-20.0,
                               max_log_std=2.0, reduction="sum")  # fmt: skip
        self.net = mlp(D, HIDDEN, A, "elu")
        self.log_std_parameter = torch.nn.Parameter(torch.full((A,), -0.5))

    def compute(self, inputs, role=""):
        return self.net(inputs["observations"]), {"log_std": self.log_std_parameter}


class _SkrlValue(DeterministicMixin, Model):
    def __init__(self, obs_space, act_space):
        Model.__init__(self, observation_space=obs_space, action_space=act_space, device="cpu")
        DeterministicMixin.__init__(self, clip_actions=False)
        self.net = mlp(D, HIDDEN, 1, "elu")

    def compute(self, inputs, role=""):
        return self.net(inputs["observations"]), {}


def _skrl_agent(cfg: PPOConfig, tmp_path) -> SkrlPPO:
    from skrl.agents.torch import ExperimentCfg

    obs_space = gymnasium.spaces.Box(-np.inf, np.inf, (D,), np.float32)
    act_space = gymnasium.spaces.Box(-100.0, 100.0, (A,), np.float32)
    agent = SkrlPPO(
        models={"policy": _SkrlPolicy(obs_space, act_space),
                "value": _SkrlValue(obs_space, act_space)},
        memory=RandomMemory(memory_size=cfg.rollouts, num_envs=N, device="cpu"),
        observation_space=obs_space, action_space=act_space, device="cpu",
        cfg=PPO_CFG(
            rollouts=cfg.rollouts, learning_epochs=cfg.learning_epochs,
            mini_batches=cfg.mini_batches, discount_factor=cfg.discount_factor,
            gae_lambda=cfg.gae_lambda, learning_rate=cfg.learning_rate,
            learning_rate_scheduler=KLAdaptiveLR,
            learning_rate_scheduler_kwargs={"kl_threshold": cfg.kl_target},
            observation_preprocessor=RunningStandardScaler,
            observation_preprocessor_kwargs={"size": obs_space, "device": "cpu"},
            value_preprocessor=RunningStandardScaler,
            value_preprocessor_kwargs={"size": 1, "device": "cpu"},
            grad_norm_clip=cfg.grad_norm_clip, ratio_clip=cfg.ratio_clip,
            value_clip=cfg.value_clip, entropy_loss_scale=cfg.entropy_loss_scale,
            value_loss_scale=cfg.value_loss_scale, time_limit_bootstrap=True,
            experiment=ExperimentCfg(directory=str(tmp_path), experiment_name="x",
                                     write_interval=0, checkpoint_interval=0),
        ),
    )  # fmt: skip
    agent.init(trainer_cfg=SequentialTrainerCfg(timesteps=T, headless=True))
    agent.enable_training_mode(True)
    return agent


@pytest.mark.parametrize("epochs", [1, 3])
def test_update_equals_skrl(tmp_path, epochs: int) -> None:
    # one mini-batch per epoch: the update no longer depends on the sampling order
    cfg = PPOConfig(rollouts=T, learning_epochs=epochs, mini_batches=1, learning_rate=3e-3,
                    kl_target=0.01, entropy_loss_scale=0.01)  # fmt: skip
    torch.manual_seed(0)
    ref = _skrl_agent(cfg, tmp_path)
    actor = GaussianActor(D, A, HIDDEN, "elu", -0.5)
    critic = ValueNet(D, HIDDEN, "elu")
    actor.load_state_dict(ref.policy.state_dict())
    critic.load_state_dict(ref.value.state_dict())
    ours = PPO(actor, critic, D, A, N, cfg, "cpu")
    initial_weight = actor.net[0].weight.detach().clone()
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(N, D, generator=g) * 3 + 1
    for t in range(T):
        with torch.no_grad():  # as skrl's trainers (and our old loop) call it
            actions, _ = ref.act(obs, None, timestep=t, timesteps=T)
        ours.store(obs, actions)
        next_obs = torch.randn(N, D, generator=g) * 3 + 1
        reward = torch.randn(N, generator=g)
        terminated = torch.rand(N, generator=g) < 0.15
        truncated = (torch.rand(N, generator=g) < 0.2) & ~terminated
        ours.record(reward, terminated, truncated)
        ref.record_transition(
            observations=obs, states=None, actions=actions, rewards=reward[:, None].clone(),
            next_observations=next_obs, next_states=None, terminated=terminated[:, None],
            truncated=truncated[:, None], infos={}, timestep=t, timesteps=T,
        )  # fmt: skip
        if t < T - 1:
            ref.post_interaction(timestep=t, timesteps=T)
            obs = next_obs
    ours.update(next_obs)
    ref.post_interaction(timestep=T - 1, timesteps=T)  # skrl updates here
    for name, p in ref.policy.state_dict().items():
        torch.testing.assert_close(actor.state_dict()[name], p, atol=1e-5, rtol=1e-4)
    for name, p in ref.value.state_dict().items():
        torch.testing.assert_close(critic.state_dict()[name], p, atol=1e-5, rtol=1e-4)
    skrl_norm = ref._observation_preprocessor
    torch.testing.assert_close(ours.obs_norm.running_mean, skrl_norm.running_mean)
    torch.testing.assert_close(ours.obs_norm.running_variance, skrl_norm.running_variance,
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    torch.testing.assert_close(
        ours.value_norm.running_variance,
        ref._value_preprocessor.running_variance,
        rtol=1e-5,
        atol=1e-6,
    )
    assert ours.learning_rate == pytest.approx(ref.optimizer.param_groups[0]["lr"])
    assert not torch.equal(actor.net[0].weight, initial_weight)  # the update did something


def test_checkpoint_layout_is_skrl(tmp_path) -> None:
    cfg = PPOConfig(rollouts=2)
    ours = PPO(GaussianActor(D, A, HIDDEN, "elu", 0.0), ValueNet(D, HIDDEN, "elu"), D, A, N,
               cfg, "cpu")  # fmt: skip
    sd = ours.state_dict()
    assert set(sd) == {"policy", "value", "optimizer", "observation_preprocessor",
                       "value_preprocessor"}  # fmt: skip
    assert set(sd["observation_preprocessor"]) == {"running_mean", "running_variance",
                                                   "current_count"}  # fmt: skip
    torch.save(sd, tmp_path / "a.pt")
    other = PPO(GaussianActor(D, A, HIDDEN, "elu", 0.0), ValueNet(D, HIDDEN, "elu"), D, A, N,
                cfg, "cpu")  # fmt: skip
    other.load_state_dict(torch.load(tmp_path / "a.pt", weights_only=True))
    for k, v in ours.actor.state_dict().items():
        assert torch.equal(other.actor.state_dict()[k], v)


def test_running_norm_merge_equals_update() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 3, generator=g) * 2 + 1
    one, two = RunningNorm(3), RunningNorm(3)
    one.update(a)
    two.merge(a.mean(0), a.var(0), a.shape[0])
    torch.testing.assert_close(one.running_mean, two.running_mean)
    torch.testing.assert_close(one.running_variance, two.running_variance)
    x = torch.randn(7, 3, generator=g)
    torch.testing.assert_close(one.inverse(one(x)), x, atol=1e-5, rtol=1e-5)


def test_group_advantage_normalisation() -> None:
    adv = torch.tensor([1.0, 3.0, 100.0, 300.0, 7.0])
    group = torch.tensor([0, 0, 1, 1, 1])
    mask = torch.tensor([True, True, True, True, False])
    out = normalise_advantages(adv, mask, group)
    # each group standardised on its own: both groups map to the same values
    torch.testing.assert_close(out[:2], out[2:4])
    assert out[4] == 0.0  # unmasked samples carry no advantage
    plain = normalise_advantages(adv, None, None)
    torch.testing.assert_close(plain, (adv - adv.mean()) / (adv.std() + 1e-8))


def test_frozen_actor_keeps_weights_and_learning_rate() -> None:
    cfg = PPOConfig(rollouts=4, learning_epochs=3, mini_batches=2, kl_target=0.01)
    ppo = PPO(GaussianActor(D, A, HIDDEN, "elu", 0.0), ValueNet(D, HIDDEN, "elu"), D, A, N,
              cfg, "cpu")  # fmt: skip
    ppo.actor_frozen = True
    before = {k: v.clone() for k, v in ppo.actor.state_dict().items()}
    critic_before = ppo.critic.net[0].weight.clone()
    g = torch.Generator().manual_seed(0)
    for _ in range(3):  # three updates: an unguarded KL schedule would raise the rate 1.5^9 x
        for _ in range(cfg.rollouts):
            ppo.act(torch.randn(N, D, generator=g))
            ppo.record(torch.randn(N, generator=g), torch.zeros(N, dtype=torch.bool),
                       torch.zeros(N, dtype=torch.bool))  # fmt: skip
        ppo.update(torch.randn(N, D, generator=g))
    for k, v in ppo.actor.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)
    assert not torch.equal(ppo.critic.net[0].weight, critic_before)
    assert ppo.learning_rate == cfg.learning_rate


def _one_update(ppo: PPO, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(ppo.cfg.rollouts):
        ppo.act(torch.randn(N, D, generator=g))
        ppo.record(torch.randn(N, generator=g), torch.zeros(N, dtype=torch.bool),
                   torch.zeros(N, dtype=torch.bool))  # fmt: skip
    ppo.update(torch.randn(N, D, generator=g))


def _ppo(cfg: PPOConfig) -> PPO:
    return PPO(GaussianActor(D, A, HIDDEN, "elu", 0.0), ValueNet(D, HIDDEN, "elu"), D, A, N, cfg,
               "cpu")  # fmt: skip


def test_kl_adapted_rate_stops_at_its_ceiling() -> None:
    # a huge KL target: every epoch's KL is "too small", so the rate grows 1.5x per epoch
    cfg = PPOConfig(rollouts=4, learning_epochs=3, mini_batches=1, learning_rate=1e-3,
                    kl_target=1e3, learning_rate_max=2e-3)  # fmt: skip
    ppo = _ppo(cfg)
    _one_update(ppo)
    assert ppo.learning_rate == pytest.approx(2e-3)  # 3.375e-3 without the ceiling
    assert ppo.optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)


def test_final_anneal_decays_the_rate_linearly_and_stops_adaptation() -> None:
    cfg = PPOConfig(rollouts=4, learning_epochs=3, mini_batches=1, learning_rate=1e-3,
                    kl_target=1e3, lr_anneal_fraction=0.5)  # fmt: skip
    ppo = _ppo(cfg)
    ppo.anneal_learning_rate(0.2)  # before the anneal: KL adaptation as usual
    _one_update(ppo)
    adapted = 1e-3 * 1.5**3
    assert ppo.learning_rate == pytest.approx(adapted)
    ppo.anneal_learning_rate(0.5)  # the anneal starts from where adaptation left the rate
    assert ppo.learning_rate == pytest.approx(adapted)
    ppo.anneal_learning_rate(0.75)
    assert ppo.learning_rate == pytest.approx(adapted * 0.5)
    _one_update(ppo, seed=1)  # no adaptation in the anneal, though the KL is "too small"
    assert ppo.learning_rate == pytest.approx(adapted * 0.5)
    assert ppo.optimizer.param_groups[0]["lr"] == pytest.approx(adapted * 0.5)
    ppo.anneal_learning_rate(0.95)
    assert ppo.learning_rate == pytest.approx(adapted * 0.1)


def test_no_anneal_by_default() -> None:
    ppo = _ppo(PPOConfig(rollouts=4, learning_epochs=1, mini_batches=1, kl_target=0.0))
    ppo.anneal_learning_rate(0.99)
    assert ppo.learning_rate == PPOConfig().learning_rate
