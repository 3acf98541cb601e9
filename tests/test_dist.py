"""h1fault.dist: torchrun's environment, and every collective checked on a 2-process gloo run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from h1fault import dist as hdist
from h1fault.errors import H1FaultError

HERE = Path(__file__).resolve().parent


def test_no_torchrun_is_one_process_and_collectives_are_identities() -> None:
    d = hdist.init("cpu", environ={})
    assert not d.active and d.is_rank0 and d.world_size == 1
    assert d.seed(5) == 5 and d.env_id_offset(8) == 0
    x = torch.tensor([1.0, 2.0])
    assert d.allreduce_mean(x) is x and d.allreduce_sum(2.5) == 2.5
    assert d.gather_object(3) == [3]


def test_launch_from_env() -> None:
    assert hdist.launch_from_env({}) is None
    got = hdist.launch_from_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert got == hdist.Launch(rank=3, local_rank=1, world_size=4)


@pytest.mark.parametrize("env", [
    {"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "-1", "WORLD_SIZE": "2"},
    {"RANK": "x", "WORLD_SIZE": "2"}, {"RANK": "0", "WORLD_SIZE": "0"},
])  # fmt: skip
def test_bad_torchrun_env_is_a_one_line_error(env: dict) -> None:
    with pytest.raises(H1FaultError, match="RANK"):
        hdist.launch_from_env(env)


def test_explicit_gpu_index_refused_under_several_processes() -> None:
    launch = hdist.Launch(rank=1, local_rank=1, world_size=2)
    with pytest.raises(H1FaultError, match="pass --device cuda"):
        hdist.rank_device("cuda:0", launch)
    assert hdist.rank_device("cpu", launch) == torch.device("cpu")


def test_shard_path() -> None:
    assert hdist.shard_path("out/raw.h5", 3) == "out/raw.rank3.h5"


def test_combine_moments_equals_one_pass() -> None:
    g = torch.Generator().manual_seed(0)
    parts = [torch.randn(n, 5, generator=g, dtype=torch.float64) * (i + 1) + 100 * i
             for i, n in enumerate([7, 1, 0, 30])]  # fmt: skip
    stats = [hdist.batch_moments(p) if len(p) else
             (torch.tensor(0.0, dtype=torch.float64), torch.zeros(5, dtype=torch.float64),
              torch.zeros(5, dtype=torch.float64)) for p in parts]  # fmt: skip
    n, mu, m2 = hdist.combine_moments(*(torch.stack(c) for c in zip(*stats, strict=True)))
    n1, mu1, m21 = hdist.batch_moments(torch.cat(parts))
    assert float(n) == float(n1) == 38
    torch.testing.assert_close(mu, mu1, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(m2, m21, rtol=1e-12, atol=1e-9)


def test_two_process_gloo_collectives(tmp_path: Path, torchrun) -> None:
    torchrun(2, [str(HERE / "dist_worker.py"), str(tmp_path)], cwd=tmp_path)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    # rank 0's parameters and buffers everywhere
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
    torch.manual_seed(100)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).state_dict()
    torch.testing.assert_close(r0["state"]["0.weight"], ref["0.weight"])
    assert torch.equal(r0["state"]["1.running_mean"], ref["1.running_mean"] + 1.0)
    # gradients: the same on both ranks, the mean of the local ones
    for g0, g1, l0, l1 in zip(r0["grads"], r1["grads"], r0["local_grads"], r1["local_grads"],
                              strict=True):  # fmt: skip
        assert torch.equal(g0, g1)
        torch.testing.assert_close(g0, (l0 + l1) / 2)
    # moments: identical on both ranks and equal to one pass over the union of the shards
    n, mu, m2 = hdist.batch_moments(torch.cat([r0["x"], r1["x"]]))
    for a, b, want in zip(r0["moments"], r1["moments"], (n, mu, m2), strict=True):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, want, rtol=1e-12, atol=1e-9)
    assert float(r0["moments"][0]) == 5 + 8
    for r in (r0, r1):
        torch.testing.assert_close(r["mean_tensor"], torch.tensor([0.5, 2.0]))
        assert r["mean_float"] == 0.5 and r["sum_float"] == 6.0
        assert r["gathered"] == [("rank", 0), ("rank", 1)]
        assert r["broadcast"] == "from rank 0" and r["world"] == 2
    assert (r0["seed"], r1["seed"]) == (7, 7 + hdist.SEED_STRIDE)
    assert (r0["env_offset"], r1["env_offset"]) == (0, 4)


def test_single_process_commands_refuse_torchrun(monkeypatch) -> None:
    from typer.testing import CliRunner

    from h1fault.cli import app

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = CliRunner().invoke(app, ["joints"])
    assert res.exit_code == 1 and "joints runs in one process" in res.stderr, res.output
    assert res.stderr.count("\n") == 1
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun with one process: nothing to refuse
    assert CliRunner().invoke(app, ["joints"]).exit_code == 0
