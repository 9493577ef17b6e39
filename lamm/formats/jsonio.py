"""JSON / JSONL reading and writing in the byte layout the official LAMM code uses."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError


def read_json(path: str | Path) -> Any:
    """Parse a whole JSON file; a missing file, bad UTF-8 or bad JSON is a FormatError naming the file."""
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
    """Records of a JSONL file, one object per line; blank lines are ignored.

    A killed writer can leave a torn last line (no newline, half a record, possibly half a UTF-8
    character); with ``tolerate_torn_tail`` it is ignored, anywhere else it is an error. ``index`` in
    errors is the record position (what answers are paired by), the message names the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "file not found")
    with path.open("rb") as fh:
        lines = fh.readlines()
    n = 0
    for i, raw in enumerate(lines):
        torn = i == len(lines) - 1 and not raw.endswith(b"\n")
        try:
            line = raw.decode("utf-8")
            if not line.strip():
                continue
            rec = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if tolerate_torn_tail and torn:
                return
            msg = exc.reason if isinstance(exc, UnicodeDecodeError) else exc.msg
            raise FormatError(path, f"malformed JSON on line {i + 1}: {msg}", index=n) from None
        if not isinstance(rec, dict):
            raise FormatError(path, f"line {i + 1} is not a JSON object", index=n)
        n += 1
        yield rec


def temp_path(path: Path) -> Path:
    """A temporary sibling of ``path`` unique to this process, to write and then ``os.replace``.

    Unique so that two processes writing the same file never share (and tear) one temporary file.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_json_official(path: str | Path, data: Any) -> None:
    """Write like the official code: ``json.dump(data, f, indent=4)`` (ASCII escaping, no trailing newline).

    Written to a temporary file and renamed, so a crash never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=4)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line (a writer killed mid-record), so the next record starts on its own line."""
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        # Scan backwards for the last newline; everything after it is the torn record.
        pos, block = size, 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                fh.truncate(start + nl + 1)
                return
            pos = start
        fh.truncate(0)


class JsonlAppender:
    """Append one JSON object per line, flushed and fsynced per record, so finished work survives a kill.

    Opening an existing file first cuts a torn last line left by a killed writer; otherwise the next
    record would be glued onto it and the file could no longer be read. ``sync_every_s > 0`` fsyncs at
    most that often instead (``write(..., sync=True)`` and ``close`` still do at once): for writers of
    thousands of cheap records a second (template jobs of ``lamm data build``), where a kill may lose
    the last second of them and resume redoes it.
    """

    def __init__(self, path: str | Path, *, sync_every_s: float = 0.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            _cut_torn_tail(self.path)
        self._fh = self.path.open("a", encoding="utf-8")
        self._every, self._last, self._dirty = sync_every_s, time.monotonic(), False

    def write(self, record: dict[str, Any], *, sync: bool = False) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._dirty = True
        if sync or time.monotonic() - self._last >= self._every:
            self.sync()

    def sync(self) -> None:
        """Flush and fsync what was written so far."""
        if self._dirty:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._dirty = False
        self._last = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self.sync()
            self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
