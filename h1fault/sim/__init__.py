"""Simulation: the H1 model, batched physics backends and the velocity task with torque faults.

- Contracts: :mod:`~h1fault.sim.contract` (``VecEnv``, ``StepResult``, ``Policy``: what every
  consumer depends on) and :mod:`~h1fault.sim.backend` (``PhysicsBackend``: batched MuJoCo state
  as torch tensors).
- Physics: :mod:`~h1fault.sim.model` (MJCF, joint tables, limits),
  :mod:`~h1fault.sim.cpu_backend` (MuJoCo C), :mod:`~h1fault.sim.warp_backend` (MuJoCo Warp,
  CUDA graphs), :mod:`~h1fault.sim.backend_factory` (backends by name).
- Task: :mod:`~h1fault.sim.task` (configs), pure term functions in
  :mod:`~h1fault.sim.observations`, :mod:`~h1fault.sim.rewards`,
  :mod:`~h1fault.sim.terminations`, :mod:`~h1fault.sim.commands`, :mod:`~h1fault.sim.quat`;
  :mod:`~h1fault.sim.faults` (fault distribution and per-env schedule).
- The env: :mod:`~h1fault.sim.vec_env` (``H1VecEnv``: state, resets, CUDA-graph plumbing) and
  :mod:`~h1fault.sim.step_info` (lazy per-step fault events and episode logs).

Nothing is imported here, so ``h1fault.sim.contract`` loads without MuJoCo.
"""
