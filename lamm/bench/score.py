"""Score answers against a LAMM benchmark dataset (the API behind ``lamm score`` and ``lamm eval``).

Answers pair with meta records **by position**, as in the official evaluators. Everything the official
code would crash on or silently drop (a count or id mismatch, a missing or truncated image, an answer of
the wrong type) is a :class:`FormatError` naming the file and record, or with ``on_error="skip"`` an
entry of ``skipped`` while the rest is scored. A placeholder (a record ``lamm eval`` skipped, see
``lamm.formats.answers``) is always an entry of ``skipped`` and never scored. No torch import here.
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path
from typing import Any

from lamm.formats import FormatError, load_benchmark, media_file, read_answers
from lamm.formats.answers import PLACEHOLDER_REASON, SKIPPED, answer_path, check_answer, is_placeholder
from lamm.formats.benchmark import meta_path
from lamm.formats.jsonio import iter_jsonl
from lamm.metrics.metrics2d import Context, Item, Outcome
from lamm.tasks import DatasetSpec, datasets_2d, find_dataset
from lamm.versions import versions

PROTOCOLS = ("lamm", "lamm-v1")


# ------------------------------------------------------------------------------------------------ images


def _tail_ok(tail: bytes, fmt: str) -> bool:
    """End-marker check (JPEG EOI, PNG IEND): catches truncated files without a full decode."""
    return tail.endswith(b"\xff\xd9") if fmt == "JPEG" else tail.endswith(b"IEND\xaeB`\x82")


def _jpeg_size(fh) -> tuple[int, int] | None:
    """(width, height) from the first SOFn marker, as PIL reads it; None if the stream looks odd."""
    fh.seek(2)
    while True:
        b = fh.read(1)
        while b == b"\xff":
            b = fh.read(1)
        if not b:
            return None
        m = b[0]
        if m == 0xD8 or 0xD0 <= m <= 0xD7 or m == 0x01:
            continue
        seg = fh.read(2)
        if len(seg) < 2:
            return None
        n = int.from_bytes(seg, "big")
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            d = fh.read(5)
            return (int.from_bytes(d[3:5], "big"), int.from_bytes(d[1:3], "big")) if len(d) == 5 else None
        if m == 0xDA or n < 2:
            return None
        fh.seek(n - 2, 1)


def _fast_size(path: str) -> tuple[int, int] | None:
    """Header + end-marker read for intact PNG/JPEG files (~20x faster than PIL); None -> use PIL."""
    with open(path, "rb") as fh:
        head = fh.read(24)
        fh.seek(0, 2)
        end = fh.tell()
        fh.seek(max(0, end - 12))
        tail = fh.read()
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and _tail_ok(tail, "PNG"):
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if head[:3] == b"\xff\xd8\xff" and _tail_ok(tail, "JPEG"):
            return _jpeg_size(fh)
    return None


@cache
def image_size(path: str) -> tuple[int, int]:
    """(width, height) as the official ``PIL.Image.open(...).size``; OSError if the file is missing,
    unreadable or truncated. Intact PNG/JPEG files are sized from their header (their end marker proves
    they are complete); anything else is opened and fully decoded by PIL (raises on truncated data)."""
    size = _fast_size(path)
    if size and size[0] > 0 and size[1] > 0:
        return size
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im.size


def media_path(benchmark_dir: str | Path, rec: Any, meta: Path) -> str:
    """The record's image path; a lexical fast path for plain relative paths, otherwise the checked
    :func:`lamm.formats.media_file` (which refuses paths escaping the benchmark folder)."""
    rel = rec.media
    if isinstance(rel, str) and rel and not rel.startswith("/") and ".." not in rel.split("/"):
        return os.path.join(str(benchmark_dir), rel)
    return str(media_file(benchmark_dir, rec, source=meta))


# --------------------------------------------------------------------------------------------- helpers


def resolve_spec(spec: DatasetSpec | str, mode: str = "common") -> DatasetSpec:
    return spec if isinstance(spec, DatasetSpec) else find_dataset(spec, mode)


def read_answer_file(path: str | Path, spec: DatasetSpec) -> list[dict[str, Any]]:
    """The answers of one dataset (``.json``, ``.jsonl`` or a folder + official name), unvalidated:
    per-record problems are reported by :func:`score_dataset` (error or skip).

    A ``lamm eval`` run log (``answers.jsonl``) holds every dataset of the run, each row tagged with its
    ``dataset`` key: only this dataset's rows are kept, in record order."""
    rows = read_answers(path, spec, validate=False)
    tagged = [r for r in rows if isinstance(r, dict) and "dataset" in r]
    if not tagged:
        return rows
    if len(tagged) != len(rows):
        raise FormatError(answer_path(path, spec), "some rows carry a 'dataset' key and some do not")
    mine = [r for r in rows if r["dataset"] == spec.key]
    if not mine:
        held = ", ".join(sorted({str(r["dataset"]) for r in rows}))
        raise FormatError(
            answer_path(path, spec), f"no answers for {spec.key} (mode {spec.mode}) here; it holds: {held}"
        )
    return sorted(mine, key=lambda r: r.get("index", 0)) if all("index" in r for r in mine) else mine


def _logged_datasets(answers: str | Path) -> set[str] | None:
    """The ``dataset`` keys of a ``lamm eval`` run log (None for a folder or an untagged file)."""
    path = Path(answers)
    if path.suffix != ".jsonl" or not path.is_file():
        return None
    keys = {str(r["dataset"]) for r in iter_jsonl(path) if isinstance(r, dict) and "dataset" in r}
    return keys or None


def _finite(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _versions() -> dict[str, str]:
    from lamm.metrics import labels

    v = versions("nltk")
    if labels.wordnet.cache_info().currsize:
        v.update(labels.wordnet_info())
    return v


# ------------------------------------------------------------------------------------------------- API


def score_dataset(
    benchmark_dir: str | Path,
    spec: DatasetSpec | str,
    answers: list[dict[str, Any]] | str | Path,
    *,
    protocol: str = "lamm",
    on_error: str = "raise",
) -> dict[str, Any]:
    """Score one dataset. ``answers`` is a list of ``{"id", "text"}`` dicts in meta-file order, or a path
    (answer file or folder). Returns ``{"dataset", "mode", "metric", "value", "n", "parse_failure_rate",
    "skipped", ...extra numbers, "samples"}``; see docs/scoring.md for every metric and protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    spec = resolve_spec(spec)
    skip = on_error == "skip"
    meta = meta_path(benchmark_dir, spec)
    if isinstance(answers, (str, Path)):
        src: str = str(answer_path(answers, spec))
        answers = read_answer_file(answers, spec)
    else:
        src = "<answers>"
    records = load_benchmark(benchmark_dir, spec)
    skipped: list[dict[str, Any]] = []

    def bad(err: FormatError, index: int, rid: Any) -> None:
        if not skip:
            raise err
        skipped.append({"index": index, "id": rid, "reason": err.message, "file": err.path})

    if len(records) != len(answers):
        err = FormatError(
            src,
            f"{len(answers)} answers for {len(records)} records of {meta}; answers pair with records by "
            "position (use --on-error skip to score the paired prefix)",
        )
        if not skip:
            raise err
        longer = records if len(records) > len(answers) else answers
        for i in range(min(len(records), len(answers)), len(longer)):
            rid = longer[i].id if longer is records else longer[i].get("id")
            what = "answer" if longer is records else "meta record"
            skipped.append({"index": i, "id": rid, "reason": f"no {what} at this position", "file": src})

    items: list[Item] = []
    n_bad = 0
    for rec, ans in zip(records, answers):
        i = rec.index
        if is_placeholder(ans):  # reported, never scored, whatever on_error (it is no format error)
            reason = f"{PLACEHOLDER_REASON}: {ans[SKIPPED]}"
            skipped.append({"index": i, "id": ans.get("id"), "reason": reason, "file": src})
            n_bad += 1
            continue
        try:
            check_answer(src, spec, i, ans)
            if "id" in ans and str(ans["id"]) != rec.id:
                raise FormatError(
                    src, f"answer id {ans['id']!r} does not match meta record id {rec.id!r} (same position)",
                    index=i, record_id=rec.id, field="id",
                )  # fmt: skip
            size = None
            if spec.dim == "2d":  # every image is opened, as officially, needs_image_size or not
                path = media_path(benchmark_dir, rec, meta)
                try:
                    size = image_size(path)
                except (OSError, ValueError) as exc:
                    what = "not found" if not os.path.exists(path) else f"unreadable ({exc})"
                    raise FormatError(
                        meta, f"image {path} {what}", index=i, record_id=rec.id, field="image"
                    ) from None
        except FormatError as err:
            bad(err, i, rec.id)
            n_bad += 1
            continue
        items.append(Item(i, rec.id, rec.raw, ans["text"], size))

    if protocol == "lamm-v1":  # official denominators: meta length / answer length (§7.11)
        ctx = Context(protocol, len(records) - n_bad, len(answers) - n_bad)
    else:
        ctx = Context(protocol, len(items), len(items))
    out: Outcome = spec.metric(items, ctx)
    fails = [r["failed"] for r in out.samples]
    result: dict[str, Any] = {
        "dataset": spec.name,
        "mode": spec.mode,
        "metric": out.metric,
        "value": _finite(out.value),
        "n": len(items),
        "protocol": protocol,
        "parse_failure_rate": sum(fails) / len(fails) if fails else None,
        "skipped": skipped,
        **{k: _finite(v) for k, v in out.extra.items()},
        "n_meta": len(records),
        "n_answers": len(answers),
        "meta_file": str(meta),
        "answers": src,
        "versions": _versions(),
        "samples": [{k: _finite(v) for k, v in r.items()} for r in out.samples],
    }
    return result


def score_all(
    benchmark_dir: str | Path,
    answers_dir: str | Path,
    mode: str = "locating",
    *,
    protocol: str = "lamm",
    on_error: str = "raise",
) -> dict[str, Any]:
    """Every 2D dataset of ``mode`` from a folder of official answer files or a ``lamm eval`` run log.

    For ``locating`` the overall binary metric is ``ACC = sum correct / sum total`` over the datasets of
    the ``v1`` locating pool (VOC2012, LSP, FSC147); ``acc_jul23`` is the same over the ``jul23`` pool
    (jul23 dropped FSC147). Each task file declares its pools (``DatasetSpec.locating_pools``).
    """
    per: dict[str, Any] = {}
    pools: dict[str, tuple[str, ...]] = {}
    skipped: list[dict[str, Any]] = []
    logged = _logged_datasets(answers_dir)
    for spec in datasets_2d(mode):
        path = answer_path(answers_dir, spec)
        reason = None
        if not path.is_file():
            reason = f"answer file {path} not found"
        elif logged is not None and spec.key not in logged:
            reason = f"{path} holds no answers for {spec.key}"
        if reason and on_error == "skip":
            skipped.append({"dataset": spec.name, "reason": reason, "file": str(path)})
            continue
        res = score_dataset(benchmark_dir, spec, answers_dir, protocol=protocol, on_error=on_error)
        per[spec.name] = res
        pools[spec.name] = spec.locating_pools
    result: dict[str, Any] = {
        "dataset": "all",
        "mode": mode,
        "protocol": protocol,
        "skipped": skipped + [dict(s, dataset=k) for k, r in per.items() for s in r["skipped"]],
        "datasets": {k: {kk: vv for kk, vv in r.items() if kk != "samples"} for k, r in per.items()},
    }
    if mode == "locating":  # one binary metric over the datasets: its n and failure rate pool too
        fails = [s["failed"] for r in per.values() for s in r["samples"]]
        result["n"] = sum(r["n"] for r in per.values())
        result["parse_failure_rate"] = sum(fails) / len(fails) if fails else None
        c = sum(r["correct"] for k, r in per.items() if "v1" in pools[k])
        t = sum(r["total"] for k, r in per.items() if "v1" in pools[k])
        cj = sum(r["correct"] for k, r in per.items() if "jul23" in pools[k])
        tj = sum(r["total"] for k, r in per.items() if "jul23" in pools[k])
        result.update(
            metric="acc", value=c / t if t else None, correct=c, total=t,
            acc_jul23=cj / tj if tj else None,
        )  # fmt: skip
    else:  # accuracy, MAE, recall...: no pooled number, each dataset reports its own n
        result.update(metric="per-dataset", value=None)
    result["samples"] = [dict(s, dataset=k) for k, r in per.items() for s in r["samples"]]
    return result
