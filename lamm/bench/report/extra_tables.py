"""Tables shown below a benchmark group's leaderboard, in the HTML and Markdown pages.

A builder takes a :class:`~lamm.bench.report.leaderboard.Group` and returns a
:class:`~lamm.bench.report.leaderboard.Table`, or ``None`` where the group has nothing for it (no run on
the table's datasets). A new table is one module with its builder and one entry in :data:`BUILDERS`; the
pages draw it with the leaderboard's own cell code (best value bold, intervals, "failed" reference cells).
"""

from __future__ import annotations

from collections.abc import Callable

from lamm.bench.report.leaderboard import Group, Table
from lamm.bench.report.suite3d_table import suite3d_table

BUILDERS: tuple[Callable[[Group], Table | None], ...] = (suite3d_table,)


def extra_tables(g: Group) -> list[Table]:
    """The tables of :data:`BUILDERS` that ``g`` has, in that order."""
    return [t for t in (build(g) for build in BUILDERS) if t is not None]
