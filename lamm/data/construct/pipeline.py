"""The build: recipe -> items -> jobs -> generated samples (appended as they finish) -> meta files + manifest.

Resumable: every finished job (accepted sample or final reject) is one JSONL line keyed by its job key;
``--resume`` skips those, and the LLM cache makes re-asked prompts free. Output order never depends on
completion order: final files are assembled in job order, then post-processed with the recipe seed.
This module runs the jobs (templates in order, LLM calls on a pool); ``jobs`` says what they are,
``state`` guards a resume, ``outputs`` writes the meta files and the manifest.
"""

from __future__ import annotations

import random
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from lamm.data.construct.jobs import (
    Job,
    check_job,
    job_task_type,
    llm_seed,
    make_jobs,
    make_record,
    run_template_job,
)
from lamm.data.construct.outputs import describe_source, finalize
from lamm.data.construct.recipe import Recipe
from lamm.data.construct.sources import Item, load_source
from lamm.data.construct.state import REJECTS, SAMPLES, check_sources, finished, prepare_out
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import JsonlAppender
from lamm.formats.lock import FolderLock
from lamm.formats.media import check_image, load_npy_points
from lamm.progress import progress_bar
from lamm.redact import redact


class Builder:
    """One ``lamm data build`` into ``out``; ``run()`` returns the manifest."""

    def __init__(
        self, recipe: Recipe, out: Path, *, limit: int | None = None, resume: bool = False,
        cache_dir: Path | None = None, progress: bool = True, on_error: str = "skip",
    ) -> None:  # fmt: skip
        self.recipe, self.out, self.limit, self.resume, self.progress = (
            recipe,
            Path(out),
            limit,
            resume,
            progress,
        )
        self.on_error = on_error
        self.media_rejects: dict[str, dict[str, Any]] = {}
        self.cache_dir = Path(cache_dir) if cache_dir else self.out / "cache"
        self.client = None

    # ------------------------------------------------------------------ run
    def _llm(self):
        from lamm.llm_client import LLMClient

        g = self.recipe.generator
        self.client = LLMClient(
            base_url=g.base_url, model=g.model, concurrency=g.concurrency, requests_per_minute=g.requests_per_minute,
            tokens_per_minute=g.tokens_per_minute, max_retries=g.max_retries, timeout_s=g.timeout_s,
            backoff_s=g.backoff_s, cache_dir=self.cache_dir, api_key_env=g.api_key_env,
            price_input_per_1m=g.price_input_per_1m, price_output_per_1m=g.price_output_per_1m,
        )  # fmt: skip
        return self.client

    def _llm_job(self, job: Job):
        from lamm.data.construct.generate_llm import llm_conversation

        g = self.recipe.generator
        params = {"temperature": g.temperature, "top_p": g.top_p, "max_tokens": g.max_tokens}
        if reasons := check_job(job):
            return job, None, reasons, True
        rng = random.Random(f"{self.recipe.seed}|{job.key}")
        out = llm_conversation(self.client, job.kind, job.item, rng, seed=llm_seed(self.recipe.seed, job),
                               format_retries=g.format_retries, params=params)  # fmt: skip
        rec = make_record(job.item, out.conversation, job_task_type(job)) if out.conversation else None
        return job, rec, out.reasons, out.final

    def run(self) -> dict[str, Any]:
        """The whole build, holding the folder's lock (one writer per output folder)."""
        with FolderLock(self.out, "lamm data build"):
            return self._run()

    def _check_media(self, items: list[Item]) -> list[Item]:
        """Items whose media file reads completely (as `lamm data validate` checks it); the others are
        final rejects with the reason (``on_error='raise'``: the first one stops the build)."""
        ok = []
        for it in items:
            path = self.recipe.data_root / it.media
            try:
                if path.is_file() and path.stat().st_size == 0:
                    raise FormatError(path, "media file is empty (0 bytes)")
                if path.suffix == ".npy":
                    load_npy_points(path)
                elif it.dim == "2d":
                    check_image(path)
            except FormatError as exc:
                if self.on_error == "raise":
                    raise FormatError(path, f"source {it.source!r}, item {it.id!r}: {exc.message} "
                                      "(--on-error skip rejects such items and goes on)") from None  # fmt: skip
                key = f"{it.source}|{it.id}|media|"
                self.media_rejects[key] = {"key": key, "source": it.source, "id": it.id, "media": it.media,
                                           "kind": "media", "task": "", "reasons": [f"media: {exc.message}"],
                                           "final": True}  # fmt: skip
                continue
            ok.append(it)
        return ok

    def _run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        prepare_out(self.out, self.recipe, self.limit, self.resume)
        items_by_source: dict[str, list[Item]] = {}
        source_info = []
        for spec in self.recipe.sources:
            items, files = load_source(spec, self.recipe.data_root)
            if self.limit is not None:
                items = items[: self.limit]
            source_info.append(describe_source(self.recipe, spec, items, files))
            items_by_source[spec.name] = self._check_media(items)
        check_sources(self.out, source_info)
        jobs, warnings = make_jobs(self.recipe, items_by_source)
        for w in warnings:
            print(f"lamm data build: warning: {w}", file=sys.stderr)
        samples, rejects = finished(self.out)
        todo = [j for j in jobs if j.key not in samples and not rejects.get(j.key, {}).get("final", False)]
        use_llm = self.recipe.generator.type == "llm"
        tmpl = [j for j in todo if j.kind == "vision_task" or not use_llm]
        llm = [j for j in todo if j.kind != "vision_task" and use_llm]
        if use_llm:
            self._llm()
        bar = progress_bar(total=len(todo), desc="build", unit="sample", disable=not self.progress)
        sw, rw = (JsonlAppender(self.out / f, sync_every_s=1.0) for f in (SAMPLES, REJECTS))
        try:
            for k, r in self.media_rejects.items():  # media rejects: once per folder
                if k not in rejects:
                    rw.write(r)
            for job in tmpl:
                rec, reasons = run_template_job(job, self.recipe.seed)
                self._record(sw, rw, job, rec, reasons, True, sync=False)
                bar.update()
            sw.sync()
            rw.sync()
            if llm:
                self._run_pool(llm, sw, rw, bar)
        finally:
            sw.close()
            rw.close()
            bar.close()
        return finalize(
            self.out,
            self.recipe,
            self.limit,
            jobs,
            source_info,
            warnings,
            time.monotonic() - t0,
            media_rejects=self.media_rejects,
            llm_usage=self.client.usage.to_json() if self.client else None,
        )

    def _record(
        self, sw: JsonlAppender, rw: JsonlAppender, job: Job, rec, reasons, final, *, sync: bool
    ) -> None:
        if rec is not None:
            sw.write({"key": job.key, "record": rec, "retried": reasons}, sync=sync)
        else:
            rw.write({"key": job.key, "source": job.item.source, "id": job.item.id, "media": job.item.media,
                      "kind": job.kind, "task": job.task, "reasons": [redact(r) for r in reasons],
                      "final": final}, sync=sync)  # fmt: skip

    def _run_pool(self, jobs: list[Job], sw: JsonlAppender, rw: JsonlAppender, bar: Any) -> None:
        conc = self.recipe.generator.concurrency
        with ThreadPoolExecutor(conc, thread_name_prefix="llm") as ex:
            inflight: set = set()
            it = iter(jobs)
            try:
                while True:
                    while len(inflight) < 2 * conc and (job := next(it, None)) is not None:
                        inflight.add(ex.submit(self._llm_job, job))
                    if not inflight:
                        break
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in done:
                        self._record(sw, rw, *f.result(), sync=True)
                        inflight.discard(f)
                        bar.update()
            except KeyboardInterrupt:
                # keep what is in flight (those replies are paid for), then stop
                for f in inflight:
                    f.cancel()
                for f in inflight:
                    if not f.cancelled():
                        self._record(sw, rw, *f.result(), sync=True)
                raise
