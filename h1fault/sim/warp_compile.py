"""Compile the Warp modules of a physics step side by side, before the step first runs.

Warp compiles a module the first time one of its kernels is launched, one module after the other.
The H1 reset and step launch about 50 modules (mujoco_warp builds most of its kernels per model),
so a cold start (empty kernel cache) spent 80 s compiling them in a row on the H200 machine
while the other CPU cores sat idle (``benchmarks/cold_start.py``).

:func:`precompile` finds the modules with a *dry pass*: it runs the step's Python code while
``Module.load`` only records ``(module, block_dim)`` and returns nothing, which Warp's
``launch`` treats as "skip this launch". mujoco_warp's step never reads device data on the host
(it must be capturable as a CUDA graph), so which kernels it launches depends on the model alone
and the dry pass sees the same launches as a real one. The recorded modules are then compiled and
loaded by a pool of threads (NVRTC and LLVM release the GIL while they compile).

This changes speed only, never results: the dry pass computes nothing, and a module it missed
(or compiled for another block size) is still compiled on its first real launch, as before.
The dry pass patches Warp process-wide for its half second: no other thread may launch Warp
kernels meanwhile (their launches would be skipped).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class PrecompileReport:
    """What :func:`precompile` did."""

    modules: int
    """(module, block size) variants the dry pass found."""
    workers: int
    """Threads that compiled them."""
    dry_pass_s: float
    """Seconds spent in the dry pass."""
    compile_s: float
    """Seconds spent compiling and loading (wall-clock, all threads)."""


def default_workers() -> int:
    """Compile threads: one per CPU core, at most 32 (the step has ~50 modules)."""
    return max(1, min(32, os.cpu_count() or 1))


@contextlib.contextmanager
def _dry_launches(wp: ModuleType, found: dict[tuple[int, Any], tuple[Any, Any]]) -> Iterator[None]:
    """Inside: launches record their module into ``found`` and run nothing.

    Also patched for the pass: CUDA-graph conditionals run each branch or loop body once (a
    ``capture_while`` outside a capture would loop until a counter that no kernel decrements
    reaches zero), and occupancy queries, which need a loaded module, record it and answer a
    plausible block size.
    """
    from warp._src import context

    module_cls = context.Module
    real_load = module_cls.load
    real_while, real_if = wp.capture_while, wp.capture_if
    real_occupancy = wp.get_suggested_block_size

    def record(module, device, block_dim=None, *args, **kwargs):
        found.setdefault((id(module), block_dim), (module, block_dim))
        return None

    def run_body_once(condition, while_body, stream=None, **kwargs):
        while_body(**kwargs)

    def run_branches_once(condition, on_true=None, on_false=None, stream=None, **kwargs):
        for branch in (on_true, on_false):
            if callable(branch):
                branch(**kwargs)

    def occupancy(kernel, device=None):
        found.setdefault((id(kernel.module), None), (kernel.module, None))
        return 256, 1

    module_cls.load = record
    wp.capture_while, wp.capture_if = run_body_once, run_branches_once
    wp.get_suggested_block_size = occupancy
    try:
        yield
    finally:
        module_cls.load = real_load
        wp.capture_while, wp.capture_if = real_while, real_if
        wp.get_suggested_block_size = real_occupancy


def precompile(
    wp: ModuleType, device: Any, launches: Callable[[], None], workers: int | None = None
) -> PrecompileReport:
    """Compile and load every Warp module ``launches()`` would launch on ``device``, in parallel.

    wp: the ``warp`` module. device: a Warp device. launches: runs the step's launches (under
    the dry pass it computes nothing; its device data must not be read afterwards without a
    real reset). workers: compile threads (default :func:`default_workers`); 1 compiles in a
    row, which only helps as a test of the dry pass.
    """
    workers = workers or default_workers()
    found: dict[tuple[int, Any], tuple[Any, Any]] = {}
    t0 = time.perf_counter()
    with wp.ScopedDevice(device), _dry_launches(wp, found):
        launches()
    t1 = time.perf_counter()
    variants = list(found.values())
    if workers <= 1:
        for module, block_dim in variants:
            module.load(device, block_dim)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(m.load, device, b) for m, b in variants]:
                future.result()
    return PrecompileReport(len(variants), workers, t1 - t0, time.perf_counter() - t1)
