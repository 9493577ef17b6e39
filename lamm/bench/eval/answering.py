"""Answering one dataset's records: media checks, batched two-pass generation, one log row per record.

A record that cannot be answered (bad media, a prompt longer than the model's context, a failed request)
becomes a :class:`RecordFailed` naming it; ``--on-error skip`` logs it and goes on, else it is raised.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lamm.bench.eval import prompts as P
from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest
from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.views import BevView
from lamm.formats.benchmark import BenchRecord, media_file, meta_path
from lamm.formats.errors import FormatError
from lamm.progress import progress_bar
from lamm.redact import redact
from lamm.tasks import DatasetSpec


class RecordFailed(RuntimeError):
    """A record could not be answered (bad media, failed request). Names dataset, record and cause."""

    def __init__(self, spec: DatasetSpec, record: BenchRecord, reason: str) -> None:
        reason = redact(reason)  # stored in errors.jsonl / results.json and printed
        self.spec, self.record, self.reason = spec, record, reason
        super().__init__(f"{spec.key}: record {record.index} (id {record.id!r}): {reason}")


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
    view = view if spec.dim == "3d" else None  # a point-cloud view renders point clouds only
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
                    items.append((rec, view.render(media) if view else media))
                except RecordFailed as exc:
                    fail(exc)
                except FormatError as exc:
                    fail(RecordFailed(spec, rec, str(exc)))
            if items:
                for res in answer_batch(adapter, spec, items, cfg.batch_size, view):
                    if isinstance(res, RecordFailed):
                        fail(res)
                    else:
                        answers_log.write(res)
                        done += 1
            bar.update(len(chunk))
    finally:
        bar.close()
    return done, skipped
