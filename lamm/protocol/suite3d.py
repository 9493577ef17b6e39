"""The 3D suite's prompts (``suite3d_prompts.json``, docs/pointcloud.md "The 3D suite"): the system message
and the query of a task, built from a benchmark record's own fields, so that every writer (LAMM-Mini,
``lamm data convert-3d``) and every reader (``lamm eval``) asks the same question."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

BOX_FIELDS = ("cx", "cy", "cz", "dx", "dy", "dz")


@functools.cache
def suite3d_prompts() -> dict[str, Any]:
    """``suite3d_prompts.json`` without its ``_note``: task name -> prompts."""
    data = json.loads(resources.files("lamm.protocol").joinpath("suite3d_prompts.json").read_text("utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _task(name: str) -> dict[str, Any]:
    tasks = suite3d_prompts()
    if name not in tasks:
        raise KeyError(f"no 3D-suite task {name!r}; known: {', '.join(sorted(tasks))}")
    return tasks[name]


def query_box(rec: dict[str, Any]) -> list[float]:
    """The box a Scan2Cap query shows: the record's ``box`` (e.g. a detector proposal matched to the
    object, as the published protocol captions proposals), else its gt box ``gt_bbox``."""
    return rec["box"] if "box" in rec else rec["gt_bbox"]


def suite_system(task: str) -> str:
    """The point-cloud system message of a suite task (used as is: it has no fields)."""
    return _task(task)["system"]


def suite_query(task: str, rec: dict[str, Any]) -> str:
    """The task's ``query_template`` filled from ``rec``: its text fields, and ``cx .. dz`` from
    :func:`query_box` where the template has them."""
    entry = _task(task)
    values = {f: rec[f] for f in entry["fields"] if f not in BOX_FIELDS}
    if any(f in BOX_FIELDS for f in entry["fields"]):
        values |= dict(zip(BOX_FIELDS, (float(v) for v in query_box(rec)), strict=True))
    return entry["query_template"].format(**values)
