"""JSON / JSONL reading and writing in the byte layout the official LAMM code uses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "file not found")
    try:
        with path.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise FormatError(
            path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_json_array(path: str | Path) -> list[dict[str, Any]]:
    """A JSON file holding an array of objects (every LAMM meta/answer file)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise FormatError(path, f"expected a JSON array of records, got {type(data).__name__}")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise FormatError(path, f"expected an object, got {type(rec).__name__}", index=i)
    return data


def iter_jsonl(path: str | Path, *, tolerate_torn_tail: bool = True) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file. A torn last line (a killed writer) is ignored when tolerated."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "file not found")
    with path.open("r", encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and i == len(lines) - 1 and not line.endswith("\n"):
                return
            raise FormatError(path, f"malformed JSON line {i + 1}: {exc.msg}", index=i) from None
        if not isinstance(rec, dict):
            raise FormatError(path, f"line {i + 1} is not a JSON object", index=i)
        yield rec


def write_json_official(path: str | Path, data: Any) -> None:
    """Write like the official code: ``json.dump(data, f, indent=4)`` (ASCII escaping, no trailing newline).

    Written to a temporary file and renamed, so a crash never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=4)
    os.replace(tmp, path)


class JsonlAppender:
    """Append one JSON object per line, flushed and fsynced per record, so finished work survives a kill."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
