"""Answer files: the official per-dataset JSON array and our incrementally written JSONL.

Official layout (LAMM_FORMATS §3.1): ``[{"id", "text", "delta_path"}, ...]`` in meta-file order, dumped
with ``indent=4``; for ``Keypoints_Detection_LSP.json`` ``text`` is an object joint-name -> answer.

Official scorers pair answers with meta records by position (``zip``), so a record ``lamm eval`` skipped
keeps its place as a *placeholder*: ``{"id", "text": "", "delta_path", "skipped": REASON}`` (LSP: every
joint ""). An official scorer reads it as an unparseable (wrong) answer; lamm's scorer reports it as
skipped and leaves it out of the score, as ``lamm eval`` does (docs/formats.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.formats.benchmark import DatasetLike
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import iter_jsonl, read_json_array, write_json_official

SKIPPED = "skipped"  # the placeholder's field: why the record has no answer
PLACEHOLDER_REASON = "placeholder of a record lamm eval skipped"  # how scoring reports one


def answer_path(path: str | Path, spec: DatasetLike) -> Path:
    """As ``common_eval_2d.py``: a ``.json``/``.jsonl`` file as is, otherwise a folder + official name."""
    path = Path(path)
    if path.suffix in (".json", ".jsonl"):
        return path
    return path / spec.answer_file


def check_answer(path: str | Path, spec: DatasetLike, i: int, ans: dict[str, Any]) -> None:
    if "text" not in ans:
        raise FormatError(path, "missing field", index=i, record_id=ans.get("id"), field="text")
    text = ans["text"]
    if spec.answer_is_object:  # LSP keypoints: one answer per joint
        if not isinstance(text, dict) or not all(isinstance(v, str) for v in text.values()):
            raise FormatError(
                path,
                f"LSP keypoint answer must be an object joint-name -> string, got {type(text).__name__}",
                index=i,
                record_id=ans.get("id"),
                field="text",
            )
    elif not isinstance(text, str):
        raise FormatError(
            path,
            f"answer text must be a string, got {type(text).__name__}",
            index=i,
            record_id=ans.get("id"),
            field="text",
        )


def read_answers(path: str | Path, spec: DatasetLike, *, validate: bool = True) -> list[dict[str, Any]]:
    """Answers of one dataset in stored order. With ``validate`` each entry's ``text`` type is checked."""
    p = answer_path(path, spec)
    answers = list(iter_jsonl(p)) if p.suffix == ".jsonl" else read_json_array(p)
    if validate:
        for i, ans in enumerate(answers):
            check_answer(p, spec, i, ans)
    return answers


def placeholder(spec: DatasetLike, rid: Any, reason: str, delta_path: str = "") -> dict[str, Any]:
    """The entry standing in for a record without an answer, so later entries keep their position."""
    text: str | dict[str, str] = dict.fromkeys(spec.answer_keys, "") if spec.answer_is_object else ""
    return {"id": rid, "text": text, "delta_path": delta_path, SKIPPED: reason}


def is_placeholder(ans: dict[str, Any]) -> bool:
    return SKIPPED in ans


def write_official_answers(out_dir: str | Path, spec: DatasetLike, answers: list[dict[str, Any]]) -> Path:
    """Write ``<out_dir>/<Task>_<Dataset>.json`` exactly as official inference does (placeholders keep
    their ``skipped`` field)."""
    path = Path(out_dir) / spec.answer_file
    rows = []
    for a in answers:
        row = {"id": a["id"], "text": a["text"], "delta_path": a.get("delta_path", "")}
        if is_placeholder(a):
            row[SKIPPED] = a[SKIPPED]
        rows.append(row)
    write_json_official(path, rows)
    return path
