"""Benchmark meta files (``<Benchmark>/meta_file/<Task>_<Dataset>.json``): typed records + validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array
from lamm.formats.paths import resolve_media
from lamm.protocol.datasets import DatasetSpec


@dataclass(frozen=True)
class BenchRecord:
    """One benchmark record, in file order (``index``); ``raw`` keeps every stored field."""

    index: int
    id: str
    media: str
    query: str
    raw: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_gt(spec: DatasetSpec, rec: dict[str, Any]) -> str | None:
    """Return a problem description for the ground-truth fields of ``rec``, or None."""
    for f in spec.gt_fields:
        if f not in rec:
            return f"missing ground-truth field {f!r}"
    if "object" in spec.gt_fields:
        objs = rec["object"]
        n = 6 if spec.dim == "3d" else 4
        if spec.name == "ScanRefer":
            objs = (
                [{"label": "", "bbox": objs}]
                if isinstance(objs, list) and objs and _is_num(objs[0])
                else objs
            )
        if not isinstance(objs, list):
            return "'object' must be a list"
        for o in objs:
            if not isinstance(o, dict) or "bbox" not in o:
                return "'object' entries need a 'bbox'"
            box = o["bbox"]
            if not (isinstance(box, list) and len(box) == n and all(_is_num(v) for v in box)):
                return f"'bbox' must be {n} numbers, got {box!r}"
    if "gt_joints" in spec.gt_fields:
        j = rec["gt_joints"]
        if not (isinstance(j, list) and len(j) == 14 and all(isinstance(p, list) and len(p) >= 2 for p in j)):
            return "'gt_joints' must be 14 [x, y, v] rows"
    if "points" in spec.gt_fields:
        p = rec["points"]
        if not (isinstance(p, list) and all(isinstance(q, list) and len(q) == 2 for q in p)):
            return "'points' must be a list of [x, y]"
    if "gt_choice" in spec.gt_fields:
        if not (isinstance(rec["gt_choice"], int) and isinstance(rec["gt_choices"], list)):
            return "'gt_choice' must be an int and 'gt_choices' a list"
        if not 0 <= rec["gt_choice"] < len(rec["gt_choices"]):
            return f"'gt_choice' {rec['gt_choice']} out of range for {len(rec['gt_choices'])} choices"
    if "num" in spec.gt_fields and not isinstance(rec["num"], int):
        return "'num' must be an int"
    if "attr" in spec.gt_fields and not isinstance(rec["attr"], str):
        return '\'attr\' must be a string (CelebA(Smile) uses "1" / "-1")'
    if "word_list" in spec.gt_fields and not isinstance(rec["word_list"], list):
        return "'word_list' must be a list of strings"
    if "sentences" in spec.gt_fields and not isinstance(rec["sentences"], list):
        return "'sentences' must be a list of strings"
    return None


def meta_path(benchmark_dir: str | Path, spec: DatasetSpec) -> Path:
    return Path(benchmark_dir) / "meta_file" / spec.meta_file


def load_benchmark(benchmark_dir: str | Path, spec: DatasetSpec) -> list[BenchRecord]:
    """Read and validate one dataset's meta file; errors name the file, record, id and field."""
    path = meta_path(benchmark_dir, spec)
    records = []
    for i, rec in enumerate(read_json_array(path)):
        rid = rec.get("id")
        for f in ("id", spec.media_key, "query"):
            if f not in rec:
                raise FormatError(path, "missing field", index=i, record_id=rid, field=f)
        if not isinstance(rec["query"], str):
            raise FormatError(path, "query must be a string", index=i, record_id=rid, field="query")
        problem = _check_gt(spec, rec)
        if problem:
            raise FormatError(path, problem, index=i, record_id=rid)
        records.append(BenchRecord(i, str(rid), rec[spec.media_key], rec["query"], rec))
    return records


def media_file(benchmark_dir: str | Path, record: BenchRecord, *, source: str | Path | None = None) -> Path:
    """Absolute path of a record's image / point cloud, kept inside the benchmark folder."""
    return resolve_media(benchmark_dir, record.media, source=source)
