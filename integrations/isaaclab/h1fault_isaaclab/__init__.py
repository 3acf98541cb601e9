"""h1fault for Isaac Lab 3.0: a fault event term and a raw-file recorder for manager-based tasks.

- :mod:`~h1fault_isaaclab.faults`: :class:`FaultEvent`, h1fault's fault model as an Isaac Lab
  event term (per env, via the articulation's effort-limit write; restored at every reset).
- :mod:`~h1fault_isaaclab.recorder`: :class:`RecorderEnv`, the 88-dim discriminator stream and the
  per-step fault state of any H1 velocity task, handed to h1fault's own collect loop and writer.
- :mod:`~h1fault_isaaclab.launch`: kit-less env creation with the offline asset root shipped here.

Lives in its own Python 3.12 environment (Isaac Lab pins torch 2.11, warp-lang 1.17, mujoco 3.12);
h1fault itself never imports Isaac Lab.
"""

__version__ = "0.1.0"
