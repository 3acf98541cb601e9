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

from h1fault.errors import H1FaultError


class DiscriminatorNet(nn.Module):
    """Normalise → GRU → linear head. The norm stats are buffers, so they travel in checkpoints."""

    def __init__(
        self,
        obs_dim: int,
        num_classes: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        norm_mean: torch.Tensor | None = None,
        norm_std: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.num_classes = num_classes
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        mean = torch.zeros(obs_dim) if norm_mean is None else torch.as_tensor(norm_mean).float()
        std = torch.ones(obs_dim) if norm_std is None else torch.as_tensor(norm_std).float()
        self.register_buffer("obs_mean", mean.clone())
        self.register_buffer("obs_std", std.clone())
        self.gru = nn.GRU(obs_dim, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., obs_dim) raw observations → float32 normalised."""
        return (obs.float() - self.obs_mean) / self.obs_std

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
    """

    def __init__(self, net: DiscriminatorNet) -> None:
        super().__init__()
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

    @torch.jit.export
    def initial_state(self, num_envs: int) -> torch.Tensor:
        """Zero hidden state for ``num_envs`` envs. Shape: (L, num_envs, H)."""
        return torch.zeros(self.num_layers, num_envs, self.hidden_size, device=self.obs_mean.device)

    def forward(
        self, obs: torch.Tensor, episode_start: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = (obs.float() - self.obs_mean) / self.obs_std
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

        disc = StreamingDiscriminator(net, num_envs=4096, device="cuda", cuda_graph=True)
        probs = disc.step(obs, episode_start)   # obs (4096, 88), episode_start (4096,) bool

    Pass ``episode_start[n] = True`` on the first observation of each new episode of env ``n``
    (after a reset, terminated or truncated); that env's hidden state is zeroed before the step.
    With ``cuda_graph`` the step is captured once and replayed; the returned tensor is then a
    static buffer overwritten by the next call (clone it to keep it).
    """

    def __init__(
        self,
        net: DiscriminatorNet,
        num_envs: int,
        device: str | torch.device = "cpu",
        cuda_graph: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.num_envs = num_envs
        # A private copy: moving shared Parameters to another device would move the caller's net.
        self.step_module = StreamingStep(copy.deepcopy(net)).to(self.device).eval()
        self.hidden = self.step_module.initial_state(num_envs)
        """Current hidden state. Shape: (L, num_envs, H)."""
        self._graph: torch.cuda.CUDAGraph | None = None
        if cuda_graph:
            if self.device.type != "cuda":
                raise H1FaultError("cuda_graph needs a CUDA device")
            self._capture()

    def reset(self) -> None:
        """Zero every env's hidden state (in place, so a captured graph stays valid)."""
        self.hidden.zero_()

    @torch.inference_mode()
    def _capture(self) -> None:
        n, d = self.num_envs, self.step_module.obs_mean.shape[0]
        self._obs = torch.zeros(n, d, device=self.device)
        self._start = torch.ones(n, dtype=torch.bool, device=self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up outside the graph (cuBLAS handles, allocator)
                self._eager_step(self._obs, self._start)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._probs = self._eager_step(self._obs, self._start)
        self.reset()

    def _eager_step(self, obs: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        probs, h = self.step_module(obs, episode_start, self.hidden)
        self.hidden.copy_(h)  # in place: the graph replays against this same buffer
        return probs

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


def decide(probs: torch.Tensor, fault_threshold: float = 0.0) -> torch.Tensor:
    """The decision rule: argmax, but a fault class only if its probability >= ``fault_threshold``.

    probs: (..., C) with class 0 healthy. Returns (...) int64 class indices.
    """
    prob, cls = probs.max(dim=-1)
    if fault_threshold > 0:
        cls = torch.where((cls != 0) & (prob < fault_threshold), torch.zeros_like(cls), cls)
    return cls
