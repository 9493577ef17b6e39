"""Benchmark meta files (``<Benchmark>/meta_file/<Task>_<Dataset>.json``): typed records + validation.

Record schema and coordinate conventions per dataset: docs/formats.md (LAMM_FORMATS §2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array
from lamm.formats.paths import resolve_media
from lamm.protocol.datasets import DATASETS, LSP_JOINTS, DatasetSpec


@dataclass(frozen=True)
class BenchRecord:
    """One benchmark record, in file order (``index``); ``raw`` keeps every stored field. ``id`` is the
    string the official code compares (``str(id)``, or ``str(index)`` when the record has none)."""

    index: int
    id: str
    media: str
    query: str
    raw: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    @property
    def json_id(self) -> str | int:
        """The id as answer files write it back: the stored value with its JSON type (an int stays an
        int), or ``str(index)`` as ChEF assigns when the record has no id."""
        return self.raw["id"] if "id" in self.raw else self.id


def record_id(rec: dict[str, Any], index: int) -> str:
    """As the ChEF readers: ``str(item['id']) if 'id' in item else str(index)`` (the id is optional)."""
    return str(rec["id"]) if "id" in rec else str(index)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _non_finite(x: Any) -> bool:
    """Any NaN or Infinity in a (nested) list: JSON readers accept them, and one moves a score silently."""
    if isinstance(x, list):
        return any(_non_finite(v) for v in x)
    return isinstance(x, float) and not math.isfinite(x)


NON_FINITE = "holds a non-finite number (NaN or Infinity); ground truth must be finite"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _str_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(s, str) for s in x)


def _check_boxes(spec: DatasetSpec, objs: Any) -> str | None:
    n = 6 if spec.dim == "3d" else 4
    if spec.name == "ScanRefer" and isinstance(objs, list) and objs and _is_num(objs[0]):
        objs = [{"label": "", "bbox": objs}]  # ScanRefer stores one bare box
    if not isinstance(objs, list):
        if spec.name == "ScanRefer":
            return f"must be one box [cx, cy, cz, dx, dy, dz] (or a [{{bbox}}] list), got {objs!r}"
        return f"must be a list of {{label, bbox}} objects, got {type(objs).__name__}"
    for k, o in enumerate(objs):
        if not isinstance(o, dict) or "bbox" not in o:
            return f"entry {k} needs a 'bbox'"
        if "label" in o and not isinstance(o["label"], str):
            return f"entry {k} 'label' must be a string, got {o['label']!r}"
        if spec.name != "ScanRefer" and "label" not in o:
            return f"entry {k} needs a 'label'"
        box = o["bbox"]
        if not (isinstance(box, list) and len(box) == n and all(_is_num(v) for v in box)):
            return f"entry {k} 'bbox' must be {n} numbers, got {box!r}"
        if _non_finite(box):
            return f"entry {k} 'bbox' {box!r} {NON_FINITE}"
    return None


def _check_gt(spec: DatasetSpec, rec: dict[str, Any]) -> tuple[str, str] | None:
    """Return ``(field, problem)`` for the ground-truth fields of ``rec``, or None when they are fine."""
    for f in spec.gt_fields:
        if f not in rec:
            return f, "missing ground-truth field"
    given = list(spec.gt_fields)
    for group in spec.gt_one_of:
        present = [f for f in group if f in rec]
        names = " or ".join(repr(f) for f in group)
        if not present:
            return group[0], f"missing ground-truth field: needs exactly one of {names}"
        if len(present) > 1:
            return present[1], f"ground truth given twice: keep exactly one of {names}"
        given += present
    for f in ("object", "gt_bbox"):
        if f in given:
            problem = _check_boxes(spec, rec[f])
            if problem:
                return f, problem
    if "gt_joints" in spec.gt_fields:
        j = rec["gt_joints"]
        ok = isinstance(j, list) and len(j) == len(LSP_JOINTS)
        if not (ok and all(isinstance(p, list) and len(p) >= 2 and all(map(_is_num, p[:2])) for p in j)):
            return "gt_joints", f"must be {len(LSP_JOINTS)} [x, y, v] rows in pixels (LSP joint order)"
        if _non_finite(j):
            return "gt_joints", NON_FINITE
    if "points" in spec.gt_fields:
        p = rec["points"]
        if not (
            isinstance(p, list)
            and all(isinstance(q, list) and len(q) == 2 and all(map(_is_num, q)) for q in p)
        ):
            return "points", "must be a list of [x, y] pixel positions"
        if _non_finite(p):
            return "points", NON_FINITE
    if "gt_choice" in spec.gt_fields:
        choices, choice = rec["gt_choices"], rec["gt_choice"]
        if not _str_list(choices) or not choices:
            return "gt_choices", "must be a non-empty list of option strings"
        if spec.dim == "3d" and len(choices) > 6:
            return "gt_choices", f"3D multiple choice has at most 6 options (A-F), got {len(choices)}"
        if not _is_int(choice):
            return "gt_choice", f"must be an int (0-based option index), got {choice!r}"
        if not 0 <= choice < len(choices):
            return "gt_choice", f"{choice} out of range for {len(choices)} choices"
    if "num" in spec.gt_fields and not (_is_int(rec["num"]) and rec["num"] >= 0):
        return "num", f"must be a non-negative int, got {rec['num']!r}"
    if "attr" in spec.gt_fields:
        attr = rec["attr"]
        if not isinstance(attr, str):
            return "attr", f'must be a string (CelebA(Smile) uses "1" / "-1"), got {attr!r}'
        if spec.name == "CelebA(Smile)" and attr not in ("1", "-1"):
            return "attr", f'CelebA(Smile) attr must be "1" or "-1", got {attr!r}'
    if "label" in spec.gt_fields and not isinstance(rec["label"], str):
        return "label", f"must be a string, got {rec['label']!r}"
    if "word_list" in spec.gt_fields and not (_str_list(rec["word_list"]) and rec["word_list"]):
        return "word_list", "must be a non-empty list of strings"
    if "sentences" in spec.gt_fields and not (_str_list(rec["sentences"]) and rec["sentences"]):
        return "sentences", "must be a non-empty list of reference captions"
    return None


def check_bench_record(path: str | Path, spec: DatasetSpec, index: int, rec: dict[str, Any]) -> BenchRecord:
    """Validate one meta record of ``spec``; a FormatError names file, record index, id and field."""
    rid = rec.get("id")
    for f in (spec.media_key, "query"):
        if f not in rec:
            raise FormatError(path, "missing field", index=index, record_id=rid, field=f)
    if "id" in rec and not (isinstance(rid, str) or _is_int(rid)):
        raise FormatError(path, f"id must be a string or an integer, got {rid!r}", index=index, field="id")
    media = rec[spec.media_key]
    if not isinstance(media, str) or not media:
        raise FormatError(
            path, "media path must be a non-empty string", index=index, record_id=rid, field=spec.media_key
        )
    if not isinstance(rec["query"], str):
        raise FormatError(path, "query must be a string", index=index, record_id=rid, field="query")
    problem = _check_gt(spec, rec)
    if problem:
        raise FormatError(path, problem[1], index=index, record_id=rid, field=problem[0])
    return BenchRecord(index, record_id(rec, index), media, rec["query"], rec)


def meta_path(benchmark_dir: str | Path, spec: DatasetSpec) -> Path:
    """``<dir>/meta_file/<Task>_<Dataset>.json``, or a later release's name for it when only that exists."""
    folder = Path(benchmark_dir) / "meta_file"
    path = folder / spec.meta_file
    if not path.is_file():
        for alt in spec.alt_meta_files:
            if (folder / alt).is_file():
                return folder / alt
    return path


def spec_for_file(path: str | Path) -> DatasetSpec | None:
    """The dataset whose official file name (``<Task>_<Dataset>.json``, or ``.jsonl``) ``path`` has."""
    p = Path(path)
    name = p.stem + ".json" if p.suffix in (".json", ".jsonl") else p.name
    for spec in DATASETS:
        if name == spec.meta_file or name in spec.alt_meta_files:
            return spec
    return None


def load_benchmark(benchmark_dir: str | Path, spec: DatasetSpec) -> list[BenchRecord]:
    """Read and validate one dataset's meta file; errors name the file, record, id and field."""
    path = meta_path(benchmark_dir, spec)
    records = [check_bench_record(path, spec, i, rec) for i, rec in enumerate(read_json_array(path))]
    if not records:  # as `lamm data validate` says: nothing to evaluate is an error, not a 0/0 result
        raise FormatError(path, "file holds no records")
    return records


def media_file(benchmark_dir: str | Path, record: BenchRecord, *, source: str | Path | None = None) -> Path:
    """Absolute path of a record's image / point cloud, kept inside the benchmark folder."""
    return resolve_media(benchmark_dir, record.media, source=source)
