"""Streaming step == full-sequence forward; the hidden state is zeroed exactly at episode starts.

Tolerance: probabilities and hidden states agree within atol 1e-5 (float32; the two paths use the
same weights but different kernels: nn.GRU vs explicit matmuls).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from h1fault.disc.lanes import lane_schedule
from h1fault.disc.model import DiscriminatorNet, StreamingDiscriminator, StreamingStep, decide
from h1fault.disc.streaming import stream_split
from h1fault.disc.train import predict_chunks
from h1fault.errors import H1FaultError

ATOL = 1e-5


def _net(layers: int = 2, seed: int = 0) -> DiscriminatorNet:
    torch.manual_seed(seed)
    mean, std = torch.randn(88), torch.rand(88) + 0.5
    return DiscriminatorNet(
        88, 5, hidden_size=16, num_layers=layers, norm_mean=mean, norm_std=std
    ).eval()


def _episodes(lengths: list[int], seed: int = 1):
    """Flat obs (S, 88) with episodes back to back, plus start/length arrays."""
    gen = torch.Generator().manual_seed(seed)
    length = np.asarray(lengths, dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    obs = 2.0 * torch.randn(int(length.sum()), 88, generator=gen)
    return obs, start, length


def _full_forward_probs(net, obs, start, length) -> torch.Tensor:
    """Reference: each episode alone through nn.GRU from a zero state. Returns (S, C)."""
    with torch.no_grad():
        parts = [
            torch.softmax(net(obs[a : a + n].unsqueeze(0))[0][0], -1)
            for a, n in zip(start.tolist(), length.tolist(), strict=True)
        ]
    return torch.cat(parts)


def test_streaming_batch_equals_full_sequence() -> None:
    """A batch of N episodes streamed step by step equals nn.GRU over each whole episode."""
    net = _net()
    n_env, t_len = 4, 30
    obs = torch.randn(n_env, t_len, 88) * 2
    with torch.no_grad():
        logits, h_full = net(obs)
    ref = torch.softmax(logits, -1)
    disc = StreamingDiscriminator(net, n_env)
    start = torch.zeros(n_env, dtype=torch.bool)
    for t in range(t_len):
        probs = disc.step(obs[:, t], start if t else ~start)
        torch.testing.assert_close(probs, ref[:, t], atol=ATOL, rtol=0)
    torch.testing.assert_close(disc.hidden, h_full, atol=ATOL, rtol=0)


def test_lanes_of_back_to_back_episodes_stream_like_isolated_episodes() -> None:
    """Lanes playing several episodes in a row reset at every boundary (eval path)."""
    net = _net()
    obs, start, length = _episodes([7, 13, 5, 20, 1, 9, 11])
    split = type("S", (), {})()  # stream_split only needs these attributes
    split.obs, split.ep_start, split.ep_length, split.num_samples, split.name = (
        obs,
        start,
        length,
        obs.shape[0],
        "t",
    )
    ref = _full_forward_probs(net, obs, start, length)
    got = stream_split(net, split, num_envs=3)  # 7 episodes on 3 lanes: boundaries mid-lane
    torch.testing.assert_close(got, ref, atol=ATOL, rtol=0)


def test_carrying_state_across_a_boundary_would_be_caught() -> None:
    """Negative control: the same stream without the reset gives visibly different outputs."""
    net = _net()
    obs, start, length = _episodes([15, 15])
    ref = _full_forward_probs(net, obs, start, length)
    disc = StreamingDiscriminator(net, 1)
    out = []
    for t in range(obs.shape[0]):
        out.append(disc.step(obs[t : t + 1], torch.tensor([t == 0])).clone())  # no reset at 15
    got = torch.cat(out)
    torch.testing.assert_close(got[:15], ref[:15], atol=ATOL, rtol=0)
    assert (got[15:] - ref[15:]).abs().max() > 1e-3


def test_episode_start_zeroes_only_the_flagged_envs() -> None:
    net = _net()
    torch.manual_seed(3)
    disc = StreamingDiscriminator(net, 3)
    cont = StreamingDiscriminator(net, 3)  # same inputs, never reset after t=0
    fresh = StreamingDiscriminator(net, 3)
    for t in range(6):
        x = torch.randn(3, 88)
        first = torch.full((3,), t == 0)
        disc.step(x, first)
        cont.step(x, first)
    x = torch.randn(3, 88)
    got = disc.step(x, torch.tensor([True, False, True]))
    want_cont = cont.step(x, torch.zeros(3, dtype=torch.bool))
    want_fresh = fresh.step(x, torch.ones(3, dtype=torch.bool))
    torch.testing.assert_close(got[[0, 2]], want_fresh[[0, 2]], atol=ATOL, rtol=0)
    torch.testing.assert_close(got[1], want_cont[1], atol=ATOL, rtol=0)
    assert (got[0] - want_cont[0]).abs().max() > 1e-4  # env 0 really had a state to drop


def test_stateless_step_and_reset() -> None:
    net = _net(layers=1)
    step = StreamingStep(net)
    h = step.initial_state(2)
    assert h.shape == (1, 2, 16) and not h.any()
    x = torch.randn(2, 88)
    p1, h1 = step(x, torch.tensor([True, True]), 5 * torch.ones(1, 2, 16))
    p0, h0 = step(x, torch.tensor([False, False]), h)
    torch.testing.assert_close(p1, p0)  # a reset state equals a zero state
    torch.testing.assert_close(p1.sum(-1), torch.ones(2))
    disc = StreamingDiscriminator(net, 2)
    disc.step(x, torch.tensor([True, True]))
    disc.reset()
    assert not disc.hidden.any()


def test_chunked_training_forward_equals_whole_episodes() -> None:
    """The training path (lanes × chunks, hidden carried between chunks, zeroed at episode
    starts) gives the same logits as each episode through nn.GRU alone."""
    net = _net()
    obs, start, length = _episodes([7, 40, 5, 33, 64, 1, 18], seed=4)
    sched = lane_schedule(start, length, num_lanes=3, chunk_len=8, rng=np.random.default_rng(0))
    got = torch.softmax(predict_chunks(net, obs, sched), -1)
    ref = _full_forward_probs(net, obs, start, length)
    torch.testing.assert_close(got, ref, atol=ATOL, rtol=0)


def test_decide_threshold() -> None:
    probs = torch.tensor([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    assert decide(probs).tolist() == [1, 0, 2]
    assert decide(probs, 0.6).tolist() == [0, 0, 2]


def test_cuda_graph_needs_cuda() -> None:
    with pytest.raises(H1FaultError, match="cuda_graph needs a CUDA device"):
        StreamingDiscriminator(_net(), 2, device="cpu", cuda_graph=True)


@pytest.mark.cuda
def test_cuda_graph_step_equals_eager_and_cpu() -> None:
    net = _net()
    cpu = StreamingDiscriminator(net, 64)
    eager = StreamingDiscriminator(net, 64, device="cuda")
    graph = StreamingDiscriminator(net, 64, device="cuda", cuda_graph=True)
    gen = torch.Generator().manual_seed(5)
    for t in range(20):
        x = 2 * torch.randn(64, 88, generator=gen)
        s = (torch.rand(64, generator=gen) < 0.1) | (t == 0)
        want = cpu.step(x, s)
        got_e = eager.step(x.cuda(), s.cuda()).cpu()
        got_g = graph.step(x.cuda(), s.cuda()).cpu()
        torch.testing.assert_close(got_e, want, atol=1e-4, rtol=0)
        torch.testing.assert_close(got_g, got_e, atol=1e-6, rtol=0)


@pytest.mark.cuda
def test_cuda_stream_split_equals_cpu() -> None:
    net = _net()
    obs, start, length = _episodes([7, 13, 5, 20, 1, 9, 11])
    split = type("S", (), {})()
    split.obs, split.ep_start, split.ep_length = obs, start, length
    split.num_samples, split.name = obs.shape[0], "t"
    ref = stream_split(net, split, num_envs=3)
    for graph in (False, True):
        got = stream_split(net, split, num_envs=3, device="cuda", cuda_graph=graph)
        torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


@pytest.mark.cuda
def test_cuda_graph_step_decision_equals_cpu() -> None:
    """With pd features and a latched persistence rule, the replayed graph's probabilities match
    the CPU's, and the rule run after it declares exactly what the CPU rule declares on those
    same probabilities (episode starts mid-stream)."""
    from h1fault.disc.decision import DecisionRule, DecisionStep
    from h1fault.disc.features import pd_constants

    torch.manual_seed(0)
    net = DiscriminatorNet(88, 5, 16, 1, features="pd", feature_constants=pd_constants()).eval()
    rule = DecisionRule(0.3, 2, latch=True)
    cpu = StreamingDiscriminator(net, 64, rule=rule)
    graph = StreamingDiscriminator(net, 64, device="cuda", cuda_graph=True, rule=rule)
    ref_rule = DecisionStep(rule)
    state = ref_rule.initial_state(64, torch.device("cpu"))
    gen = torch.Generator().manual_seed(6)
    for t in range(30):
        x = 2 * torch.randn(64, 88, generator=gen)
        s = (torch.rand(64, generator=gen) < 0.1) | (t == 0)
        p_cpu = cpu.step(x, s)
        got, p_gpu = graph.step_decision(x.cuda(), s.cuda())
        torch.testing.assert_close(p_gpu.cpu(), p_cpu, atol=1e-4, rtol=0)
        want, state = ref_rule(p_gpu.cpu(), s, state)
        assert torch.equal(got.cpu(), want)
