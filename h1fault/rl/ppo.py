"""PPO owned end to end: preallocated rollout storage, one readable update, skrl's math.

Why our own: skrl's agent spends most of a training iteration outside the env (per-step dict
plumbing, memory writes through name lookups, a host sync per step for time-limit
bootstrapping). This module keeps skrl's *math* — GAE with time-limit bootstrapping, running
standard scalers for observations and values, clipped surrogate and value losses, entropy bonus,
global gradient-norm clip, KL-adaptive learning rate — and skrl's checkpoint layout
(``policy``, ``value``, ``optimizer``, ``observation_preprocessor``, ``value_preprocessor``), so
``agent_<t>.pt`` files load in both. tests/rl/test_rl_ppo.py checks one update against skrl's
``PPO`` on the same transitions.

Two additions serve the failure bank (``rl/bank.py``): a per-sample *control mask* (only steps
the learner acted on enter the policy loss; the others were driven by a frozen policy) and a
per-sample *group* id (advantages normalised per group, so that easy groups do not drown hard
ones). Both are optional; without them the update is exactly skrl's.

Shapes: ``N`` envs, ``T`` rollout steps, ``D`` observation width, ``A`` action width.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from h1fault.dist import batch_moments
from h1fault.rl.config import PPOConfig
from h1fault.rl.models import mlp


class RunningNorm(nn.Module):
    """Running mean/variance standardiser (skrl ``RunningStandardScaler`` state and math).

    Buffers (float64, skrl's names): ``running_mean`` (D,), ``running_variance`` (D,),
    ``current_count`` (). Output is clipped to ±``clip``.
    """

    reduce_moments: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None
    """Cross-process hook (:meth:`h1fault.dist.Dist.reduce_moments`): each batch is then merged
    as the union of every rank's batch, so all ranks keep the single-process statistics."""

    def __init__(self, size: int, device: torch.device | str = "cpu", clip: float = 5.0) -> None:
        super().__init__()
        f64 = {"dtype": torch.float64, "device": device}
        self.register_buffer("running_mean", torch.zeros(size, **f64))
        self.register_buffer("running_variance", torch.ones(size, **f64))
        self.register_buffer("current_count", torch.ones((), **f64))
        self.clip = clip
        self.eps = 1e-8

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch into the statistics. x: (B, D) or (T, N, D)."""
        x = x.reshape(-1, x.shape[-1])
        if self.reduce_moments is None:
            self.merge(x.mean(dim=0), x.var(dim=0), x.shape[0])
            return
        count, mean, m2 = self.reduce_moments(*batch_moments(x))
        self.merge(mean, m2 / (count - 1.0).clamp(min=1.0), count)  # unbiased, as x.var()

    @torch.no_grad()
    def merge(self, mean: torch.Tensor, var: torch.Tensor, count: float | torch.Tensor) -> None:
        """Parallel-variance merge of a batch's (mean (D,), var (D,), count) into the state."""
        delta = mean - self.running_mean
        total = self.current_count + count
        m2 = (
            self.running_variance * self.current_count
            + var * count
            + delta.square() * self.current_count * count / total
        )
        self.running_mean.add_(delta * count / total)
        self.running_variance.copy_(m2 / total)
        self.current_count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise x (..., D) float32 -> (..., D) float32."""
        std = self.running_variance.float().sqrt() + self.eps
        return ((x - self.running_mean.float()) / std).clamp(-self.clip, self.clip)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Back to the original scale: x (..., D) float32 -> (..., D) float32."""
        x = x.clamp(-self.clip, self.clip)
        return x * self.running_variance.float().sqrt() + self.running_mean.float()


class GaussianActor(nn.Module):
    """obs (B, D) normalised -> action mean (B, A); state-independent ``log_std_parameter`` (A,).

    Parameter names match skrl's Gaussian MLP policy (``net.*``, ``log_std_parameter``), so the
    weights load into :class:`~h1fault.rl.policy.DeployedPolicy` and skrl alike. ``cond`` (an
    optional (B,) int64 group id) is ignored here; conditioned actors (``rl/bank.py``) use it.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], activation: str, log_std: float
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, activation)
        self.log_std_parameter = nn.Parameter(torch.full((act_dim,), float(log_std)))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)

    def log_std(self, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Log standard deviation, clamped like skrl's: (A,) or broadcastable to (B, A)."""
        return self.log_std_parameter.clamp(-20.0, 2.0)


class ValueNet(nn.Module):
    """obs (B, D) normalised -> value (B, 1) (skrl's deterministic MLP parameter names)."""

    def __init__(self, obs_dim: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, 1, activation)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


def gaussian_log_prob(
    actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> torch.Tensor:
    """Log density of actions under N(mean, exp(log_std)), summed over A: (B, A) -> (B, 1)."""
    var = torch.exp(2.0 * log_std)
    lp = -((actions - mean) ** 2) / (2.0 * var) - log_std - 0.5 * math.log(2.0 * math.pi)
    return lp.sum(dim=-1, keepdim=True)


def gaussian_entropy(log_std: torch.Tensor, batch: int) -> torch.Tensor:
    """Entropy summed over A, per sample: (B, 1)."""
    ent = (0.5 + 0.5 * math.log(2.0 * math.pi) + log_std).expand(batch, -1)
    return ent.sum(dim=-1, keepdim=True)


def compute_gae(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    values: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns and raw advantages, both (T, N).

    rewards, values: (T, N) float32; dones: (T, N) bool, episode ended after step t (for
    time-limit bootstrapping: terminated or truncated, the truncation value already folded into
    the reward); last_values: (N,) value of the observation after the last step.
    """
    advantages = torch.empty_like(rewards)
    not_done = (~dones).float()
    adv = torch.zeros_like(last_values)
    next_values = last_values
    for t in range(rewards.shape[0] - 1, -1, -1):
        adv = rewards[t] - values[t] + gamma * not_done[t] * (next_values + lam * adv)
        advantages[t] = adv
        next_values = values[t]
    return advantages + values, advantages


def normalise_advantages(
    adv: torch.Tensor, mask: torch.Tensor | None, group: torch.Tensor | None
) -> torch.Tensor:
    """Standardise advantages over the masked samples, per group when ``group`` is given.

    adv: (M,) float32; mask: (M,) bool or None (all); group: (M,) int64 in [0, G) or None.
    Unmasked samples get 0. Unbiased std like skrl's ``advantages.std()``.
    """
    if mask is None and group is None:
        return (adv - adv.mean()) / (adv.std() + 1e-8)
    w = torch.ones_like(adv) if mask is None else mask.float()
    if group is None:
        g = torch.zeros_like(adv, dtype=torch.long)
        num_groups = 1
    else:
        g = group.clamp(min=0)
        num_groups = int(g.max()) + 1 if g.numel() else 1
    count = torch.zeros(num_groups, device=adv.device).index_add_(0, g, w)
    total = torch.zeros(num_groups, device=adv.device).index_add_(0, g, adv * w)
    mean = total / count.clamp(min=1.0)
    sq = torch.zeros(num_groups, device=adv.device).index_add_(0, g, (adv - mean[g]).square() * w)
    std = (sq / (count - 1.0).clamp(min=1.0)).sqrt()
    return ((adv - mean[g]) / (std[g] + 1e-8)) * w


class Batch(NamedTuple):
    """A rollout flattened to M = T * N samples (views of the storage and static buffers).

    obs (M, D), actions (M, A), old_log_prob, adv, values, returns (M, 1) float32 (values and
    returns normalised); cond (M,) int64 or None; mask (M,) bool or None.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    old_log_prob: torch.Tensor
    adv: torch.Tensor
    values: torch.Tensor
    returns: torch.Tensor
    cond: torch.Tensor | None
    mask: torch.Tensor | None


@dataclass
class UpdateStats:
    """Means over the update's mini-batches (device tensors: read them once, when logging)."""

    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy_loss: torch.Tensor
    kl: torch.Tensor
    learning_rate: float
    action_std: torch.Tensor


class PPO:
    """Rollout storage + update. Drive it as::

        actions = ppo.act(obs, cond)                      # sample, remember log-prob and value
        ...env.step(executed actions)...
        ppo.record(actions, reward, terminated, truncated, mask, group)
        if ppo.full: stats = ppo.update(next_obs, next_cond)

    obs: (N, D) float32 raw (normalised inside); cond: (N,) int64 or None, passed to the actor and
    critic; actions: (N, A). ``mask`` (N,) bool: the learner's action was the one executed;
    ``group`` (N,) int64: advantage-normalisation group (both optional).
    """

    def __init__(
        self,
        actor: nn.Module,
        critic: nn.Module,
        obs_dim: int,
        act_dim: int,
        num_envs: int,
        cfg: PPOConfig,
        device: torch.device | str,
        obs_norm: RunningNorm | None = None,
        reduce_grads: Callable[[list[torch.Tensor]], None] | None = None,
        reduce_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """reduce_grads / reduce_mean: optional cross-process hooks (``h1fault.dist``) that
        average gradients / a scalar over ranks; None in single-process runs."""
        self.cfg = cfg
        self.device = torch.device(device)
        self.actor = actor.to(self.device)
        self.critic = critic.to(self.device)
        self.obs_norm = (obs_norm or RunningNorm(obs_dim)).to(self.device)
        self.value_norm = RunningNorm(1).to(self.device)
        self.params = list(self.actor.parameters()) + list(self.critic.parameters())
        # fused Adam on GPUs: one kernel instead of a dozen per step (the update is launch-bound);
        # capturable with a device learning rate, so that a CUDA graph can replay the step
        cuda = self.device.type == "cuda"
        self._adam_flags = {"fused": cuda, "capturable": cuda}
        self.optimizer = torch.optim.Adam(self.params, lr=self._lr_value(cfg.learning_rate),
                                          **self._adam_flags)  # fmt: skip
        self.learning_rate = cfg.learning_rate
        self._anneal_from: float | None = None
        """The rate when the final anneal began (None before it)."""
        self.reduce_grads, self.reduce_mean = reduce_grads, reduce_mean
        self.actor_frozen = False
        """True: the update trains the critic only (warm-up of a fresh critic)."""
        T, N, dev = cfg.rollouts, num_envs, self.device
        self.num_envs, self.obs_dim, self.act_dim = N, obs_dim, act_dim
        self.obs = torch.zeros(T, N, obs_dim, device=dev)
        self.cond = torch.zeros(T, N, dtype=torch.long, device=dev)
        self.actions = torch.zeros(T, N, act_dim, device=dev)
        self.log_prob = torch.zeros(T, N, device=dev)
        self.values = torch.zeros(T, N, device=dev)
        """Denormalised value estimates V(obs_t)."""
        self.rewards = torch.zeros(T, N, device=dev)
        self.dones = torch.zeros(T, N, dtype=torch.bool, device=dev)
        self.truncated = torch.zeros(T, N, dtype=torch.bool, device=dev)
        self.mask = torch.ones(T, N, dtype=torch.bool, device=dev)
        self.group = torch.zeros(T, N, dtype=torch.long, device=dev)
        M = T * N
        self._adv = torch.zeros(M, 1, device=dev)
        self._values_n = torch.zeros(M, 1, device=dev)
        self._returns_n = torch.zeros(M, 1, device=dev)
        self._acc = torch.zeros(4, device=dev)
        """Sums over an epoch's mini-batches: policy, entropy, value loss, KL."""
        self.step = 0
        self._use_mask = self._use_group = self._use_cond = False
        self.graphs = None
        """:class:`~h1fault.rl.graphs.PPOGraphs` when ``cfg.cuda_graphs`` and on CUDA."""
        if cuda and cfg.cuda_graphs:
            from h1fault.rl.graphs import PPOGraphs

            self.graphs = PPOGraphs(self)

    def _lr_value(self, lr: float) -> float | torch.Tensor:
        """The optimizer's lr: a device tensor when capturable (graphs read it), else a float."""
        if self.device.type == "cuda":
            return torch.tensor(float(lr), device=self.device)
        return float(lr)

    # -- rollout --------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Sample actions (N, A) for obs (N, D) and store what the update needs.

        With CUDA graphs the result is the storage row of the actions (valid until the next
        rollout overwrites it); eagerly, a new tensor. The values are the same.
        """
        if cond is not None:
            self._use_cond = True
        if self.graphs is not None:
            return self.graphs.act(obs, cond, self.step)
        return self._sample_into(self.step, obs, cond)

    @torch.no_grad()
    def _sample_into(
        self, t: int | torch.Tensor, obs: torch.Tensor, cond: torch.Tensor | None
    ) -> torch.Tensor:
        """Sample actions (N, A) and write slot t (int, or (1,) int64 on the device)."""
        x = self.obs_norm(obs)
        mean = self.actor(x, cond)
        actions = mean + self.actor.log_std(cond).exp() * torch.randn_like(mean)
        self._write(t, obs, actions, cond, x, mean)
        return actions

    @torch.no_grad()
    def store(
        self, obs: torch.Tensor, actions: torch.Tensor, cond: torch.Tensor | None = None
    ) -> None:
        """Store obs (N, D) and the actions (N, A) taken for them, with their current log-prob
        and value estimate (what :meth:`act` stores for its own samples)."""
        if cond is not None:
            self._use_cond = True
        x = self.obs_norm(obs)
        self._write(self.step, obs, actions, cond, x, self.actor(x, cond))

    def _write(self, t, obs, actions, cond, x, mean) -> None:
        """Slot t of the storage: obs, cond, actions, log-prob, denormalised value."""
        log_prob = gaussian_log_prob(actions, mean, self.actor.log_std(cond))[:, 0]
        values = self.value_norm.inverse(self.critic(x, cond))[:, 0]
        rows = [(self.obs, obs), (self.actions, actions), (self.log_prob, log_prob),
                (self.values, values)]  # fmt: skip
        if cond is not None:
            rows.append((self.cond, cond))
        for buf, value in rows:
            if isinstance(t, int):
                buf[t] = value
            else:  # a device index: no host value, so a CUDA graph can replay it for any slot
                buf.index_copy_(0, t, value[None])

    @torch.no_grad()
    def record(
        self,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        mask: torch.Tensor | None = None,
        group: torch.Tensor | None = None,
    ) -> None:
        """Store the transition's outcome for the step last passed to :meth:`act`.

        reward: (N,) float32; terminated, truncated: (N,) bool; mask, group: see the class.
        """
        t = self.step
        self.rewards[t] = reward
        self.dones[t] = terminated | truncated
        self.truncated[t] = truncated
        if mask is not None:
            self.mask[t] = mask
            self._use_mask = True
        if group is not None:
            self.group[t] = group
            self._use_group = True
        self.step += 1

    @property
    def full(self) -> bool:
        """The rollout storage holds ``cfg.rollouts`` steps: time to :meth:`update`."""
        return self.step >= self.cfg.rollouts

    # -- update ---------------------------------------------------------------------------------
    def update(self, next_obs: torch.Tensor, next_cond: torch.Tensor | None = None) -> UpdateStats:
        """GAE, then ``learning_epochs`` x ``mini_batches`` clipped-PPO steps; clears storage.

        next_obs: (N, D) the observation after the last stored step (its value bootstraps).
        """
        cfg, T, N = self.cfg, self.step, self.num_envs
        with torch.no_grad():
            last_values = self.value_norm.inverse(self.critic(self.obs_norm(next_obs), next_cond))
            last_values = last_values[:, 0]
            rewards = self.rewards[:T]
            if cfg.time_limit_bootstrap:
                # skrl: r += gamma * V(next obs) at time-outs; the next obs of step t is the one
                # whose value act() stored at t + 1 (same weights and normaliser until now)
                next_v = torch.cat([self.values[1:T], last_values[None]], dim=0)
                rewards = rewards + cfg.discount_factor * next_v * self.truncated[:T]
                dones = self.dones[:T]
            else:
                dones = self.dones[:T] & ~self.truncated[:T]
            returns, adv = compute_gae(
                rewards, dones, self.values[:T], last_values, cfg.discount_factor, cfg.gae_lambda
            )
            flat = lambda x: x.reshape(T * N, *x.shape[2:])  # noqa: E731
            M = T * N
            mask = flat(self.mask[:T]) if self._use_mask else None
            group = flat(self.group[:T]) if self._use_group else None
            self._adv[:M, 0] = normalise_advantages(flat(adv), mask, group)
            self.value_norm.update(flat(self.values[:T])[:, None])
            self._values_n[:M] = self.value_norm(flat(self.values[:T])[:, None])
            self.value_norm.update(flat(returns)[:, None])
            self._returns_n[:M] = self.value_norm(flat(returns)[:, None])
        batch = Batch(
            obs=flat(self.obs[:T]), actions=flat(self.actions[:T]),
            old_log_prob=flat(self.log_prob[:T])[:, None], adv=self._adv[:M],
            values=self._values_n[:M], returns=self._returns_n[:M],
            cond=flat(self.cond[:T]) if self._use_cond else None, mask=mask,
        )  # fmt: skip
        graphs = self.graphs if self.graphs is not None and self.graphs.supports(M) else None
        sums = torch.zeros(4, device=self.device)
        batches = 0
        for epoch in range(cfg.learning_epochs):
            self._acc.zero_()
            chunks = torch.randperm(M, device=self.device).chunk(cfg.mini_batches)
            for idx in chunks:
                if graphs is not None:
                    graphs.step(batch, idx, epoch == 0)
                else:
                    self._minibatch(batch, idx, epoch == 0)
            sums += self._acc
            batches += len(chunks)
            # a frozen actor has KL ~0: adapting on it would ramp the rate to its ceiling
            if cfg.kl_target > 0 and not self.actor_frozen and self._anneal_from is None:
                self._adapt_learning_rate(self._acc[3] / len(chunks))
        self.step = 0
        self._use_mask = self._use_group = self._use_cond = False
        self.mask.fill_(True)
        means = sums / max(batches, 1)
        return UpdateStats(
            policy_loss=means[0], entropy_loss=means[1], value_loss=means[2], kl=means[3],
            learning_rate=self.learning_rate,
            action_std=self.actor.log_std(None).exp().mean().detach(),
        )  # fmt: skip

    def _minibatch(
        self, b: Batch, idx: torch.Tensor, first_epoch: bool, apply: bool = True
    ) -> None:
        """One clipped-PPO step on samples idx (B,) int64 of b; adds its losses and KL to
        ``_acc``. apply=False stops after backward (a graph then all-reduces, then applies)."""
        mb_obs = b.obs[idx]
        if first_epoch:
            self.obs_norm.update(mb_obs)
        mask = None if b.mask is None else b.mask[idx][:, None].float()
        losses, kl = self._losses(
            self.obs_norm(mb_obs), None if b.cond is None else b.cond[idx], b.actions[idx],
            b.old_log_prob[idx], b.adv[idx], b.values[idx], b.returns[idx], mask,
        )  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self._acc.add_(torch.cat([losses.detach(), kl[None]]))
        if apply:
            self._apply_grads()

    def _apply_grads(self, reduce: bool = True) -> None:
        """All-reduce (``reduce_grads`` hook), clip the global gradient norm, step Adam."""
        if reduce and self.reduce_grads is not None:
            self.reduce_grads(self.params)
        if self.cfg.grad_norm_clip > 0:
            nn.utils.clip_grad_norm_(self.params, self.cfg.grad_norm_clip)
        self.optimizer.step()

    def _losses(
        self,
        x: torch.Tensor,
        cond: torch.Tensor | None,
        actions: torch.Tensor,
        old_log_prob: torch.Tensor,
        adv: torch.Tensor,
        old_values: torch.Tensor,
        returns: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(policy, entropy, value) losses (3,) and the approximate KL () of one mini-batch.

        x: (B, D) normalised obs; actions: (B, A); old_log_prob, adv, old_values, returns,
        mask: (B, 1). Masked means run over the learner's own steps only.
        """
        cfg = self.cfg
        mean = self.actor(x, cond)
        log_std = self.actor.log_std(cond)
        log_prob = gaussian_log_prob(actions, mean, log_std)
        if mask is None:
            avg = torch.mean
        else:
            weight = mask / mask.sum().clamp(min=1.0)
            avg = lambda v: (v * weight).sum()  # noqa: E731
        with torch.no_grad():
            log_ratio = log_prob - old_log_prob
            kl = avg(torch.exp(log_ratio) - 1.0 - log_ratio)
        ratio = torch.exp(log_prob - old_log_prob)
        surrogate = torch.min(
            adv * ratio, adv * ratio.clamp(1.0 - cfg.ratio_clip, 1.0 + cfg.ratio_clip)
        )
        policy_loss = -avg(surrogate)
        entropy_loss = -cfg.entropy_loss_scale * avg(gaussian_entropy(log_std, x.shape[0]))
        if self.actor_frozen:
            policy_loss, entropy_loss = policy_loss * 0.0, entropy_loss * 0.0
        values = self.critic(x, cond)
        if cfg.value_clip > 0:
            values = old_values + (values - old_values).clamp(-cfg.value_clip, cfg.value_clip)
        value_loss = cfg.value_loss_scale * (returns - values).square().mean()
        return torch.stack([policy_loss, entropy_loss, value_loss]), kl

    def _adapt_learning_rate(self, kl: torch.Tensor) -> None:
        """skrl's KLAdaptiveLR (factor 2 band around the target, x/÷1.5, lr in [1e-6, max])."""
        if self.reduce_mean is not None:
            kl = self.reduce_mean(kl)
        kl_value = float(kl)  # one host sync per epoch
        target = self.cfg.kl_target
        if kl_value > 2.0 * target:
            self._set_learning_rate(max(self.learning_rate / 1.5, 1e-6))
        elif kl_value < target / 2.0:
            self._set_learning_rate(min(self.learning_rate * 1.5, self.cfg.learning_rate_max))

    def anneal_learning_rate(self, progress: float) -> None:
        """Call before each update; ``progress`` in [0, 1) is the share of training done so far.

        In the last ``cfg.lr_anneal_fraction`` of training the rate falls linearly from where
        KL adaptation left it towards 0 (adaptation stops there), so that the final policy is
        not the result of one more large step.
        """
        fraction = self.cfg.lr_anneal_fraction
        if fraction <= 0 or progress < 1.0 - fraction:
            return
        if self._anneal_from is None:
            self._anneal_from = self.learning_rate
        self._set_learning_rate(self._anneal_from * max(1.0 - progress, 0.0) / fraction)

    def _set_learning_rate(self, lr: float) -> None:
        self.learning_rate = lr
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)  # in place: captured steps read it
            else:
                group["lr"] = lr

    # -- checkpoints (skrl layout) --------------------------------------------------------------
    def state_dict(self) -> dict:
        """skrl checkpoint layout: policy, value, optimizer, observation/value preprocessors."""
        optimizer = self.optimizer.state_dict()
        for group in optimizer["param_groups"]:  # a float, as skrl writes it
            group["lr"] = float(group["lr"])
        return {
            "policy": self.actor.state_dict(),
            "value": self.critic.state_dict(),
            "optimizer": optimizer,
            "observation_preprocessor": self.obs_norm.state_dict(),
            "value_preprocessor": self.value_norm.state_dict(),
        }

    def load_state_dict(self, data: dict) -> None:
        """Load what a skrl-layout checkpoint holds (missing entries keep their values)."""
        modules = {
            "policy": self.actor, "value": self.critic, "optimizer": self.optimizer,
            "observation_preprocessor": self.obs_norm, "value_preprocessor": self.value_norm,
        }  # fmt: skip
        for name, module in modules.items():
            if name in data and data[name]:
                module.load_state_dict(data[name])
        if "optimizer" in data and data["optimizer"]:
            self.learning_rate = float(self.optimizer.param_groups[0]["lr"])
            # the file's device flags and float lr are not this optimizer's: restore ours
            for group in self.optimizer.param_groups:
                group.update(self._adam_flags, lr=self._lr_value(self.learning_rate))
            for state in self.optimizer.state.values():
                if self._adam_flags["capturable"] and "step" in state:
                    state["step"] = state["step"].to(self.device, torch.float32)
        if self.graphs is not None:
            self.graphs.reset()  # the optimizer state tensors were replaced
