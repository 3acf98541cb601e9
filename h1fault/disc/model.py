"""The GRU fault discriminator: sequence forward for training, one-step streaming for deployment.

Both paths use the same weights. The sequence forward is ``torch.nn.GRU`` (cuDNN on GPU); the
streaming step re-implements one GRU step with plain matmuls (PyTorch's gate order r, z, n), which
TorchScript, ONNX and CUDA graphs all handle, and which equals the sequence forward up to float
rounding (tests/disc/test_disc_streaming.py, atol 1e-5 on probabilities).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from h1fault.disc.decision import DecisionRule, DecisionStep, raw_decision
from h1fault.disc.features import feature_dim, make_feature_map
from h1fault.errors import H1FaultError


class DiscriminatorNet(nn.Module):
    """Derived features → normalise → GRU → linear head. Feature constants and norm stats are
    buffers, so they travel in checkpoints."""

    def __init__(
        self,
        obs_dim: int,
        num_classes: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        norm_mean: torch.Tensor | None = None,
        norm_std: torch.Tensor | None = None,
        features: str = "raw",
        feature_constants: dict[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.num_classes = num_classes
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.features = features
        self.input_dim = feature_dim(features, obs_dim)
        """Model input width: ``obs_dim`` plus the derived features (see ``features``)."""
        self.feature_map = make_feature_map(features, feature_constants)
        d = self.input_dim
        mean = torch.zeros(d) if norm_mean is None else torch.as_tensor(norm_mean).float()
        std = torch.ones(d) if norm_std is None else torch.as_tensor(norm_std).float()
        if mean.shape != (d,) or std.shape != (d,):
            raise H1FaultError(
                f"normalisation stats must have shape ({d},), got {tuple(mean.shape)}"
            )
        self.register_buffer("obs_mean", mean.clone())
        self.register_buffer("obs_std", std.clone())
        self.gru = nn.GRU(d, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., obs_dim) raw observations → (..., input_dim) float32 normalised inputs."""
        return (self.feature_map(obs) - self.obs_mean) / self.obs_std

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Zero hidden state. Shape: (num_layers, batch, hidden_size)."""
        device = self.obs_mean.device if device is None else device
        return torch.zeros(self.num_layers, batch, self.hidden_size, device=device)

    def forward(
        self, obs: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-sequence forward.

        obs: (B, T, obs_dim) raw observations; every row is one episode segment (no episode
        boundary inside it). hidden: (num_layers, B, hidden_size) or None (zeros).
        Returns logits (B, T, num_classes) and the final hidden (num_layers, B, hidden_size).
        """
        out, h_n = self.gru(self.normalise(obs), hidden)
        return self.head(out), h_n


class _GRUStepLayer(nn.Module):
    """One GRU layer's weights (shared with the nn.GRU they come from) and its single step."""

    def __init__(
        self, w_ih: nn.Parameter, w_hh: nn.Parameter, b_ih: nn.Parameter, b_hh: nn.Parameter
    ) -> None:
        super().__init__()
        self.w_ih, self.w_hh, self.b_ih, self.b_hh = w_ih, w_hh, b_ih, b_hh

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x: (N, in), h: (N, H) → new h (N, H)."""
        gi = torch.addmm(self.b_ih, x, self.w_ih.t())
        gh = torch.addmm(self.b_hh, h, self.w_hh.t())
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return n + z * (h - n)


class StreamingStep(nn.Module):
    """Stateless streaming step (the exported function): normalise, reset, one GRU step, softmax.

    ``forward(obs (N, obs_dim), episode_start (N,) bool, hidden (L, N, H))
    -> (probs (N, C), new hidden (L, N, H))``. Rows with ``episode_start`` true start from a zero
    hidden state; other rows continue from ``hidden``.

    ``decide(probs, episode_start, state (3, N) int64) -> (declared (N,) int64, new state)``
    applies the decision rule (threshold, persistence, latch; see :mod:`h1fault.disc.decision`)
    with its state zeroed where ``episode_start``; ``initial_decision_state(N)`` gives zeros.
    """

    def __init__(self, net: DiscriminatorNet, rule: DecisionRule | None = None) -> None:
        super().__init__()
        self.decision = DecisionStep(rule)
        self.feature_map = net.feature_map
        self.register_buffer("obs_mean", net.obs_mean)
        self.register_buffer("obs_std", net.obs_std)
        g = net.gru
        self.layers = nn.ModuleList(
            _GRUStepLayer(
                getattr(g, f"weight_ih_l{k}"),
                getattr(g, f"weight_hh_l{k}"),
                getattr(g, f"bias_ih_l{k}"),
                getattr(g, f"bias_hh_l{k}"),
            )
            for k in range(net.num_layers)
        )
        self.head = net.head
        self.num_layers = net.num_layers
        self.hidden_size = net.hidden_size
        self.obs_dim = net.obs_dim

    @torch.jit.export
    def initial_state(self, num_envs: int) -> torch.Tensor:
        """Zero hidden state for ``num_envs`` envs. Shape: (L, num_envs, H)."""
        return torch.zeros(self.num_layers, num_envs, self.hidden_size, device=self.obs_mean.device)

    @torch.jit.export
    def initial_decision_state(self, num_envs: int) -> torch.Tensor:
        """Zero decision-rule state for ``num_envs`` envs. Shape: (3, num_envs) int64."""
        return self.decision.initial_state(num_envs, self.obs_mean.device)

    @torch.jit.export
    def decide(
        self, probs: torch.Tensor, episode_start: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Declared class per env (N,) int64 (0 = healthy) and the new rule state (3, N)."""
        return self.decision(probs, episode_start, state)

    def forward(
        self, obs: torch.Tensor, episode_start: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = (self.feature_map(obs) - self.obs_mean) / self.obs_std
        keep = torch.logical_not(episode_start).to(hidden.dtype).unsqueeze(-1)  # (N, 1)
        new_h: list[torch.Tensor] = []
        for k, layer in enumerate(self.layers):
            x = layer(x, hidden[k] * keep)
            new_h.append(x)
        probs = torch.softmax(self.head(x), dim=-1)
        return probs, torch.stack(new_h, 0)


class StreamingDiscriminator:
    """Deployment wrapper: one hidden state per env, advanced one control step per call.

    Example::

        disc = StreamingDiscriminator(net, num_envs=4096, device="cuda", cuda_graph=True,
                                      rule=meta.rule)
        probs = disc.step(obs, episode_start)   # obs (4096, 88), episode_start (4096,) bool
        # or, with the decision rule (threshold, persistence, latch) applied:
        declared, probs = disc.step_decision(obs, episode_start)   # declared (4096,) int64

    Pass ``episode_start[n] = True`` on the first observation of each new episode of env ``n``
    (after a reset, terminated or truncated); that env's hidden state and decision-rule state are
    zeroed before the step. With ``cuda_graph`` the step (and, for :meth:`step_decision`, the
    step and the rule together) is captured once and replayed; the returned tensors are then
    static buffers overwritten by the next call (clone them to keep them). Call either
    :meth:`step_decision` every step, or :meth:`step` and then :meth:`decide` with the same
    ``episode_start`` (the rule's persistence counter lives here).
    """

    def __init__(
        self,
        net: DiscriminatorNet | nn.Module,
        num_envs: int,
        device: str | torch.device = "cpu",
        cuda_graph: bool = False,
        rule: DecisionRule | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.num_envs = num_envs
        self.obs_dim = net.obs_dim
        self.rule = rule or DecisionRule()
        """The decision rule of :meth:`decide` (default: plain argmax, no persistence)."""
        # A private copy: moving shared Parameters to another device would move the caller's net.
        own = copy.deepcopy(net)
        make_step = getattr(own, "make_step", None)  # the residual detector brings its own step
        step = make_step(self.rule) if make_step is not None else StreamingStep(own, self.rule)
        self.step_module = step.to(self.device).eval()
        self.hidden = self.step_module.initial_state(num_envs)
        """Current hidden state. Shape: (L, num_envs, H)."""
        self.decision_state = self.step_module.initial_decision_state(num_envs)
        """Decision-rule state: run class, run length, latched class. Shape: (3, num_envs) int64."""
        self._graph: torch.cuda.CUDAGraph | None = None
        if cuda_graph:
            if self.device.type != "cuda":
                raise H1FaultError("cuda_graph needs a CUDA device")
            self._capture()

    def reset(self) -> None:
        """Zero every env's hidden and decision state (in place: a captured graph stays valid)."""
        self.hidden.zero_()
        self.decision_state.zero_()

    @torch.inference_mode()
    def _capture(self) -> None:
        n, d = self.num_envs, self.obs_dim
        self._obs = torch.zeros(n, d, device=self.device)
        self._start = torch.ones(n, dtype=torch.bool, device=self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up outside the graph (cuBLAS handles, allocator)
                self._eager_decision_step(self._obs, self._start)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._probs = self._eager_step(self._obs, self._start)
        # step + rule in one graph for step_decision (one launch instead of ~20 small kernels)
        self._graph_dec = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph_dec):
            self._declared_dec, self._probs_dec = self._eager_decision_step(self._obs, self._start)
        self.reset()

    def _eager_step(self, obs: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        probs, h = self.step_module(obs, episode_start, self.hidden)
        self.hidden.copy_(h)  # in place: the graph replays against this same buffer
        return probs

    def _eager_decide(self, probs: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        declared, state = self.step_module.decide(probs, episode_start, self.decision_state)
        self.decision_state.copy_(state)  # in place, as the hidden state
        return declared

    def _eager_decision_step(
        self, obs: torch.Tensor, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self._eager_step(obs, episode_start)
        return self._eager_decide(probs, episode_start), probs

    @torch.inference_mode()
    def step(self, obs: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        """Advance every env by one step.

        obs: (num_envs, obs_dim) raw observations. episode_start: (num_envs,) bool.
        Returns class probabilities (num_envs, num_classes), class 0 = healthy.
        """
        if self._graph is None:
            return self._eager_step(obs.to(self.device), episode_start.to(self.device))
        self._obs.copy_(obs)
        self._start.copy_(episode_start)
        self._graph.replay()
        return self._probs

    @torch.inference_mode()
    def decide(self, probs: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        """Advance the decision rule by one step: declared class per env (num_envs,) int64,
        0 = healthy. ``probs`` from :meth:`step` of the same step, same ``episode_start``."""
        return self._eager_decide(probs.to(self.device), episode_start.to(self.device))

    @torch.inference_mode()
    def step_decision(
        self, obs: torch.Tensor, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`step` then :meth:`decide`: (declared (num_envs,) int64, probs (num_envs, C)).

        With ``cuda_graph`` both run as one captured graph; the returned tensors are then static
        buffers overwritten by the next call."""
        if self._graph is None:
            return self._eager_decision_step(obs.to(self.device), episode_start.to(self.device))
        self._obs.copy_(obs)
        self._start.copy_(episode_start)
        self._graph_dec.replay()
        return self._declared_dec, self._probs_dec


def decide(probs: torch.Tensor, fault_threshold: float = 0.0) -> torch.Tensor:
    """Per-step raw decision: argmax, but a fault class only if its probability >=
    ``fault_threshold``. probs: (..., C), class 0 healthy → (...) int64. Persistence and latching
    need the episode: :mod:`h1fault.disc.decision`."""
    return raw_decision(probs, fault_threshold)
