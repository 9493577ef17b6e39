"""The leaderboards as plain text, one block per benchmark: what ``lamm report`` and ``lamm quickstart``
print to the terminal."""

from __future__ import annotations

from pathlib import Path

from lamm.bench.report.leaderboard import Group, group_runs
from lamm.bench.report.runs import load_runs


def leaderboard_text(run_dirs: list[str | Path]) -> str:
    """The leaderboards as plain text (for terminals), one per benchmark."""
    return groups_text(group_runs(load_runs(run_dirs)))


def groups_text(groups: list[Group]) -> str:
    """:func:`leaderboard_text` of groups already loaded (``write.load_groups``)."""
    blocks = []
    for g in groups:
        head = ["model", *[k for k, _ in g.cols]]
        body = [
            [
                row.name,
                *[
                    ("failed" if row.is_reference and k in row.values else "-")
                    if row.values.get(k) is None
                    else f"{row.values[k]:.2f}"
                    for k, _ in g.cols
                ],
            ]
            for row in g.rows
        ]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        table_text = "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body]
        )
        blocks.append(f"{g.title}\n{table_text}")
    return "\n\n".join(blocks)
