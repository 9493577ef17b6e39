"""One error type for every malformed LAMM file: it names the file, the record and the field."""

from __future__ import annotations

from pathlib import Path


class FormatError(ValueError):
    """A LAMM file or record is malformed. ``str(err)`` names file, record index/id and field."""

    def __init__(
        self,
        path: str | Path | None,
        message: str,
        *,
        index: int | None = None,
        record_id: object = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.index = index
        self.record_id = record_id
        self.field = field
        self.message = message
        where = [self.path or "<input>"]
        if index is not None:
            where.append(f"record {index}")
        if record_id is not None:
            where.append(f"id {record_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join([', '.join(where), message])}")
