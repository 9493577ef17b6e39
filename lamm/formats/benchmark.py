"""Benchmark meta files (``<Benchmark>/meta_file/<Task>_<Dataset>.json``): typed records + validation.

Record schema and coordinate conventions per dataset: docs/formats.md (LAMM_FORMATS §2); each dataset's
ground-truth check is declared by its task file (``lamm.tasks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array
from lamm.formats.paths import resolve_media


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


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class DatasetLike(Protocol):
    """What this layer reads of a dataset; ``lamm.tasks.DatasetLike`` (the registry, a layer above) has it."""

    name: str
    mode: str
    dim: str
    alt_meta_files: tuple[str, ...]
    answer_keys: tuple[str, ...]

    @property
    def key(self) -> str: ...
    @property
    def meta_file(self) -> str: ...
    @property
    def answer_file(self) -> str: ...
    @property
    def media_key(self) -> str: ...
    @property
    def answer_is_object(self) -> bool: ...
    def check_gt(self, rec: dict[str, Any]) -> tuple[str, str] | None: ...


def check_bench_record(path: str | Path, spec: DatasetLike, index: int, rec: dict[str, Any]) -> BenchRecord:
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
    problem = spec.check_gt(rec)
    if problem:
        raise FormatError(path, problem[1], index=index, record_id=rid, field=problem[0])
    return BenchRecord(index, record_id(rec, index), media, rec["query"], rec)


def meta_path(benchmark_dir: str | Path, spec: DatasetLike) -> Path:
    """``<dir>/meta_file/<Task>_<Dataset>.json``, or a later release's name for it when only that exists."""
    folder = Path(benchmark_dir) / "meta_file"
    path = folder / spec.meta_file
    if not path.is_file():
        for alt in spec.alt_meta_files:
            if (folder / alt).is_file():
                return folder / alt
    return path


def load_benchmark(benchmark_dir: str | Path, spec: DatasetLike) -> list[BenchRecord]:
    """Read and validate one dataset's meta file; errors name the file, record, id and field."""
    path = meta_path(benchmark_dir, spec)
    records = [check_bench_record(path, spec, i, rec) for i, rec in enumerate(read_json_array(path))]
    if not records:  # as `lamm data validate` says: nothing to evaluate is an error, not a 0/0 result
        raise FormatError(path, "file holds no records")
    return records


def media_file(benchmark_dir: str | Path, record: BenchRecord, *, source: str | Path | None = None) -> Path:
    """Absolute path of a record's image / point cloud, kept inside the benchmark folder."""
    return resolve_media(benchmark_dir, record.media, source=source)
