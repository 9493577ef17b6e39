"""The run folder's answer log: appended as answers come, resumable whatever the process count.

One process appends to ``answers.jsonl`` (and ``errors.jsonl`` for records it could not answer); under
``torchrun`` each rank appends to ``parts/answers.rank<R>.jsonl``. Before and after a run, rank 0 alone
*consolidates*: every answer from the main log and any part files (a killed run's torn last line
dropped) is kept once, sorted into record order, and written back atomically. Resuming therefore only
needs the consolidated log, no matter how many processes wrote it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import JsonlAppender, iter_jsonl, temp_path
from lamm.tasks import all_datasets

ANSWERS = "answers.jsonl"
ERRORS = "errors.jsonl"
PARTS = "parts"

Key = tuple[str, int]


def record_key(rec: dict[str, Any]) -> Key:
    return (str(rec["dataset"]), int(rec["index"]))


def _dataset_rank(name: str) -> tuple[int, str]:
    order = [s.key for s in all_datasets()]
    return (order.index(name) if name in order else len(order), name)


def sort_key(rec: dict[str, Any]) -> tuple[tuple[int, str], int]:
    return (_dataset_rank(str(rec["dataset"])), int(rec["index"]))


def _read(paths: Iterable[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in paths:
        if p.is_file():
            rows.extend(iter_jsonl(p))  # a torn last line (killed writer) is dropped
    return rows


def _write_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = temp_path(path)
    with tmp.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class AnswerStore:
    def __init__(self, run_dir: str | Path, rank: int = 0, world: int = 1) -> None:
        self.dir = Path(run_dir)
        self.rank, self.world = rank, world
        self.dir.mkdir(parents=True, exist_ok=True)

    def _parts(self, stem: str) -> list[Path]:
        return sorted((self.dir / PARTS).glob(f"{stem}.rank*.jsonl"))

    def consolidate(self) -> None:
        """Merge the main logs and part files into record order, each answer once (rank 0, no writers)."""
        answers: dict[Key, dict[str, Any]] = {}
        for rec in _read([self.dir / ANSWERS, *self._parts("answers")]):
            first = answers.setdefault(record_key(rec), rec)
            if first.get("text") != rec.get("text"):  # a resume must reproduce the run, not pick a version
                dataset, index = record_key(rec)
                raise FormatError(
                    self.dir / ANSWERS,
                    f"record {index} of {dataset} (id {rec.get('id')!r}) was answered twice with different "
                    "texts in this run's logs; the run folder was written by two different runs: evaluate "
                    "into a new --out",
                )
        errors: dict[Key, dict[str, Any]] = {}
        for rec in _read([self.dir / ERRORS, *self._parts("errors")]):
            if record_key(rec) not in answers:
                errors[record_key(rec)] = rec  # latest attempt wins
        _write_atomic(self.dir / ANSWERS, sorted(answers.values(), key=sort_key))
        _write_atomic(self.dir / ERRORS, sorted(errors.values(), key=sort_key))
        for p in self._parts("answers") + self._parts("errors"):
            p.unlink()

    def answers(self) -> dict[Key, dict[str, Any]]:
        """Consolidated answers by (dataset, index)."""
        path = self.dir / ANSWERS
        return {record_key(r): r for r in iter_jsonl(path)} if path.is_file() else {}

    def errors(self) -> dict[Key, dict[str, Any]]:
        path = self.dir / ERRORS
        return {record_key(r): r for r in iter_jsonl(path)} if path.is_file() else {}

    def writers(self) -> tuple[JsonlAppender, JsonlAppender]:
        """(answers, errors) appenders for this process."""
        if self.world == 1:
            return JsonlAppender(self.dir / ANSWERS), JsonlAppender(self.dir / ERRORS)
        parts = self.dir / PARTS
        return (
            JsonlAppender(parts / f"answers.rank{self.rank}.jsonl"),
            JsonlAppender(parts / f"errors.rank{self.rank}.jsonl"),
        )
