"""The ``lamm train`` run behind a ``lamm:`` model: its checkpoint and its loss / learning-rate curve from
``train_log.jsonl`` (recorded by ``lamm eval`` in ``run.training``, else looked up from the checkpoint)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lamm.bench.provenance import training_provenance
from lamm.bench.report.runs import Run


@dataclass
class Training:
    run: str
    checkpoint: str
    log: str | None
    steps: list[int]
    loss: list[float]
    lr: list[float]


def training(run: Run) -> Training | None:
    """The ``lamm train`` log behind a ``lamm:`` model (recorded by ``lamm eval``, else looked up)."""
    t = run.info.get("training") or training_provenance(run.info.get("model"))
    if not t:
        return None
    steps, loss, lr = [], [], []
    log = t.get("train_log")
    if log and Path(log).is_file():
        for line in Path(log).open(encoding="utf-8"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed run
            if isinstance(rec.get("loss"), (int, float)):
                steps.append(int(rec.get("step", len(steps) + 1)))
                loss.append(float(rec["loss"]))
                lr.append(float(rec.get("lr") or 0.0))
    return Training(run.name, t.get("checkpoint", ""), log if steps else None, steps, loss, lr)
