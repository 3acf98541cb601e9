"""Parallel precompile of the step's Warp modules: the dry pass finds what a real step loads,
launches nothing, and leaves the physics unchanged."""

from __future__ import annotations

import pytest
import torch

from h1fault.sim.model import load_model

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("mujoco_warp")
    from h1fault.sim.warp_backend import WarpBackend

    return WarpBackend(load_model(), 2, CPU, 5, compile_workers=2)


def _loads_during(fn) -> set[tuple[str, object]]:
    """(module name, block_dim) of every Module.load a call of ``fn`` makes."""
    from warp._src import context

    real, seen = context.Module.load, set()

    def spy(module, device, block_dim=None, *args, **kwargs):
        seen.add((module.name, block_dim))
        return real(module, device, block_dim, *args, **kwargs)

    context.Module.load = spy
    try:
        fn()
    finally:
        context.Module.load = real
    return seen


def test_dry_pass_finds_every_module_a_real_step_loads(backend):
    from warp._src import context

    from h1fault.sim.warp_compile import _dry_launches

    found: dict = {}
    wp = backend._wp
    patched = (context.Module.load, wp.capture_while, wp.capture_if, wp.get_suggested_block_size)
    with wp.ScopedDevice(backend._wp_device), _dry_launches(wp, found):
        backend._all_launches()
    restored = (context.Module.load, wp.capture_while, wp.capture_if, wp.get_suggested_block_size)
    assert restored == patched
    dry = {(m.name, b) for m, b in found.values()}
    real = _loads_during(backend._simulate)
    assert len(real) > 20  # the H1 step launches dozens of modules
    missed = real - dry
    assert not missed, f"the dry pass missed {sorted(missed)[:5]}"


def test_dry_pass_launches_nothing(backend):
    from h1fault.sim.warp_compile import _dry_launches

    backend.step(torch.zeros(2, backend.model.nu))
    qpos = backend.qpos.clone()
    with backend._wp.ScopedDevice(backend._wp_device), _dry_launches(backend._wp, {}):
        backend._simulate_launches()
    assert torch.equal(backend.qpos, qpos)


def test_precompiled_backend_steps_as_the_lazy_one(backend):
    from h1fault.sim.warp_backend import WarpBackend

    assert backend.precompile_report is not None and backend.precompile_report.modules > 20
    lazy = WarpBackend(backend.model, 2, CPU, 5, compile_workers=0)
    assert lazy.precompile_report is None
    fresh = WarpBackend(backend.model, 2, CPU, 5, compile_workers=2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        ctrl = 0.3 * torch.randn(2, backend.model.nu, generator=gen)
        lazy.step(ctrl)
        fresh.step(ctrl)
    assert torch.equal(lazy.qpos, fresh.qpos) and torch.equal(lazy.qvel, fresh.qvel)
