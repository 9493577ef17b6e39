"""The answer-file half of ``lamm data validate``: each answer's own schema and, given the benchmark, its
pairing with the meta records (by position, or by ``index`` in a ``lamm eval`` run log)."""

from __future__ import annotations

from typing import Any

from lamm.formats.answers import check_answer
from lamm.formats.benchmark import meta_path, record_id
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array
from lamm.tasks import DatasetSpec, all_datasets


def validate_answers(path, records, spec, root, report, problem) -> None:
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
