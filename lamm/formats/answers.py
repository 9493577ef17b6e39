"""Answer files: the official per-dataset JSON array and our incrementally written JSONL.

Official layout (LAMM_FORMATS §3.1): ``[{"id", "text", "delta_path"}, ...]`` in meta-file order, dumped
with ``indent=4``; for ``Keypoints_Detection_LSP.json`` ``text`` is an object joint-name -> answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import iter_jsonl, read_json_array, write_json_official
from lamm.protocol.datasets import DatasetSpec


def answer_path(path: str | Path, spec: DatasetSpec) -> Path:
    """As ``common_eval_2d.py``: a ``.json``/``.jsonl`` file as is, otherwise a folder + official name."""
    path = Path(path)
    if path.suffix in (".json", ".jsonl"):
        return path
    return path / spec.answer_file


def keypoint_text(spec: DatasetSpec) -> bool:
    """LSP keypoint answers carry an object of 14 joint answers instead of a string."""
    return spec.name == "LSP" and spec.mode == "common"


def check_answer(path: str | Path, spec: DatasetSpec, i: int, ans: dict[str, Any]) -> None:
    if "text" not in ans:
        raise FormatError(path, "missing field", index=i, record_id=ans.get("id"), field="text")
    text = ans["text"]
    if keypoint_text(spec):
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


def read_answers(path: str | Path, spec: DatasetSpec, *, validate: bool = True) -> list[dict[str, Any]]:
    """Answers of one dataset in stored order. With ``validate`` each entry's ``text`` type is checked."""
    p = answer_path(path, spec)
    answers = list(iter_jsonl(p)) if p.suffix == ".jsonl" else read_json_array(p)
    if validate:
        for i, ans in enumerate(answers):
            check_answer(p, spec, i, ans)
    return answers


def write_official_answers(out_dir: str | Path, spec: DatasetSpec, answers: list[dict[str, Any]]) -> Path:
    """Write ``<out_dir>/<Task>_<Dataset>.json`` exactly as official inference does."""
    path = Path(out_dir) / spec.answer_file
    rows = [{"id": a["id"], "text": a["text"], "delta_path": a.get("delta_path", "")} for a in answers]
    write_json_official(path, rows)
    return path
