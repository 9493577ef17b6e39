"""A ``lamm eval`` run folder as the report reads it: ``results.json`` and the per-record ``scores/``.

Kept apart from the tables so every part of the report (leaderboard, examples, training) reads a run
the same way, the per-record scores loaded once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamm.bench.provenance import identify_benchmark


@dataclass
class Run:
    name: str
    path: Path
    results: dict[str, Any]
    _samples: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict, repr=False)

    @property
    def datasets(self) -> dict[str, Any]:
        return self.results["datasets"]

    @property
    def info(self) -> dict[str, Any]:
        return self.results.get("run", {})

    @property
    def is_baseline(self) -> bool:
        return self.info.get("adapter") == "baseline"

    @property
    def benchmark(self) -> dict[str, Any]:
        """The recorded benchmark identity; recomputed for runs made before it was recorded."""
        ident = self.info.get("benchmark")
        if ident:
            return ident
        bench = self.info.get("benchmark_dir")
        if bench and Path(bench).is_dir():
            return identify_benchmark(bench)
        return {"name": "unknown benchmark", "official": False, "part": str(bench), "fingerprint": None}

    def samples(self, key: str) -> list[dict[str, Any]] | None:
        """Per-record scores (``scores/<dataset>.json``, written by ``lamm eval``)."""
        if key not in self._samples:
            f = self.path / "scores" / f"{key}.json"
            self._samples[key] = json.loads(f.read_text("utf-8")) if f.is_file() else None
        return self._samples[key]


def load_runs(paths: list[str | Path]) -> list[Run]:
    """The runs of ``paths`` in order; a folder name seen twice gets a ``'`` so every row name is unique."""
    runs, seen = [], set()
    for p in map(Path, paths):
        f = p / "results.json"
        if not f.is_file():
            raise FileNotFoundError(f"{p}: no results.json (run `lamm eval` first)")
        name = p.resolve().name
        while name in seen:
            name += "'"
        seen.add(name)
        runs.append(Run(name, p, json.loads(f.read_text("utf-8"))))
    return runs
