"""``lamm eval``'s engine: prompts -> batched generation -> resumable answer log -> official files -> scores.

Flow per dataset: load and validate the meta file, drop the records already answered (any earlier run,
any process count), take this rank's share, check each record's media, generate in batches (first pass,
then the VQA second pass), append every answer as soon as its record is complete. At the end rank 0
merges the logs in record order, writes the official answer files, scores them with ``lamm score``'s
code and writes ``results.json`` with the provenance of the run.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lamm.bench.eval import prompts as P
from lamm.bench.eval import sharding
from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, build_adapter
from lamm.bench.eval.store import ANSWERS, ERRORS, PARTS, AnswerStore
from lamm.bench.eval.views import BevView, make_view
from lamm.bench.provenance import identify_benchmark, training_provenance
from lamm.formats.answers import PLACEHOLDER_REASON, placeholder, write_official_answers
from lamm.formats.benchmark import BenchRecord, load_benchmark, media_file, meta_path
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import write_json_official
from lamm.formats.lock import FolderLock, FolderLocked
from lamm.progress import progress_bar
from lamm.redact import redact
from lamm.tasks import DatasetSpec, all_datasets
from lamm.versions import versions

RESULTS = "results.json"
RUN_INFO = "run.json"
OFFICIAL_DIR = "answers"
SCORES_DIR = "scores"
PACKAGES = ("torch", "transformers", "peft", "tokenizers", "numpy", "pillow", "nltk", "openai")


class RecordFailed(RuntimeError):
    """A record could not be answered (bad media, failed request). Names dataset, record and cause."""

    def __init__(self, spec: DatasetSpec, record: BenchRecord, reason: str) -> None:
        reason = redact(reason)  # stored in errors.jsonl / results.json and printed
        self.spec, self.record, self.reason = spec, record, reason
        super().__init__(f"{spec.key}: record {record.index} (id {record.id!r}): {reason}")


@dataclass
class EvalConfig:
    model: str
    benchmark_dir: Path
    datasets: list[DatasetSpec]
    out: Path
    batch_size: int = 8
    limit: int | None = None
    on_error: str = "raise"  # "raise" | "skip"
    seed: int = 0
    protocol: str = "lamm"
    score: bool = True
    adapter_options: dict[str, Any] = field(default_factory=dict)
    pcl_view: str | None = None  # "bev": image-only models see a rendering of each point cloud


# ------------------------------------------------------------------------------------------ datasets


def select_datasets(benchmark_dir: str | Path, names: str = "all", mode: str = "common") -> list[DatasetSpec]:
    """``all``: every dataset of the mode(s) whose meta file is in the folder; else the named ones."""
    modes = ("common", "locating") if mode == "all" else (mode,)
    candidates = [s for s in all_datasets() if s.mode in modes]
    if names == "all":
        found = [s for s in candidates if meta_path(benchmark_dir, s).is_file()]
        if not found:
            raise FormatError(
                Path(benchmark_dir) / "meta_file", f"no LAMM benchmark meta file for mode {mode!r} here"
            )
        return found
    chosen = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        specs = [s for s in candidates if name in (s.name, s.key)]
        if not specs:
            valid = sorted({s.key for s in candidates})
            near = [k for k in valid if k.lower() == name.lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"unknown dataset {name!r}{hint} for mode {mode!r}; valid: {', '.join(valid)}")
        for s in specs:  # a name of the other benchmark (ScanNet in a 2D folder) or a file not there
            if not meta_path(benchmark_dir, s).is_file():
                raise ValueError(
                    f"{name} is a {s.dim.upper()}_Benchmark dataset and its meta file "
                    f"{meta_path(benchmark_dir, s)} is not in {benchmark_dir}"
                )
        chosen.extend(s for s in specs if s not in chosen)
    return chosen


def dataset_listing() -> str:
    """The valid ``--datasets`` names, per benchmark (2D/3D) and mode (common/locating)."""
    lines = ["valid --datasets names (comma-separated; 'all': every dataset whose meta file is present):"]
    for dim, folder in (("2d", "2D_Benchmark"), ("3d", "3D_Benchmark")):
        for mode in ("common", "locating"):
            names = [s.name for s in all_datasets() if s.dim == dim and s.mode == mode]
            if names:
                lines.append(f"  {folder}, --mode {mode}: {', '.join(names)}")
    return "\n".join(lines)


def check_media(benchmark_dir: Path, spec: DatasetSpec, record: BenchRecord) -> Path:
    """The record's media path after a full read (missing/corrupt image, unreadable point cloud)."""
    from lamm.formats.media import check_image, load_npy_points

    path = media_file(benchmark_dir, record, source=meta_path(benchmark_dir, spec))
    try:
        if spec.dim == "2d":
            check_image(path)
        elif path.suffix == ".npy":
            load_npy_points(path)
        else:
            from lamm.formats.pointcloud import load_points  # .ply, .pcd, .xyz, .txt

            load_points(path)
    except FormatError as exc:
        raise RecordFailed(spec, record, f"{exc.message}: {path}") from None
    return path


# ---------------------------------------------------------------------------------------- generation


def _generate(adapter: Adapter, reqs: list[GenRequest], batch_size: int) -> list[str | GenFailure]:
    out: list[str | GenFailure] = []
    for i in range(0, len(reqs), batch_size):
        chunk = reqs[i : i + batch_size]
        got = adapter.generate(chunk)
        if len(got) != len(chunk):
            raise RuntimeError(
                f"adapter {adapter.spec} returned {len(got)} answers for {len(chunk)} requests"
            )
        out.extend(got)
    return out


def overflow(adapter: Adapter, reqs: list[GenRequest]) -> str | None:
    """Why one of a record's requests cannot fit the model's context (prompt + answer tokens), or None."""
    ctx = adapter.context_length()
    if ctx is None:
        return None
    for r in reqs:
        n = adapter.prompt_tokens(r)
        if n is not None and n + adapter.answer_tokens() > ctx:
            return (
                f"prompt of {n} tokens + {adapter.answer_tokens()} answer tokens exceeds the model's "
                f"context length of {ctx} tokens"
            )
    return None


def answer_batch(
    adapter: Adapter,
    spec: DatasetSpec,
    items: list[tuple[BenchRecord, Path | None]],
    batch_size: int,
    view: BevView | None = None,
) -> list[dict[str, Any] | RecordFailed]:
    """Answer records together: all first-pass prompts in batches, then all second-pass prompts. A
    record whose prompt does not fit the model's context fails by name; the others are answered. With a
    ``view`` the media are its renderings and the prompts its variant."""
    modality = "image" if spec.dim == "2d" else "pcl"
    if view is not None:
        modality = view.modality
    too_long: dict[int, RecordFailed] = {}

    def check(k: int, rec: BenchRecord, media: Path | None, ps: list[P.Prompt]) -> list[P.Prompt]:
        ps = view.prompts(spec, media, ps) if view is not None else ps
        why = overflow(adapter, [GenRequest(media, modality, p.system, p.query) for p in ps])
        if why is None:
            return ps
        too_long[k] = RecordFailed(spec, rec, why)
        return []

    firsts = [check(k, rec, m, P.first_prompts(spec, rec)) for k, (rec, m) in enumerate(items)]
    reqs = [GenRequest(m, modality, p.system, p.query) for (_, m), ps in zip(items, firsts) for p in ps]
    flat = _generate(adapter, reqs, batch_size)
    first_out: list[list[str | GenFailure]] = []
    pos = 0
    for ps in firsts:
        first_out.append(flat[pos : pos + len(ps)])
        pos += len(ps)

    seconds: list[list[P.Prompt]] = []
    for k, ((rec, m), outs) in enumerate(zip(items, first_out)):
        ok = k not in too_long and all(isinstance(o, str) for o in outs)
        seconds.append(check(k, rec, m, P.second_prompts(spec, rec, outs)) if ok else [])  # type: ignore[arg-type]
    reqs2 = [GenRequest(m, modality, p.system, p.query) for (_, m), ps in zip(items, seconds) for p in ps]
    flat2 = _generate(adapter, reqs2, batch_size)

    results: list[dict[str, Any] | RecordFailed] = []
    pos = 0
    for k, ((rec, media), ps1, outs1, ps2) in enumerate(zip(items, firsts, first_out, seconds)):
        outs2 = flat2[pos : pos + len(ps2)]
        pos += len(ps2)
        if k in too_long:
            results.append(too_long[k])
            continue
        failed = [o for o in [*outs1, *outs2] if isinstance(o, GenFailure)]
        if failed:
            results.append(RecordFailed(spec, rec, f"generation failed: {failed[0].reason}"))
            continue
        rendered = [adapter.render(GenRequest(media, modality, p.system, p.query)) for p in [*ps1, *ps2]]
        text = P.assemble(spec, outs1, outs2)  # type: ignore[arg-type]
        results.append(_answer_row(spec, rec, text, rendered))
    return results


def _answer_row(spec: DatasetSpec, rec: BenchRecord, text: Any, prompt: list[str]) -> dict[str, Any]:
    return {"dataset": spec.key, "index": rec.index, "id": rec.json_id, "text": text, "prompt": prompt,
            "query_sha": query_digest(spec, rec)}  # fmt: skip


def query_digest(spec: DatasetSpec, rec: BenchRecord) -> str:
    """What a record asked (its first-pass system message and queries): a logged answer is reused on
    resume only for the same question, whatever the adapter rendered around it."""
    asked = [[p.system, p.query] for p in P.first_prompts(spec, rec)]
    return hashlib.sha256(json.dumps(asked).encode("utf-8")).hexdigest()[:16]


def _error_row(exc: RecordFailed) -> dict[str, Any]:
    r = exc.record
    return {"dataset": exc.spec.key, "index": r.index, "id": r.json_id, "error": exc.reason}


def run_dataset(
    adapter: Adapter,
    cfg: EvalConfig,
    spec: DatasetSpec,
    records: list[BenchRecord],
    writers: tuple[Any, Any],
    *,
    show: bool = True,
    view: BevView | None = None,
) -> tuple[int, int]:
    """Answer ``records`` (this rank's pending share); returns (answered, skipped)."""
    answers_log, errors_log = writers
    done = skipped = 0
    bar = progress_bar(total=len(records), desc=spec.key, unit="sample", disable=not show, dynamic_ncols=True)

    def fail(exc: RecordFailed) -> None:
        nonlocal skipped
        if cfg.on_error != "skip":
            raise exc
        errors_log.write(_error_row(exc))
        skipped += 1
        bar.set_postfix(skipped=skipped)

    try:
        for start in range(0, len(records), cfg.batch_size):
            chunk = records[start : start + cfg.batch_size]
            items: list[tuple[BenchRecord, Path | None]] = []
            for rec in chunk:
                try:
                    replayed = adapter.replay(spec, rec)
                    if replayed is not None:
                        answers_log.write(_answer_row(spec, rec, replayed, []))
                        done += 1
                        continue
                    media = check_media(cfg.benchmark_dir, spec, rec)
                    items.append((rec, view.render(media) if view and spec.dim == "3d" else media))
                except RecordFailed as exc:
                    fail(exc)
                except FormatError as exc:
                    fail(RecordFailed(spec, rec, str(exc)))
            if items:
                for res in answer_batch(
                    adapter, spec, items, cfg.batch_size, view if spec.dim == "3d" else None
                ):
                    if isinstance(res, RecordFailed):
                        fail(res)
                    else:
                        answers_log.write(res)
                        done += 1
            bar.update(len(chunk))
    finally:
        bar.close()
    return done, skipped


# ---------------------------------------------------------------------------------------- provenance


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance(cfg: EvalConfig, adapter: Adapter, world: int, started: str) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "adapter": adapter.kind,
        "decoding": adapter.decoding(),
        "batch_size": cfg.batch_size,
        "processes": world,
        "seed": cfg.seed,
        "limit": cfg.limit,
        "on_error": cfg.on_error,
        "protocol": cfg.protocol,
        "pcl_view": cfg.pcl_view,
        "benchmark_dir": str(Path(cfg.benchmark_dir).resolve()),
        "benchmark": identify_benchmark(cfg.benchmark_dir),  # LAMM-Mini or the real one: never compared
        "training": training_provenance(cfg.model),  # checkpoint -> `lamm train` log (report's curves)
        "datasets": [s.key for s in cfg.datasets],
        "versions": versions(*PACKAGES),
        "git_commit": _git_commit(),
        "command": sys.argv,
        "started": started,
        "finished": _now(),
    }


# Adapter options that change the answers: a resumed run must use the same ones (device, concurrency and
# timeouts only change how fast they come). hf: ``model_args`` (dtype, processor options, ...) count too.
ANSWER_OPTIONS = (
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "template",
    "dtype",
    "model_args",
)
BASE_OPTIONS = ("base_llm", "encoder", "modality", "num_media_tokens", "encoder_options")  # official .pt


def answer_settings(cfg: EvalConfig) -> dict[str, Any]:
    """What a resumed run must share with the answers already there: the decoding options, the bases of
    an official delta, the seed when sampling, for lamm models on point clouds the vision tags that
    ``--protocol`` selects, and the ``--pcl-view`` point clouds are shown through."""
    from lamm.bench.eval.adapters.lamm import vision_tags

    options = {k: cfg.adapter_options[k] for k in ANSWER_OPTIONS + BASE_OPTIONS if k in cfg.adapter_options}
    if options.get("do_sample"):
        options["seed"] = cfg.seed
    if cfg.model.startswith("lamm:") and any(s.dim == "3d" for s in cfg.datasets):
        options["vision_tags"] = vision_tags(cfg.protocol) or "pcl"
    if cfg.pcl_view and any(s.dim == "3d" for s in cfg.datasets):
        options["pcl_view"] = cfg.pcl_view
    return options


def holds_answers(out: Path) -> bool:
    """Whether a run folder holds any answer or failed record (its ``run.json`` alone is no claim: a run
    that stopped before answering, e.g. at a missing meta file, leaves the folder free)."""
    logs = [out / ANSWERS, out / ERRORS, *(out / PARTS).glob("*.jsonl")]
    return any(p.is_file() and p.stat().st_size > 0 for p in logs)


def _check_run_dir(cfg: EvalConfig) -> None:
    """Refuse to mix two models' answers, or answers decoded differently, in one run folder."""
    info = cfg.out / RUN_INFO
    options = answer_settings(cfg)
    if info.is_file() and holds_answers(cfg.out):
        prev = json.loads(info.read_text("utf-8"))
        if prev.get("model") != cfg.model:
            raise ValueError(
                f"{cfg.out} holds answers of model {prev.get('model')!r}, not {cfg.model!r}; "
                "choose another --out"
            )
        before = prev.get("answer_options")
        if before is not None and "vision_tags" in options:
            before = {"vision_tags": "pcl", **before}  # folders from before the key: lamm always used <Pcl>
        if before is not None and before != options:
            diff = ", ".join(
                f"{k}: {before.get(k, 'unset')!r} there, {options.get(k, 'unset')!r} now"
                for k in sorted(set(before) | set(options))
                if before.get(k) != options.get(k)
            )
            raise ValueError(
                f"{cfg.out} holds answers made with other settings ({diff}); rerun with the same "
                "options or choose another --out"
            )


def _record_run(cfg: EvalConfig) -> None:
    """Write ``run.json`` once the adapter is built, so a spec that fails to load claims no folder."""
    info = cfg.out / RUN_INFO
    if not info.is_file() or not holds_answers(cfg.out):
        cfg.out.mkdir(parents=True, exist_ok=True)
        info.write_text(
            json.dumps(
                {"model": cfg.model, "answer_options": answer_settings(cfg), "created": _now()}, indent=2
            ),
            "utf-8",
        )


def check_log(cfg: EvalConfig, spec: DatasetSpec, records: list[BenchRecord], done: dict) -> None:
    """A resumed run trusts a logged answer only if its index exists and its id is that record's id."""
    log = cfg.out / ANSWERS
    for (key, index), row in done.items():
        if key != spec.key:
            continue
        if not 0 <= index < len(records):
            raise FormatError(
                log, f"{spec.key}: logged answer for record {index} (id {row.get('id')!r}) but the meta "
                f"file has {len(records)} records; this run folder belongs to another benchmark, choose "
                "another --out", index=index,
            )  # fmt: skip
        if str(row.get("id")) != records[index].id:
            raise FormatError(
                log, f"{spec.key}: logged answer id {row.get('id')!r} does not match meta record id "
                f"{records[index].id!r} at index {index}; this run folder belongs to another benchmark, "
                "choose another --out", index=index,
            )  # fmt: skip
        try:
            asked = query_digest(spec, records[index])
        except ValueError:  # a malformed query: the run itself reports it by name
            continue
        if row.get("query_sha", asked) != asked:  # rows logged before query_sha existed: not compared
            raise FormatError(
                log, f"{spec.key}: the logged answer for record {index} (id {row.get('id')!r}) was given to "
                "another question than the meta file asks now (the meta file changed since); choose "
                "another --out to answer it again", index=index,
            )  # fmt: skip


def _seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# ------------------------------------------------------------------------------------------- finish


def finish(cfg: EvalConfig, adapter: Adapter, store: AnswerStore, world: int, started: str) -> dict[str, Any]:
    """Official answer files, scores and ``results.json`` from the consolidated log (rank 0)."""
    answers, errors = store.answers(), store.errors()
    results: dict[str, Any] = {"run": provenance(cfg, adapter, world, started), "datasets": {}}
    for spec in cfg.datasets:
        records = load_benchmark(cfg.benchmark_dir, spec)
        if cfg.limit is not None:
            records = records[: cfg.limit]
        rows = [answers.get((spec.key, r.index)) for r in records]
        skipped = [
            {"index": r.index, "id": r.json_id, "error": errors[(spec.key, r.index)]["error"]}
            for r, row in zip(records, rows)
            if row is None and (spec.key, r.index) in errors
        ]
        official = official_rows(spec, records, rows, errors, adapter.delta_path)
        missing = sum(1 for row in rows if row is None)
        entry: dict[str, Any] = {
            "dataset": spec.name,
            "mode": spec.mode,
            "task": spec.task,
            "answer_file": f"{OFFICIAL_DIR}/{spec.answer_file}",
            "n_records": len(records),
            "n_answered": sum(1 for row in rows if row),
            "skipped": skipped,
            "missing": missing,
        }
        write_official_answers(cfg.out / OFFICIAL_DIR, spec, official)
        if cfg.score and any(rows):
            entry.update(score_answers(cfg, spec, official))
        results["datasets"][spec.key] = entry
    write_json_official(cfg.out / RESULTS, results)
    return results


def official_rows(
    spec: DatasetSpec,
    records: list[BenchRecord],
    rows: list[dict[str, Any] | None],
    errors: dict[tuple[str, int], dict[str, Any]],
    delta_path: str,
) -> list[dict[str, Any]]:
    """The official answer file's entries, one per record in meta order: a record without an answer
    gets a placeholder (its error as the reason), so official scorers (``zip``) stay aligned."""
    out = []
    for r, row in zip(records, rows):
        if row:
            out.append({"id": row["id"], "text": row["text"], "delta_path": delta_path})
        else:
            err = errors.get((spec.key, r.index), {}).get("error", "not answered")
            out.append(placeholder(spec, r.json_id, err, delta_path))
    return out


def score_answers(cfg: EvalConfig, spec: DatasetSpec, official: list[dict[str, Any]]) -> dict[str, Any]:
    """Score the official file's entries with ``lamm score``'s code (placeholders are reported as
    skipped, not scored, so ``lamm score`` on the file gives these numbers); per-sample details go to
    ``scores/<dataset>.json``. Records beyond ``--limit`` are reported as unanswered positions."""
    from lamm.bench.score import score_dataset

    score = score_dataset(cfg.benchmark_dir, spec, official, protocol=cfg.protocol, on_error="skip")
    samples = score.pop("samples", None)
    if samples is not None:
        write_json_official(cfg.out / SCORES_DIR / f"{spec.key}.json", samples)
    unscored = score.pop("skipped", [])
    score["n_unscored"] = len(unscored)
    routine = (PLACEHOLDER_REASON, "no answer at this position")
    score["unscored"] = [u for u in unscored if not str(u.get("reason")).startswith(routine)][:50]
    return {"score": score, "metric": score.get("metric"), "value": score.get("value"),
            "parse_failure_rate": score.get("parse_failure_rate")}  # fmt: skip


# ---------------------------------------------------------------------------------------------- main


def evaluate(cfg: EvalConfig, adapter: Adapter | None = None) -> dict[str, Any] | None:
    """Run the evaluation; returns ``results.json``'s content on rank 0 (``None`` on other ranks)."""
    cfg.out = Path(cfg.out)
    cfg.benchmark_dir = Path(cfg.benchmark_dir)
    dist = sharding.init()
    started = _now()
    lock = FolderLock(cfg.out, "lamm eval")
    try:
        _take_lock(lock, dist)
        store = AnswerStore(cfg.out, dist.rank, dist.world)
        if dist.main:
            _check_run_dir(cfg)
            store.consolidate()  # merges whatever an earlier (killed) run left, any process count
        sharding.barrier(dist)
        adapter = adapter or build_adapter(cfg.model, **cfg.adapter_options)
        adapter.protocol = cfg.protocol
        _seed(cfg.seed)  # after the build: torch is imported now, and sampling starts from the seed
        if dist.main:
            _record_run(cfg)
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
