"""CUDA-graph PPO (rl/graphs.py) computes what the eager PPO computes, on the device."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from h1fault.rl.bank import ConditionedValue, ExpertsActor
from h1fault.rl.config import PPOConfig
from h1fault.rl.ppo import PPO, GaussianActor, ValueNet, gaussian_log_prob
from h1fault.sim.vec_env import NUM_OBS

pytestmark = pytest.mark.cuda
D, A, N, T, K = NUM_OBS, 19, 8, 4, 3
CFG = PPOConfig(rollouts=T, learning_epochs=3, mini_batches=2, learning_rate=3e-3,
                kl_target=0.01)  # fmt: skip


def _pair(kind: str, hook: bool) -> tuple[PPO, PPO]:
    """Eager and graphed PPO on CUDA with the same initial weights."""
    out = []
    for graphs in (False, True):
        torch.manual_seed(0)
        if kind == "bank":
            actor, critic = (
                ExpertsActor(K, (32, 32), "elu", -0.5),
                ConditionedValue(K, (32,), "elu"),
            )
        else:
            actor, critic = GaussianActor(D, A, (32, 32), "elu", -0.5), ValueNet(D, (32,), "elu")
        halve = (lambda params: [p.grad.mul_(0.5) for p in params]) if hook else None
        cfg = dataclasses.replace(CFG, cuda_graphs=graphs)
        out.append(PPO(actor, critic, D, A, N, cfg, "cuda", reduce_grads=halve))
    assert out[0].graphs is None and out[1].graphs is not None
    return out[0], out[1]


@pytest.mark.parametrize(("kind", "hook"), [("plain", False), ("bank", False), ("plain", True)])
def test_graph_update_equals_eager(kind: str, hook: bool) -> None:
    eager, graphed = _pair(kind, hook)
    g = torch.Generator(device="cuda").manual_seed(1)
    for update in range(3):  # later updates replay graphs captured by earlier ones
        for ppo in (eager, graphed):
            ppo.actor_frozen = update == 0  # the critic warm-up variant too
        for _ in range(T):
            obs = torch.randn(N, D, device="cuda", generator=g) * 2 + 1
            actions = torch.randn(N, A, device="cuda", generator=g)
            reward = torch.randn(N, device="cuda", generator=g)
            term = torch.rand(N, device="cuda", generator=g) < 0.2
            cond = torch.randint(0, K, (N,), device="cuda", generator=g)
            mask = torch.rand(N, device="cuda", generator=g) < 0.7
            for ppo in (eager, graphed):
                if kind == "bank":
                    ppo.store(obs, actions, cond)
                    ppo.record(reward, term, ~term, mask, cond)
                else:
                    ppo.store(obs, actions)
                    ppo.record(reward, term, ~term)
        next_obs = torch.randn(N, D, device="cuda", generator=g)
        stats = []
        for ppo in (eager, graphed):
            torch.manual_seed(update)  # the same mini-batch shuffles
            stats.append(ppo.update(next_obs, cond if kind == "bank" else None))
        for a, b in zip(eager.params, graphed.params, strict=True):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(graphed.obs_norm.running_mean, eager.obs_norm.running_mean)
        torch.testing.assert_close(stats[1].kl, stats[0].kl, atol=1e-6, rtol=1e-4)
        assert graphed.learning_rate == eager.learning_rate
        lr = graphed.optimizer.param_groups[0]["lr"]
        assert float(lr) == pytest.approx(eager.learning_rate)  # the captured step reads this
    assert eager.learning_rate != CFG.learning_rate  # the KL schedule acted on both
    assert graphed.graphs.failed == []  # every variant was captured, none fell back to eager


def test_graph_act_fills_each_slot() -> None:
    _, ppo = _pair("bank", hook=False)
    g = torch.Generator(device="cuda").manual_seed(2)
    for t in range(T):
        obs = torch.randn(N, D, device="cuda", generator=g)
        cond = torch.randint(0, K, (N,), device="cuda", generator=g)
        actions = ppo.act(obs, cond).clone()
        ppo.record(torch.zeros(N, device="cuda"), torch.zeros(N, dtype=torch.bool, device="cuda"),
                   torch.zeros(N, dtype=torch.bool, device="cuda"))  # fmt: skip
        with torch.no_grad():
            x = ppo.obs_norm(obs)
            mean = ppo.actor(x, cond)
            lp = gaussian_log_prob(actions, mean, ppo.actor.log_std(cond))[:, 0]
            value = ppo.value_norm.inverse(ppo.critic(x, cond))[:, 0]
        torch.testing.assert_close(ppo.obs[t], obs)
        torch.testing.assert_close(ppo.actions[t], actions)
        assert torch.equal(ppo.cond[t], cond)
        torch.testing.assert_close(ppo.log_prob[t], lp, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ppo.values[t], value, atol=1e-5, rtol=1e-5)
        assert not torch.equal(actions, mean)  # sampled, not the mean
    assert not torch.equal(ppo.actions[0], ppo.actions[1])  # fresh noise every replay
    assert ppo.graphs.failed == []
