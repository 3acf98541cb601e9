"""Checks of user-given numbers: one-line errors naming the option and the value (NaN, inf,
zero or negative counts are refused before any work). No heavy imports here."""

from __future__ import annotations

import math

from h1fault.errors import H1FaultError


def at_least(name: str, value: int, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum``, else a one-line error."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise H1FaultError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def number_in(
    name: str,
    value: float,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """``value`` if it is finite and in the interval (bounds closed unless ``*_open``), else a
    one-line error that states the interval."""
    v = float(value)
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        if math.isinf(lo) and math.isinf(hi):
            want = "a finite number"
        elif math.isinf(hi):
            want = f"{'>' if lo_open else '>='} {lo:g}"
        elif math.isinf(lo):
            want = f"{'<' if hi_open else '<='} {hi:g}"
        else:
            want = f"in {left}{lo:g}, {hi:g}{right}"
        raise H1FaultError(f"{name} must be {want}, got {value}")
    return v
