"""``write_report``: load and group the runs, draw each group's figures into ``<stem>_files/``, attach
the extra tables, and write the page the suffix asks for (``.html`` self-contained, or ``.md``)."""

from __future__ import annotations

from pathlib import Path

from lamm.bench.report import plots
from lamm.bench.report.extra_tables import extra_tables
from lamm.bench.report.html_page import render_html
from lamm.bench.report.leaderboard import Group, group_runs
from lamm.bench.report.markdown_page import render_markdown
from lamm.bench.report.runs import Run, load_runs
from lamm.bench.report.training import training


def load_groups(run_dirs: list[str | Path]) -> tuple[list[Run], list[Group]]:
    """The runs and their groups with the extra tables attached: loaded (and a missing trivial baseline
    scored) once, for every page and the terminal text of one ``lamm report``."""
    runs = load_runs(run_dirs)
    groups = group_runs(runs)
    for g in groups:
        g.extra = extra_tables(g)
    return runs, groups


def write_report(
    run_dirs: list[str | Path], out: str | Path, *, loaded: tuple[list[Run], list[Group]] | None = None
) -> Path:
    """Write ``out`` (``.html`` self-contained, ``.md`` with a sibling ``<stem>_files/`` folder holding
    the figures, which the HTML also embeds); ``loaded``: :func:`load_groups` of ``run_dirs``, if the
    caller has it already."""
    out = Path(out)
    if out.suffix not in (".html", ".md"):
        raise ValueError(f"report must end in .html or .md, got {out.name}")
    runs, groups = loaded or load_groups(run_dirs)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = out.parent / f"{out.stem}_files"
    files.mkdir(exist_ok=True)
    figures: dict[str, dict[str, bytes]] = {}
    for gi, g in enumerate(groups):
        radar = plots.radar_png(g.cols, g.rows, g.title)
        figures[str(gi)] = {
            "scores": plots.scores_png(g.cols, g.rows, g.title),
            **({"radar": radar} if radar else {}),
        }
        (files / f"radar_{gi}.png").unlink(missing_ok=True)  # none this time: no stale one from a rerun
        for name, png in figures[str(gi)].items():
            (files / f"{name}_{gi}.png").write_bytes(png)
    trainings = [t for t in (training(r) for r in runs) if t is not None]
    curves = None
    if any(t.loss for t in trainings):
        curves = plots.curves_png([(t.run, t.steps, t.loss, t.lr) for t in trainings if t.loss])
        (files / "training.png").write_bytes(curves)
    if out.suffix == ".html":
        out.write_text(render_html(groups, figures, runs, trainings, curves), "utf-8")
    else:
        out.write_text(render_markdown(groups, files, files.name, trainings), "utf-8")
    return out
