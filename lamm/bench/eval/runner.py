"""``lamm eval``'s engine: prompts -> batched generation -> resumable answer log -> official files -> scores.

Flow per dataset: load and validate the meta file, drop the records already answered (any earlier run,
any process count), take this rank's share, check each record's media, generate in batches (first pass,
then the VQA second pass), append every answer as soon as its record is complete. At the end rank 0
merges the logs in record order, writes the official answer files, scores them with ``lamm score``'s
code and writes ``results.json`` with the provenance of the run.

This module runs those steps in order, under the run folder's lock and across ranks; the steps themselves
are :mod:`.datasets`, :mod:`.answering`, :mod:`.resume` and :mod:`.results`.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

from lamm.bench.eval import sharding
from lamm.bench.eval.adapters import Adapter, build_adapter
from lamm.bench.eval.answering import run_dataset
from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.results import finish, utc_now
from lamm.bench.eval.resume import check_log, check_run_dir, record_run
from lamm.bench.eval.store import AnswerStore
from lamm.bench.eval.views import make_view
from lamm.formats.benchmark import load_benchmark
from lamm.formats.lock import FolderLock, FolderLocked


def _seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def evaluate(cfg: EvalConfig, adapter: Adapter | None = None) -> dict[str, Any] | None:
    """Run the evaluation; returns ``results.json``'s content on rank 0 (``None`` on other ranks)."""
    cfg.out = Path(cfg.out)
    cfg.benchmark_dir = Path(cfg.benchmark_dir)
    dist = sharding.init()
    started = utc_now()
    lock = FolderLock(cfg.out, "lamm eval")
    try:
        _take_lock(lock, dist)
        store = AnswerStore(cfg.out, dist.rank, dist.world)
        if dist.main:
            check_run_dir(cfg)
            store.consolidate()  # merges whatever an earlier (killed) run left, any process count
        sharding.barrier(dist)
        adapter = adapter or build_adapter(cfg.model, **cfg.adapter_options)
        adapter.protocol = cfg.protocol
        _seed(cfg.seed)  # after the build: torch is imported now, and sampling starts from the seed
        if dist.main:
            record_run(cfg)
        adapter.prepare(cfg.benchmark_dir, cfg.datasets)
        done = store.answers()
        view = make_view(cfg.pcl_view, cfg.out, cfg.benchmark_dir)
        writers = store.writers()
        try:
            for spec in cfg.datasets:
                records = load_benchmark(cfg.benchmark_dir, spec)
                check_log(cfg, spec, records, done)
                if cfg.limit is not None:
                    records = records[: cfg.limit]
                pending = [r for r in records if (spec.key, r.index) not in done]
                mine = sharding.shard(pending, dist)
                t0 = time.perf_counter()
                n_ok, n_skip = run_dataset(adapter, cfg, spec, mine, writers, show=dist.main, view=view)
                if dist.main and mine:
                    dt = time.perf_counter() - t0
                    print(
                        f"{spec.key}: {n_ok} answered, {n_skip} skipped, {len(records) - len(pending)} "
                        f"already done; {len(mine) / max(dt, 1e-9):.2f} samples/s on rank 0",
                        file=sys.stderr,
                    )
        finally:
            for w in writers:
                w.close()
        sharding.barrier(dist)
        if not dist.main:
            return None
        store.consolidate()
        return finish(cfg, adapter, store, dist.world, started)
    finally:
        lock.release()
        sharding.close(dist)


def _take_lock(lock: FolderLock, dist: sharding.Dist) -> None:
    """Rank 0 takes the run folder's lock, the other ranks check that their own launch holds it; a
    refusal on any rank is raised on every rank (no rank is left waiting at a barrier)."""
    error = None
    if dist.main:
        try:
            lock.acquire()
        except FolderLocked as exc:
            error = str(exc)
    error = sharding.first_error(dist, error)
    if error is None and not dist.main:
        try:
            lock.check_shared()
        except FolderLocked as exc:
            error = str(exc)
    error = sharding.first_error(dist, error)
    if error is not None:
        raise FolderLocked(error)
