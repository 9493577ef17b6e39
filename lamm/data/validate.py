"""Validate LAMM files and the media they reference; collect every problem instead of stopping at one.

Kinds of file (told apart by name and content, see ``detect_kind``):
* ``instruct``: instruction meta file (records with ``conversations`` and ``image``/``pcl``);
* ``benchmark``: a benchmark meta file under its official name ``<Task>_<Dataset>.json``;
* ``answers``: an answer file (``.jsonl``, or a JSON array of ``{"id", "text", ...}``).

This module walks the path, tells each file's kind and checks its records; media reads live in
``validate_media`` (each distinct file read once, every record that references a bad one reported with
file, record index and id), answer pairing in ``validate_answers``, the findings in ``validate_report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.data.validate_answers import validate_answers
from lamm.data.validate_media import MediaChecker, MediaRef, check_media_refs
from lamm.data.validate_report import FileReport, Problem, ValidationReport
from lamm.formats.benchmark import check_bench_record
from lamm.formats.errors import FormatError
from lamm.formats.instruct import check_instruct_record, media_key_of, turn_order_note
from lamm.formats.jsonio import iter_jsonl, read_json_array
from lamm.formats.paths import media_root, prefer_unions, resolve_media
from lamm.protocol.prompts import prompts
from lamm.tasks import DatasetSpec, spec_for_file

KINDS = ("auto", "instruct", "benchmark", "answers")


def collect_files(path: str | Path) -> list[Path]:
    """The LAMM files under ``path``: the file itself; for a data root (a folder with ``meta_file/``, or
    sub-folders with one: a LAMM-Mini or LAMM download) the ``*.json`` in those ``meta_file/`` folders
    (only the ``LAMM_*instruct*`` unions where they sit beside per-kind files, so no sample counts
    twice); for any other folder (answers) its own ``*.json``/``*.jsonl``."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    metas = [p / "meta_file" for p in (path, *sorted(path.iterdir())) if (p / "meta_file").is_dir()]
    folders = metas or [path]
    return [
        f
        for folder in folders
        for f in prefer_unions(
            [f for f in sorted(folder.iterdir()) if f.suffix in (".json", ".jsonl") and f.is_file()]
        )
    ]


def _load_records(path: Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path)) if path.suffix == ".jsonl" else read_json_array(path)


def detect_kind(path: str | Path, records: list[dict[str, Any]]) -> tuple[str | None, DatasetSpec | None]:
    """Tell instruct / benchmark / answers apart: answer files share the benchmark's file names, so
    records with ``text`` and no ``query`` are answers; ``conversations`` marks an instruction file."""
    spec = spec_for_file(path)
    head = records[:20]
    if Path(path).suffix == ".jsonl" or any("text" in r and "query" not in r for r in head):
        return "answers", spec
    if any("conversations" in r for r in head):
        return "instruct", None
    if spec is not None:
        return "benchmark", spec
    return None, None


def _known_task_types() -> set[str]:
    p = prompts()
    return set(p["train_task_system_messages_v1"]) | set(p["train_task_system_messages_latest"])


def validate_path(
    path: str | Path,
    *,
    root: str | Path | None = None,
    kind: str = "auto",
    check_media: bool = True,
    workers: int = 1,
    progress: bool = False,
) -> ValidationReport:
    """Validate a LAMM file or a folder of them. ``root`` overrides the media root (default: the parent
    of ``meta_file/``) and, for answer files, names the benchmark whose meta records they must match."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    report = ValidationReport()
    media = MediaChecker(workers, progress)
    files = collect_files(path)
    if not files:
        report.problems.append(Problem("file", FormatError(path, "no .json/.jsonl LAMM files found here")))
    for f in files:
        _validate_file(f, report, media, root=root, kind=kind, check_media=check_media)
    return report


def _validate_file(
    path: Path,
    report: ValidationReport,
    media: MediaChecker,
    *,
    root: str | Path | None,
    kind: str,
    check_media: bool,
) -> None:
    n_before = len(report.problems)
    fr = FileReport(str(path), "unknown" if kind == "auto" else kind)
    report.files.append(fr)
    try:
        records = _load_records(path)
    except FormatError as exc:
        report.problems.append(Problem("file", exc))
        fr.problems = 1
        return
    fr.records = len(records)
    report.records += len(records)
    detected, spec = detect_kind(path, records)
    fr.kind = (detected or "unknown") if kind == "auto" else kind
    if kind != "auto" and fr.kind in ("benchmark", "answers"):
        spec = spec_for_file(path)
    fr.dataset = spec.key if spec else None
    bad: set[int] = set()

    def problem(kind_: str, err: FormatError) -> None:
        report.problems.append(Problem(kind_, err))
        if err.index is not None:
            bad.add(err.index)

    if not records:
        problem("file", FormatError(path, "file holds no records"))
    elif fr.kind == "unknown":
        problem(
            "file",
            FormatError(
                path,
                "cannot tell what kind of LAMM file this is (no 'conversations', no 'text', and not an "
                "official benchmark file name <Task>_<Dataset>.json); pass --kind",
            ),
        )
    elif fr.kind == "benchmark" and spec is None:
        problem("file", FormatError(path, "not an official benchmark meta-file name <Task>_<Dataset>.json"))
    elif fr.kind == "answers":
        validate_answers(path, records, spec, root, report, problem)
    else:
        base = media_root(path, root)
        refs = (
            _validate_instruct(path, records, base, report, problem)
            if fr.kind == "instruct"
            else _validate_benchmark(path, records, spec, base, report, problem)
        )
        if check_media:
            check_media_refs(path, refs, media, report, problem)
    report.bad_records += len(bad)
    fr.problems = len(report.problems) - n_before


def _validate_instruct(path, records, media_root, report, problem) -> list[MediaRef]:
    known = _known_task_types()
    refs: list[MediaRef] = []
    for i, rec in enumerate(records):
        key = media_key_of(rec)
        if key is None:
            report.ignored += 1
            continue
        rid = rec.get("id")
        try:
            sample = check_instruct_record(path, i, rec)
        except FormatError as exc:
            problem("schema", exc)
            sample = None
        if sample is not None:
            report.task_types[sample.task_type] += 1
            report.turns.append(sum(1 for t in sample.conversations if t["from"] == "gpt"))
            note = turn_order_note(sample.conversations)
            if note:
                report.warnings.append(
                    Problem("turns", FormatError(path, note, index=i, record_id=rid, field="conversations"))
                )
            if sample.task_type not in known:
                problem(
                    "schema",
                    FormatError(
                        path,
                        f"unknown task_type {sample.task_type!r}; it has no system message (known: "
                        f"{', '.join(sorted(known))})",
                        index=i,
                        record_id=rid,
                        field="task_type",
                    ),
                )
        if not isinstance(rec[key], str) or not rec[key]:
            continue
        try:
            full = resolve_media(media_root, rec[key], source=path, allow_absolute=True)
        except FormatError as exc:
            problem("schema", FormatError(path, exc.message, index=i, record_id=rid, field=key))
            continue
        refs.append((i, rid, key, rec[key], full))
    return refs


def _validate_benchmark(path, records, spec, media_root, report, problem) -> list[MediaRef]:
    refs: list[MediaRef] = []
    key = spec.media_key
    for i, rec in enumerate(records):
        report.datasets[spec.key] += 1
        try:
            check_bench_record(path, spec, i, rec)
        except FormatError as exc:
            problem("schema", exc)
        stored = rec.get(key)
        if not isinstance(stored, str) or not stored:
            continue
        try:
            full = resolve_media(media_root, stored, source=path)
        except FormatError as exc:
            problem("schema", FormatError(path, exc.message, index=i, record_id=rec.get("id"), field=key))
            continue
        refs.append((i, rec.get("id"), key, stored, full))
    return refs
