"""Validate LAMM files and the media they reference; collect every problem instead of stopping at one.

Kinds of file (told apart by name and content, see ``detect_kind``):
* ``instruct``: instruction meta file (records with ``conversations`` and ``image``/``pcl``);
* ``benchmark``: a benchmark meta file under its official name ``<Task>_<Dataset>.json``;
* ``answers``: an answer file (``.jsonl``, or a JSON array of ``{"id", "text", ...}``).

Media are checked by fully reading them (``lamm.formats.media``); each distinct file is read once and
every record that references a bad file is reported with file, record index and id.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamm.formats.answers import check_answer
from lamm.formats.benchmark import check_bench_record, meta_path, record_id
from lamm.formats.errors import FormatError
from lamm.formats.instruct import check_instruct_record, media_key_of, turn_order_note
from lamm.formats.jsonio import iter_jsonl, read_json_array
from lamm.formats.media import check_image, load_npy_points
from lamm.formats.paths import media_root, prefer_unions, resolve_media
from lamm.formats.suite3d import check_suite_record, suite_entry
from lamm.protocol.prompts import prompts
from lamm.tasks import DatasetSpec, all_datasets, spec_for_file

KINDS = ("auto", "instruct", "benchmark", "answers")


@dataclass
class Problem:
    """One problem found; ``kind`` is ``file`` (whole file unusable), ``schema``, ``media`` or ``answers``."""

    kind: str
    error: FormatError

    def to_json(self) -> dict[str, Any]:
        e = self.error
        return {
            "kind": self.kind,
            "file": e.path,
            "index": e.index,
            "id": e.record_id,
            "field": e.field,
            "message": e.message,
        }

    def __str__(self) -> str:
        return str(self.error)


@dataclass
class FileReport:
    path: str
    kind: str
    dataset: str | None = None
    records: int = 0
    problems: int = 0


@dataclass
class ValidationReport:
    """Everything ``validate_path`` found. ``ok`` is True when no problem was found."""

    files: list[FileReport] = field(default_factory=list)
    records: int = 0
    bad_records: int = 0  # records with at least one problem (what ``--on-error skip`` would drop)
    ignored: int = 0  # instruction entries without image/pcl (the official loader skips them)
    task_types: Counter = field(default_factory=Counter)
    datasets: Counter = field(default_factory=Counter)
    turns: list[int] = field(default_factory=list)
    media_checked: int = 0
    media_missing: int = 0
    media_corrupt: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # accepted, but worth knowing; ``ok`` stays

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def file_problems(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "file"]

    def summary(self) -> dict[str, Any]:
        turns = (
            {
                "min": min(self.turns),
                "mean": round(statistics.fmean(self.turns), 4),
                "max": max(self.turns),
            }
            if self.turns
            else None
        )
        return {
            "ok": self.ok,
            "files": [vars(f) for f in self.files],
            "records": self.records,
            "usable_records": self.records - self.bad_records - self.ignored,
            "ignored_records": self.ignored,
            "task_types": dict(sorted(self.task_types.items())),
            "datasets": dict(sorted(self.datasets.items())),
            "turns": turns,
            "media": {
                "checked": self.media_checked,
                "missing": self.media_missing,
                "corrupt": self.media_corrupt,
            },
            "problem_count": len(self.problems),
            "problems": [p.to_json() for p in self.problems],
            "warning_count": len(self.warnings),
            "warnings": [w.to_json() for w in self.warnings],
        }

    def format_text(self, max_problems: int = 50) -> str:
        s = self.summary()
        lines = [
            f"{len(self.files)} file(s), {self.records} records ({s['usable_records']} usable"
            + (f", {self.ignored} without image/pcl ignored" if self.ignored else "")
            + ")"
        ]
        for f in self.files:
            what = f.kind + (f" {f.dataset}" if f.dataset else "")
            lines.append(f"  {f.path}: {what}, {f.records} records, {f.problems} problem(s)")
        if self.task_types:
            lines.append("task types: " + ", ".join(f"{k} {v}" for k, v in s["task_types"].items()))
        if self.datasets:
            lines.append("datasets: " + ", ".join(f"{k} {v}" for k, v in s["datasets"].items()))
        if s["turns"]:
            t = s["turns"]
            lines.append(
                f"turns per sample (human->gpt exchanges): min {t['min']}, mean {t['mean']:.2f}, max {t['max']}"
            )
        m = s["media"]
        lines.append(
            f"media: {m['checked']} file(s) checked, {m['missing']} missing, {m['corrupt']} unreadable/corrupt"
        )
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines += [f"  [{p.kind}] {p}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                lines.append(f"  ... {len(self.problems) - max_problems} more (use --json for all)")
        else:
            lines.append("no problems found")
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines += [f"  [{w.kind}] {w}" for w in self.warnings[:max_problems]]
            if len(self.warnings) > max_problems:
                lines.append(f"  ... {len(self.warnings) - max_problems} more (use --json for all)")
        return "\n".join(lines)


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
    if suite_entry(Path(path).name):  # the 3D-LLM suite's files (lamm.formats.suite3d)
        return "benchmark", None
    return None, None


class _MediaChecker:
    """Checks each distinct media file once (optionally on threads: PIL decoding releases the GIL)."""

    def __init__(self, workers: int = 1, progress: bool = False) -> None:
        self.workers = max(1, workers)
        self.progress = progress
        self.results: dict[tuple[Path, str], tuple[str, str] | None] = {}

    @staticmethod
    def check(ref: tuple[Path, str]) -> tuple[str, str] | None:
        """None if fine, else (``missing``|``corrupt``, message). The field says what the file must be:
        a ``pcl`` is read as a point cloud and an ``image`` as an image, whatever its path looks like."""
        path, key = ref
        if not path.is_file():
            return "missing", "file not found"
        try:
            if key == "pcl" or path.suffix.lower() == ".npy":
                if path.suffix.lower() in (".ply", ".pcd", ".xyz", ".txt"):
                    return "corrupt", "not an official .npy point cloud (convert it: lamm data convert-pcl)"
                load_npy_points(path)
            else:
                check_image(path)
        except FormatError as exc:
            return "corrupt", exc.message
        return None

    def run(self, refs: Iterable[tuple[Path, str]]) -> None:
        todo = [r for r in dict.fromkeys(refs) if r not in self.results]
        if not todo:
            return
        from lamm.progress import progress_bar

        bar = progress_bar(total=len(todo), desc="checking media", unit="file", disable=not self.progress)
        with ThreadPoolExecutor(self.workers) as pool:
            for r, res in zip(todo, pool.map(self.check, todo)):
                self.results[r] = res
                bar.update()
        bar.close()


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
    media = _MediaChecker(workers, progress)
    files = collect_files(path)
    if not files:
        report.problems.append(Problem("file", FormatError(path, "no .json/.jsonl LAMM files found here")))
    for f in files:
        _validate_file(f, report, media, root=root, kind=kind, check_media=check_media)
    return report


def _validate_file(
    path: Path,
    report: ValidationReport,
    media: _MediaChecker,
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
    suite = suite_entry(path.name)
    fr.dataset = spec.key if spec else (suite[0] if suite else None)
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
    elif fr.kind == "benchmark" and spec is None and suite is None:
        problem("file", FormatError(path, "not an official benchmark meta-file name <Task>_<Dataset>.json"))
    elif fr.kind == "answers":
        _validate_answers(path, records, spec, root, report, problem)
    else:
        base = media_root(path, root)
        refs = (
            _validate_instruct(path, records, base, report, problem)
            if fr.kind == "instruct"
            else _validate_suite3d(path, records, suite, base, report, problem)
            if spec is None
            else _validate_benchmark(path, records, spec, base, report, problem)
        )
        if check_media:
            _check_media_refs(path, refs, media, report, problem)
    report.bad_records += len(bad)
    fr.problems = len(report.problems) - n_before


# (record index, record id, media field, stored path, resolved path)
_Ref = tuple[int, Any, str, str, Path]


def _validate_instruct(path, records, media_root, report, problem) -> list[_Ref]:
    known = _known_task_types()
    refs: list[_Ref] = []
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


def _validate_benchmark(path, records, spec, media_root, report, problem) -> list[_Ref]:
    refs: list[_Ref] = []
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


def _validate_suite3d(path, records, suite, media_root, report, problem) -> list[_Ref]:
    """The 3D suite's files: ``lamm.formats.suite3d``'s per-dataset checks (moving to ``lamm.tasks``)."""
    name, check = suite
    refs: list[_Ref] = []
    for i, rec in enumerate(records):
        report.datasets[name] += 1
        rid = rec.get("id") if isinstance(rec, dict) else None
        bad = check_suite_record(rec, check)
        if bad:
            problem("schema", FormatError(path, bad[1], index=i, record_id=rid, field=bad[0] or None))
        stored = rec.get("pcl") if isinstance(rec, dict) else None
        if not isinstance(stored, str) or not stored:
            continue
        try:
            refs.append((i, rid, "pcl", stored, resolve_media(media_root, stored, source=path)))
        except FormatError as exc:
            problem("schema", FormatError(path, exc.message, index=i, record_id=rid, field="pcl"))
    return refs


def _check_media_refs(path, refs: list[_Ref], media: _MediaChecker, report, problem) -> None:
    before = set(media.results)
    media.run((r[4], r[2]) for r in refs)
    new = [p for p in media.results if p not in before]
    report.media_checked += len(new)
    for p in new:
        res = media.results[p]
        if res is not None:
            if res[0] == "missing":
                report.media_missing += 1
            else:
                report.media_corrupt += 1
    for i, rid, key, stored, full in refs:
        res = media.results[(full, key)]
        if res is None:
            continue
        what = "missing" if res[0] == "missing" else "unreadable/corrupt"
        problem(
            "media",
            FormatError(
                path, f"{what} media {stored!r} ({full}): {res[1]}", index=i, record_id=rid, field=key
            ),
        )


def _validate_answers(path, records, spec, root, report, problem) -> None:
    """Official answer files pair with their meta file by position. ``lamm eval`` run logs
    (``answers.jsonl`` with ``dataset`` and ``index`` per row) mix datasets and pair by ``index``."""
    by_key = {s.key: s for s in all_datasets()}
    run_log = any("dataset" in a and "index" in a for a in records[:20])
    metas: dict[str, list[dict[str, Any]] | None] = {}

    def meta_of(s: DatasetSpec) -> list[dict[str, Any]] | None:
        if s.key not in metas:
            try:
                metas[s.key] = read_json_array(meta_path(root, s))
            except FormatError as exc:
                problem(
                    "answers", FormatError(path, f"cannot pair {s.key} answers with the benchmark: {exc}")
                )
                metas[s.key] = None
        return metas[s.key]

    for i, ans in enumerate(records):
        rid = ans.get("id")
        s = by_key.get(ans.get("dataset")) if run_log else spec
        if run_log and s is None:
            problem(
                "schema",
                FormatError(
                    path, f"unknown dataset {ans.get('dataset')!r}", index=i, record_id=rid, field="dataset"
                ),
            )
            continue
        if s is not None:
            report.datasets[s.key] += 1
        try:
            if s is not None:
                check_answer(path, s, i, ans)
            elif not isinstance(ans.get("text"), (str, dict)):
                raise FormatError(
                    path, "answer text must be a string (or LSP's joint-name object)", index=i,
                    record_id=rid, field="text",
                )  # fmt: skip
        except FormatError as exc:
            problem("schema", exc)
        if root is None or s is None:
            continue
        meta = meta_of(s)
        if meta is None:
            continue
        pos = ans.get("index") if run_log else i
        if not (isinstance(pos, int) and 0 <= pos < len(meta)):
            if run_log:
                problem(
                    "answers",
                    FormatError(
                        path,
                        f"index {pos!r} outside the {len(meta)} {s.key} meta records",
                        index=i,
                        record_id=rid,
                        field="index",
                    ),
                )
            continue
        if rid is not None and str(rid) != record_id(meta[pos], pos):
            problem(
                "answers",
                FormatError(
                    path,
                    f"answer id does not match meta record {pos} id {record_id(meta[pos], pos)!r} "
                    + ("(run logs pair by index)" if run_log else "(answers pair by position)"),
                    index=i,
                    record_id=rid,
                    field="id",
                ),
            )
    if root is not None and spec is not None and not run_log:
        meta = meta_of(spec)
        if meta is not None and len(records) != len(meta):
            problem(
                "answers",
                FormatError(
                    path, f"{len(records)} answers for {len(meta)} meta records in {meta_path(root, spec)}"
                ),
            )
