"""h1fault: fault-tolerant humanoid locomotion research on the Unitree H1."""

__version__ = "0.1.0"
