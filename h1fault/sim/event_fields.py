"""The fields of a fault event, named once (no imports: the data layer's format reads it too).

Used by the env's ``info["fault_events"]`` (:class:`~h1fault.sim.step_info.FaultEvents`), the raw
file's ``events`` table (:data:`h1fault.data.schema.EVENT_DTYPE`, which adds the stored dtypes)
and everything that writes one (collect, the synthetic writer).
"""

EVENT_KEYS = ("env", "episode", "step_in_episode", "global_step", "joint", "scale", "limit")
"""Fields of one fault onset: env index, its episode, step in that episode, global step (row of
the raw file), joint (model index), kept fraction of the nominal limit, the cut limit (N·m)."""
