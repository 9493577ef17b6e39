"""The build: recipe -> items -> jobs -> generated samples (appended as they finish) -> meta files + manifest.

Resumable: every finished job (accepted sample or final reject) is one JSONL line keyed by its job key;
``--resume`` skips those, and the LLM cache makes re-asked prompts free. Output order never depends on
completion order: final files are assembled in job order, then post-processed with the recipe seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import sys
import time
import zlib
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lamm.data.c4 import c4_conversation, non_finite
from lamm.data.c4 import task_type as c4_task_type
from lamm.data.construct.generate_template import supports, template_conversation
from lamm.data.construct.recipe import KINDS, Recipe, SourceSpec
from lamm.data.construct.sources import Item, load_source
from lamm.data.construct.tasks import task_ann
from lamm.data.construct.validate import check_conversation
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import JsonlAppender, iter_jsonl, temp_path, write_json_official
from lamm.formats.lock import FolderLock
from lamm.formats.media import check_image, load_npy_points
from lamm.progress import progress_bar
from lamm.redact import redact

SAMPLES, REJECTS, STATE, MANIFEST = "samples.jsonl", "rejects.jsonl", "build_state.json", "manifest.json"
FILES_2D = {
    "daily_dialogue": "daily_dialogue.json",
    "factual_knowledge": "factual_knowledge_dialogue.json",
    "detailed_description": "detailed_description.json",
    "vision_task": "vision_task_dialogue.json",
}
UNION_2D, UNION_3D = "LAMM_instruct.json", "LAMM_3dinstruct.json"


@dataclass
class Job:
    seq: int
    key: str
    item: Item
    kind: str  # daily_dialogue | factual_knowledge | detailed_description | vision_task
    task: str = ""  # C4 task for vision_task


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _count(value: Any, n: int) -> int:
    if value == "all":
        return n
    if isinstance(value, float):
        return round(value * n)
    return min(int(value), n)


def make_jobs(recipe: Recipe, items_by_source: dict[str, list[Item]]) -> tuple[list[Job], list[str]]:
    """Deterministic job list (seeded selection per source/kind/task) and warnings about short sources."""
    jobs: list[Job] = []
    warnings: list[str] = []
    for spec in recipe.sources:
        items = items_by_source[spec.name]
        wanted: list[tuple[str, str, Any]] = []
        for kind, count in spec.produce.items():
            if kind == "vision_task":
                wanted += [("vision_task", task, c) for task, c in count.items()]
            else:
                wanted.append((kind, "", count))
        for kind, task, count in wanted:
            if kind == "vision_task":
                probe = random.Random(0)
                eligible = [it for it in items if task_ann(task, it.ann, it.dim, probe) is not None]
            else:
                eligible = [it for it in items if supports(kind, it)]
            n = _count(count, len(eligible))
            if isinstance(count, int) and count > len(eligible):
                warnings.append(
                    f"source {spec.name!r}: {kind}{'/' + task if task else ''} asked for {count}, only {len(eligible)} items qualify"
                )
            order = list(range(len(eligible)))
            random.Random(f"{recipe.seed}|{spec.name}|{kind}|{task}").shuffle(order)
            for i in sorted(order[:n]):
                it = eligible[i]
                key = f"{spec.name}|{it.id}|{kind}|{task}"
                jobs.append(Job(len(jobs), key, it, kind, task))
    return jobs, warnings


def make_record(item: Item, conv: list[dict[str, str]], task_type: str) -> dict[str, Any]:
    if item.dim == "2d":
        return {
            "id": item.id,
            "image": item.media,
            "conversations": conv,
            "task_type": task_type,
            "src_image": item.src,
        }
    return {"id": item.id, "pcl": item.media, "conversations": conv, "task_type": task_type,
            "src_dataset": item.src, "src_id": item.ann.get("src_id", item.id)}  # fmt: skip


def job_task_type(job: Job) -> str:
    if job.kind == "vision_task":
        return c4_task_type(job.task)
    return KINDS[job.kind] + ("3d" if job.item.dim == "3d" else "")


def llm_seed(seed: int, job: Job) -> int:
    """The request seed of a job's LLM call. A C2 prompt holds only the class and its knowledge text, the
    same for every image of the class: its seed is drawn per image, or every image would get the one
    (cached) dialogue. Other kinds' prompts already differ per image and keep the recipe seed."""
    if job.kind != "factual_knowledge":
        return seed
    return seed + zlib.crc32(job.item.id.encode("utf-8")) % 1_000_000 * 100  # room for format retries


def check_job(job: Job) -> list[str]:
    """Reasons (empty: none) why a job's annotation cannot be written into training text."""
    found = non_finite(job.item.ann)
    return [f"annotation: non-finite number: {found}"] if found else []


def run_template_job(job: Job, seed: int) -> tuple[dict | None, list[str]]:
    """C4 (always templates) or offline C1-C3. Returns (record, reasons)."""
    rng = random.Random(f"{seed}|{job.key}")
    if reasons := check_job(job):
        return None, reasons
    try:
        if job.kind == "vision_task":
            conv = c4_conversation(job.task, task_ann(job.task, job.item.ann, job.item.dim, rng), rng)
        else:
            conv = template_conversation(job.kind, job.item, rng)
    except ValueError as exc:
        return None, [f"annotation: {exc}"]
    reason = check_conversation(conv, job.kind)
    if reason:
        return None, [reason]
    return make_record(job.item, conv, job_task_type(job)), []


def _changed(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for the settings that differ (None: the old build recorded none)."""
    if not old:
        return []

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(d, dict):
            return {prefix.rstrip("."): d}
        return {k: v for key, val in d.items() for k, v in flat(val, f"{prefix}{key}.").items()}

    a, b = flat(old), flat(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _rewrite_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = temp_path(path)
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    os.replace(tmp, path)


class Builder:
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

    # ------------------------------------------------------------------ state
    def _fingerprint(self, legacy: bool = False) -> dict[str, Any]:
        """What the build's content depends on. Knobs that change speed or where the server runs, not
        content, may differ on --resume (a restarted server on another port: ``--base-url``); ``legacy``:
        the hash as lamm computed it before base_url was such a knob (builds started then resume)."""
        rec = self.recipe.to_json()
        speed = (
            "concurrency",
            "requests_per_minute",
            "tokens_per_minute",
            "timeout_s",
            "max_retries",
            "backoff_s",
        )
        for k in speed + (() if legacy else ("base_url", "api_key_env")):
            rec["generator"].pop(k, None)
        if legacy:
            rec["generator"]["api_key_env"] = "LAMM_API_KEY"
        rec["recipe"] = {k: v for k, v in rec["recipe"].items() if k != "generator"}
        blob = json.dumps({"recipe": rec, "limit": self.limit}, sort_keys=True, default=str)
        fp = {"recipe_sha256": hashlib.sha256(blob.encode()).hexdigest(), "limit": self.limit}
        if not legacy:
            fp["settings"] = {"generator": rec["generator"], "seed": rec["seed"], "post": rec["post"],
                              "sources": rec["recipe"].get("sources"), "limit": self.limit}  # fmt: skip
        return fp

    def _prepare_out(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        state_path, fp = self.out / STATE, self._fingerprint()
        started = (self.out / SAMPLES).exists() or (self.out / REJECTS).exists()
        if started and not self.resume:
            raise FormatError(
                self.out, "holds an earlier build; pass --resume to continue it or choose another --out"
            )
        kept: dict[str, Any] = {}
        if started and state_path.is_file():
            old = json.loads(state_path.read_text("utf-8"))
            kept = {k: old[k] for k in ("source_files",) if k in old}  # checked once the sources load
            same = old.get("recipe_sha256") == fp["recipe_sha256"]
            if "settings" not in old:
                same = old == self._fingerprint(legacy=True)
            if not same:
                changed = _changed(old.get("settings"), fp["settings"]) or ["the recipe"]
                raise FormatError(
                    self.out,
                    f"changed since the build in this folder: {'; '.join(changed)} (a resume must produce what the "
                    "build started; --base-url, --concurrency, --rpm/--tpm may change); use a new --out",
                )
        state_path.write_text(json.dumps({**fp, **kept}, indent=2), "utf-8")

    def _check_sources(self, source_info: list[dict[str, Any]]) -> None:
        """A resume refuses source files (annotations) whose contents changed since the build started:
        its finished samples were made from the old ones. The first run records their SHA-256."""
        state_path = self.out / STATE
        state = json.loads(state_path.read_text("utf-8"))
        files = {s["name"]: {f["path"]: f["sha256"] for f in s["files"]} for s in source_info}
        old = state.get("source_files")
        if old is not None and old != files:
            changed = [
                f"{name}: {path}"
                for name in sorted(set(old) | set(files))
                for path in sorted(set(old.get(name, {})) | set(files.get(name, {})))
                if old.get(name, {}).get(path) != files.get(name, {}).get(path)
            ] or ["the sources"]
            raise FormatError(
                self.out,
                f"source files changed since the build in this folder: {', '.join(changed)} (a resume must "
                "produce what the build started); use a new --out",
            )
        state["source_files"] = files
        state_path.write_text(json.dumps(state, indent=2), "utf-8")

    def _done(self) -> tuple[dict[str, dict], dict[str, dict]]:
        samples: dict[str, dict] = {}
        rejects: dict[str, dict] = {}
        if (self.out / SAMPLES).exists():
            for rec in iter_jsonl(self.out / SAMPLES):
                samples[rec["key"]] = rec
        if (self.out / REJECTS).exists():
            for rec in iter_jsonl(self.out / REJECTS):
                rejects[rec["key"]] = rec
        return samples, rejects

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
        self._prepare_out()
        items_by_source: dict[str, list[Item]] = {}
        source_info = []
        for spec in self.recipe.sources:
            items, files = load_source(spec, self.recipe.data_root)
            if self.limit is not None:
                items = items[: self.limit]
            source_info.append(self._source_info(spec, items, files))
            items_by_source[spec.name] = self._check_media(items)
        self._check_sources(source_info)
        jobs, warnings = make_jobs(self.recipe, items_by_source)
        for w in warnings:
            print(f"lamm data build: warning: {w}", file=sys.stderr)
        samples, rejects = self._done()
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
        return self.finalize(jobs, source_info, warnings, time.monotonic() - t0)

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

    # ------------------------------------------------------------------ outputs
    def _source_info(self, spec: SourceSpec, items: list[Item], files: list[Path]) -> dict[str, Any]:
        root = self.recipe.data_root
        listing = hashlib.sha256("\n".join(it.media for it in items).encode()).hexdigest()
        return {
            "name": spec.name, "type": spec.type, "root": spec.root.relative_to(root).as_posix() or ".",
            "items": len(items), "media_listing_sha256": listing,
            "files": [{"path": f.relative_to(root).as_posix() if root in f.parents else str(f),
                       "sha256": sha256_file(f), "bytes": f.stat().st_size} for f in files],
        }  # fmt: skip

    def finalize(
        self, jobs: list[Job], source_info: list, warnings: list[str], seconds: float
    ) -> dict[str, Any]:
        from lamm.data.construct.postprocess import postprocess
        from lamm.data.construct.prompts import versions

        samples, rejects = self._done()
        by_key = {j.key: j for j in jobs}
        accepted = sorted((by_key[k].seq, v) for k, v in samples.items() if k in by_key)
        records = [v["record"] for _, v in accepted]
        kinds = {id(v["record"]): by_key[v["key"]].kind for _, v in accepted}
        train, val, report = postprocess(records, self.recipe.post, self.recipe.seed)
        meta = self.out / "meta_file"
        written: dict[str, int] = {}

        def write(name: str, recs: list[dict]) -> None:
            if recs:
                write_json_official(meta / name, recs)
                written[f"meta_file/{name}"] = len(recs)

        for kind, name in FILES_2D.items():
            write(name, [r for r in train if "image" in r and kinds[id(r)] == kind])
        write(UNION_2D, [r for r in train if "image" in r])
        write(UNION_2D.replace(".json", "_val.json"), [r for r in val if "image" in r])
        write(UNION_3D, [r for r in train if "pcl" in r])
        write(UNION_3D.replace(".json", "_val.json"), [r for r in val if "pcl" in r])

        open_rejects = {
            k: v for k, v in rejects.items() if (k in by_key or k in self.media_rejects) and k not in samples
        }
        _rewrite_jsonl(self.out / REJECTS, list(open_rejects.values()))  # no stale rows after a resume
        final_rej = [v for v in open_rejects.values() if v.get("final")]
        api_fail = [v for v in open_rejects.values() if not v.get("final")]
        reasons = Counter(v["reasons"][-1].split(":")[0] if v["reasons"] else "unknown" for v in final_rej)
        retried = Counter(r.split(":")[0] for _, v in accepted for r in v.get("retried", []))
        kept = train + val
        g = self.recipe.generator
        import lamm

        manifest = {
            "lamm_version": lamm.__version__, "python": platform.python_version(),
            "recipe": self.recipe.raw, "recipe_file": str(self.recipe.path), **self._fingerprint(),
            "seed": self.recipe.seed, "data_root": str(self.recipe.data_root),
            "generator": {
                "type": g.type,
                "note": "C1-C3 written by offline templates, no LLM (plainer text)" if g.type == "template" else "C1-C3 written by an LLM",
                "model": g.model if g.type == "llm" else None, "base_url": g.base_url if g.type == "llm" else None,
                "params": {k: v for k, v in asdict(g).items() if k not in ("type", "model", "base_url", "api_key_env")},
                "prompt_versions": versions() if g.type == "llm" else {"template": "t1"},
                "c4_templates_sha256": sha256_file(Path(sys.modules["lamm.data.c4"].__file__)),
            },
            "sources": source_info,
            "files": written,
            "counts": {
                "jobs": len(jobs), "accepted": len(records), "kept": len(kept), "train": len(train), "val": len(val),
                "by_task_type": dict(sorted(Counter(r["task_type"] for r in kept).items())),
                "by_source": dict(sorted(Counter(by_key[v["key"]].item.source for _, v in accepted).items())),
                "by_kind": dict(sorted(Counter(by_key[v["key"]].kind for _, v in accepted).items())),
                **report,
            },
            "rejects": {"file": REJECTS, "final": len(final_rej), "by_reason": dict(sorted(reasons.items())),
                        "api_failures_pending": len(api_fail), "retried_then_accepted": dict(sorted(retried.items()))},
            "llm_usage": self.client.usage.to_json() if self.client else None,
            "warnings": [redact(w) for w in warnings], "seconds": round(seconds, 3),
        }  # fmt: skip
        (self.out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return manifest
