"""The 3D suite's table (issue 16): every suite metric of a group's runs in the units the papers print
(EM, Acc, F1 in percent; CIDEr, BLEU, ROUGE-L x100), beside the published numbers of
``lamm/bench/reference_3d.json`` as reference rows, each labelled with its paper and table.

It is shown where the group holds one of the suite's own datasets (a task file with ``sys_group=SUITE3D``:
ScanQA, SQA3D, Scan2Cap, Multi3DRefer); ScanRefer, LAMM's own task that the suite shares, joins it then.
A group of LAMM's 3D datasets alone (the quickstart's) gets no table, so its report is as before. The
suite datasets also stay in the leaderboard above by their headline metric, where they have intervals,
the trivial baseline and the charts; this table adds their other metrics and the papers' rows, whose
values never compete for the bold best (they are on other benchmarks, under other protocols).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from lamm.bench.provenance import LAMM_MINI
from lamm.bench.report.leaderboard import Group, Row, Table
from lamm.tasks import DatasetSpec, all_datasets

TITLE = "3D suite, with published numbers"
NOT_COMPUTED = "not computed"  # a column with no result field (METEOR: pycocoevalcap runs it in Java)
UNIT_LABEL = {"fraction": "%", "x100": "x100"}


@lru_cache(maxsize=1)
def published() -> dict[str, Any]:
    """``lamm/bench/reference_3d.json``: sources, and rows ``{model, source, primary, setting, metrics}``."""
    return json.loads(resources.files("lamm.bench").joinpath("reference_3d.json").read_text("utf-8"))


def suite_columns(keys: set[str]) -> list[tuple[DatasetSpec, str, str, str]]:
    """(spec, column, result field, unit) of the datasets of ``keys`` with report columns, in registry order."""
    return [(s, name, f, unit) for s in all_datasets() if s.key in keys for name, f, unit in s.columns]


def cell_value(entry: dict[str, Any] | None, field: str, unit: str) -> float | None:
    """A result field of a ``results.json`` dataset entry in display units (``value`` is the headline,
    the other fields are under ``score``); None where the entry or the field is missing."""
    if not entry:
        return None
    v = entry.get("value") if field == "value" else (entry.get("score") or {}).get(field)
    if v is None:
        return None
    return 100.0 * v if unit == "fraction" else float(v)


def cite(src: dict[str, str]) -> str:
    """A source's short citation: the paper's name and its table (``Video-3D LLM Table 1``)."""
    m = re.match(r"Table \d+|README", src["table"])
    return f"{src['title'].split(':')[0]} {m.group(0) if m else src['table']}"


def reference_rows(cols: list[tuple[DatasetSpec, str, str, str]]) -> tuple[list[Row], list[str]]:
    """A ``paper`` row per reference_3d.json row with a value in ``cols`` (only the columns it reports;
    the others are drawn "—"), labelled ``model — paper table, arXiv id``, ``cited in`` where the source
    is another paper's citation of the model; and the keys of the sources these rows cite."""
    ref = published()
    names = {name for _, name, _, _ in cols}
    rows, sources = [], []
    for r in ref["rows"]:
        values = {k: float(v) for k, v in r["metrics"].items() if k in names}
        if values:
            src = ref["sources"][r["source"]]
            by = "" if r["primary"] else "cited in "
            rows.append(Row(f"{r['model']} — {by}{cite(src)}, arXiv {src['arxiv']}", "paper", values))
            sources += [] if r["source"] in sources else [r["source"]]
    return rows, sources


def note(sources: list[str], mini: bool) -> str:
    """Units, what the reference rows are (with each source cited in full), and why not to compare."""
    ref = published()["sources"]
    cited = "; ".join(
        f"{cite(ref[k])}: {ref[k]['title']}, arXiv {ref[k]['arxiv']}, {ref[k]['table']}, {ref[k]['url'].split()[0]}"
        for k in sources
    )
    here = (
        "This benchmark is LAMM-Mini (synthetic scenes): its numbers are not comparable with them."
        if mini
        else "This benchmark's numbers are comparable with them only where the data and protocol match."
    )
    return (
        "EM, Acc and F1 in percent, CIDEr, BLEU and ROUGE-L x100, as the papers print them; METEOR is not "
        "computed by lamm (pycocoevalcap runs it in Java). Reference rows: the papers' published numbers on "
        "the real ScanNet-based benchmarks, of models fine-tuned on them (mostly val splits, SQA3D test; "
        "each row's setting is in lamm/bench/reference_3d.json); '—' = not reported by that source. "
        f"{here} Sources: {cited}."
    )


def suite3d_table(g: Group) -> Table | None:
    """The group's 3D-suite table, or None where it holds none of the suite's own datasets."""
    held = {key for row in g.rows for key in row.entries}
    if not any(s.suite_task and s.key in held for s in all_datasets()):
        return None
    cols = suite_columns(held)
    rows = []
    for row in g.rows:
        if row.kind == "paper" or not any(spec.key in row.entries for spec, *_ in cols):
            continue
        values = {name: cell_value(row.entries.get(s.key), f, unit) for s, name, f, unit in cols if f}
        missing = {name: NOT_COMPUTED for s, name, f, _ in cols if not f and s.key in row.entries}
        rows.append(Row(row.name, row.kind, values, run=row.run, missing=missing))
    refs, sources = reference_rows(cols)
    return Table(
        TITLE,
        [(name, UNIT_LABEL[unit]) for _, name, _, unit in cols],
        rows + refs,
        note=note(sources, g.ident.get("name") == LAMM_MINI),
        bold_reference=False,
    )
