"""Derived PD features: hand-computed values, streaming == sequence, export and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from h1fault.disc import DiscConfig, StreamingDiscriminator, load_checkpoint, train
from h1fault.disc.export import export
from h1fault.disc.features import PDFeatures, feature_dim, feature_stats, pd_constants
from h1fault.disc.model import DiscriminatorNet
from h1fault.errors import H1FaultError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit in torch 2.13


def _constants() -> dict[str, torch.Tensor]:
    n = 19
    return {
        "default": torch.full((n,), 0.5),
        "lower": torch.full((n,), -1.0),
        "upper": torch.full((n,), 1.0),
        "kp": torch.full((n,), 100.0),
        "kd": torch.full((n,), 10.0),
        "limit": torch.full((n,), 20.0),
        "action_scale": torch.tensor(0.5),
    }


def test_pd_features_by_hand() -> None:
    obs = torch.zeros(2, 88)
    # joint 0: action 0.2 -> target 0.6 (rel 0.1); q_rel 0.05 -> error 0.05; qd 0.1
    # command 100 * 0.05 - 10 * 0.1 = 4; applied torque 4 -> residual 0
    obs[0, 50], obs[0, 12], obs[0, 31], obs[0, 69] = 0.2, 0.05, 0.1, 4.0
    # joint 1: action 2 -> target 1.5 clamped to 1 (rel 0.5); command 50 clipped to 20;
    # applied 5 (a cut limit) -> residual -15
    obs[1, 51], obs[1, 70] = 2.0, 5.0
    x = PDFeatures(_constants())(obs)
    assert x.shape == (2, feature_dim("pd")) == (2, 126)
    torch.testing.assert_close(x[:, :88], obs)
    err, res = x[:, 88:107], x[:, 107:]
    assert err[0, 0].item() == pytest.approx(0.05)
    assert res[0, 0].item() == pytest.approx(0.0, abs=1e-5)
    assert err[1, 1].item() == pytest.approx(0.5) and res[1, 1].item() == pytest.approx(-15.0)
    assert res[0, 2].item() == 0.0  # all-zero joint: no command, no torque


def test_pd_constants_of_the_sim_model() -> None:
    c = pd_constants()
    assert c["kp"][0] == 800 and c["kp"][12] == 400 and (c["kd"] > 0).all()
    assert c["limit"][3] == 300 and float(c["action_scale"]) == 0.5
    assert (c["lower"] < c["upper"]).all()


def test_feature_stats_match_direct() -> None:
    fmap = PDFeatures(_constants())
    obs = torch.randn(1000, 88)
    mean, std = feature_stats(fmap, obs, 88, chunk=128)
    x = fmap(obs)[:, 88:].double()
    np.testing.assert_allclose(mean, x.mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(std, x.std(0).numpy(), rtol=1e-5)


def test_pd_net_streams_like_the_sequence_forward() -> None:
    torch.manual_seed(0)
    d = feature_dim("pd")
    net = DiscriminatorNet(
        88, 5, 16, 1, torch.randn(d), torch.rand(d) + 0.5, features="pd",
        feature_constants=_constants(),
    ).eval()  # fmt: skip
    obs = 2 * torch.randn(3, 20, 88)
    with torch.no_grad():
        ref = torch.softmax(net(obs)[0], -1)
    disc = StreamingDiscriminator(net, 3)
    for t in range(20):
        p = disc.step(obs[:, t], torch.full((3,), t == 0))
        torch.testing.assert_close(p, ref[:, t], atol=1e-5, rtol=0)
    with pytest.raises(H1FaultError, match=r"normalisation stats must have shape \(126,\)"):
        DiscriminatorNet(88, 5, 16, norm_mean=torch.zeros(88), features="pd")


def test_train_export_and_reload_with_pd_features(tiny_ds, tmp_path: Path) -> None:
    cfg = DiscConfig(
        hidden_size=8, chunk_len=16, batch_lanes=16, epochs=1, device="cpu", features="pd"
    )
    res = train(tiny_ds, cfg, log_root=tmp_path, progress=False, tensorboard=False)
    net, meta = load_checkpoint(res.best_checkpoint)
    assert meta.features == "pd" and net.input_dim == 126
    assert net.feature_map.pd_kp[0] == 800  # the constants travel in the checkpoint
    assert net.obs_mean.shape == (126,)
    out = export(res.best_checkpoint, tmp_path / "pd.ts")
    assert out["max_abs_diff"] < 1e-6
    m = torch.jit.load(str(tmp_path / "pd.ts"))
    obs = torch.randn(2, 88)
    p, _ = m(obs, torch.ones(2, dtype=torch.bool), m.initial_state(2))
    ref = StreamingDiscriminator(net, 2).step(obs, torch.ones(2, dtype=torch.bool))
    torch.testing.assert_close(p, ref, atol=1e-6, rtol=0)
    blob = torch.load(res.best_checkpoint, weights_only=True)
    assert blob["meta"]["features"] == "pd"
    with pytest.raises(H1FaultError, match="features must be one of raw, pd, phys"):
        DiscConfig(features="fft")


def test_phys_features_are_the_residual_in_noise_bounds() -> None:
    from h1fault.disc.features import PhysFeatures, phys_constants
    from h1fault.disc.residual import ResidualDetector, ResidualParams

    fmap = PhysFeatures(phys_constants())
    det = ResidualDetector(ResidualParams.from_model(gate=2.0), tuple([-1, *range(19)]))
    obs = torch.randn(6, 88)
    obs[:, 12:31] *= 0.05  # near the default pose, targets inside the joint range
    obs[:, 50:69] *= 0.1
    obs[:, 69:] *= 5.0  # torques well below every limit: the detector's gate is open
    x = fmap(obs)
    assert x.shape == (6, feature_dim("phys")) == (6, 60)
    torch.testing.assert_close(x[:, :19], det.z(obs).clamp(-10, 10), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x[:, 19:38], obs[:, 69:] / det.limit)
    torch.testing.assert_close(x[:, 57:], obs[:, 6:9])  # projected gravity
    # the gait does not enter except through the command: a joint position change that the
    # action follows leaves every input unchanged
    moved = obs.clone()
    moved[:, 12] += 0.01
    moved[:, 50] += 0.02  # action_scale 0.5: the target moves with the joint
    torch.testing.assert_close(fmap(moved), x, atol=1e-3, rtol=1e-4)


def test_train_export_and_reload_with_phys_features(tiny_ds, tmp_path: Path) -> None:
    cfg = DiscConfig(
        hidden_size=8, chunk_len=16, batch_lanes=16, epochs=1, device="cpu", features="phys"
    )
    res = train(tiny_ds, cfg, log_root=tmp_path, progress=False, tensorboard=False)
    net, meta = load_checkpoint(res.best_checkpoint)
    assert meta.features == "phys" and net.input_dim == 60
    assert torch.equal(net.obs_mean, torch.zeros(60)) and torch.equal(net.obs_std, torch.ones(60))
    assert net.feature_map.phys_kp[0] == 800 and net.feature_map.phys_bound[0] > 0
    out = export(res.best_checkpoint, tmp_path / "phys.ts")
    assert out["max_abs_diff"] < 1e-6
