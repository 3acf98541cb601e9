"""``dataset stats``: describe a built dataset (or a raw file) and validate it against the fault
distribution recorded in its attrs.

Three steps, three modules: :mod:`~h1fault.data.summary` reads the file into a ``Summary``,
:mod:`~h1fault.data.checks` runs the checks (listed there), :mod:`~h1fault.data.report` builds
the JSON report, its one-line failure summary and the plot. This module joins them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from h1fault.data.checks import P_THRESHOLD, Check, check_joint_distribution, run_checks
from h1fault.data.report import failed_summary, plot_report, report
from h1fault.data.summary import Summary, summarize

__all__ = [
    "P_THRESHOLD",
    "Check",
    "Summary",
    "check_joint_distribution",
    "dataset_stats",
    "failed_summary",
    "plot_report",
    "quick_warnings",
    "report",
    "run_checks",
    "summarize",
]


def dataset_stats(
    path: str | Path,
    allow_partial: bool = False,
    threshold: float = P_THRESHOLD,
    progress: bool = False,
) -> dict[str, Any]:
    """Summarise, check and report one file (the ``dataset stats`` command without printing)."""
    s = summarize(path, allow_partial=allow_partial, progress=progress)
    return report(s, run_checks(s, threshold), threshold)


def quick_warnings(path: str | Path) -> list[str]:
    """Failed checks of a freshly built dataset, from its episode table only (no obs read)."""
    s = summarize(path, read_arrays=False)
    return [f"{c.name}: {c.message}" for c in run_checks(s) if c.status == "fail"]
