"""What ``lamm data validate`` found (problems, warnings, counts) and its two printed forms: the text
summary and the ``--json`` object. Kept apart from the checks so both forms read one record of findings."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lamm.formats.errors import FormatError


@dataclass
class Problem:
    """One problem found; ``kind`` is ``file`` (whole file unusable), ``schema``, ``media`` or ``answers``."""

    kind: str
    error: FormatError

    def to_json(self) -> dict[str, Any]:
        e = self.error
        return {
            "kind": self.kind,
            "file": e.path,
            "index": e.index,
            "id": e.record_id,
            "field": e.field,
            "message": e.message,
        }

    def __str__(self) -> str:
        return str(self.error)


@dataclass
class FileReport:
    path: str
    kind: str
    dataset: str | None = None
    records: int = 0
    problems: int = 0


@dataclass
class ValidationReport:
    """Everything ``validate_path`` found. ``ok`` is True when no problem was found."""

    files: list[FileReport] = field(default_factory=list)
    records: int = 0
    bad_records: int = 0  # records with at least one problem (what ``--on-error skip`` would drop)
    ignored: int = 0  # instruction entries without image/pcl (the official loader skips them)
    task_types: Counter = field(default_factory=Counter)
    datasets: Counter = field(default_factory=Counter)
    turns: list[int] = field(default_factory=list)
    media_checked: int = 0
    media_missing: int = 0
    media_corrupt: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # accepted, but worth knowing; ``ok`` stays

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def file_problems(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "file"]

    def summary(self) -> dict[str, Any]:
        turns = (
            {
                "min": min(self.turns),
                "mean": round(statistics.fmean(self.turns), 4),
                "max": max(self.turns),
            }
            if self.turns
            else None
        )
        return {
            "ok": self.ok,
            "files": [vars(f) for f in self.files],
            "records": self.records,
            "usable_records": self.records - self.bad_records - self.ignored,
            "ignored_records": self.ignored,
            "task_types": dict(sorted(self.task_types.items())),
            "datasets": dict(sorted(self.datasets.items())),
            "turns": turns,
            "media": {
                "checked": self.media_checked,
                "missing": self.media_missing,
                "corrupt": self.media_corrupt,
            },
            "problem_count": len(self.problems),
            "problems": [p.to_json() for p in self.problems],
            "warning_count": len(self.warnings),
            "warnings": [w.to_json() for w in self.warnings],
        }

    def format_text(self, max_problems: int = 50) -> str:
        s = self.summary()
        lines = [
            f"{len(self.files)} file(s), {self.records} records ({s['usable_records']} usable"
            + (f", {self.ignored} without image/pcl ignored" if self.ignored else "")
            + ")"
        ]
        for f in self.files:
            what = f.kind + (f" {f.dataset}" if f.dataset else "")
            lines.append(f"  {f.path}: {what}, {f.records} records, {f.problems} problem(s)")
        if self.task_types:
            lines.append("task types: " + ", ".join(f"{k} {v}" for k, v in s["task_types"].items()))
        if self.datasets:
            lines.append("datasets: " + ", ".join(f"{k} {v}" for k, v in s["datasets"].items()))
        if s["turns"]:
            t = s["turns"]
            lines.append(
                f"turns per sample (human->gpt exchanges): min {t['min']}, mean {t['mean']:.2f}, max {t['max']}"
            )
        m = s["media"]
        lines.append(
            f"media: {m['checked']} file(s) checked, {m['missing']} missing, {m['corrupt']} unreadable/corrupt"
        )
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines += [f"  [{p.kind}] {p}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                lines.append(f"  ... {len(self.problems) - max_problems} more (use --json for all)")
        else:
            lines.append("no problems found")
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines += [f"  [{w.kind}] {w}" for w in self.warnings[:max_problems]]
            if len(self.warnings) > max_problems:
                lines.append(f"  ... {len(self.warnings) - max_problems} more (use --json for all)")
        return "\n".join(lines)
