"""One writer per output folder: an advisory lock held for the whole run.

Every command that writes into a folder (``lamm eval --out``, ``lamm train --out``, ``lamm data build
--out``) takes ``FolderLock(folder)`` first. The lock is an ``fcntl.flock`` on ``folder/.lamm.lock``: the
kernel drops it when the holder dies (kill -9 included), so a stale lock never blocks a rerun; the file
keeps the holder's pid, host, command and start time so the second process can say who holds it.

Processes of one launch (torchrun ranks) share the lock: rank 0 takes it and records the launch's
``group`` token (``TORCHELASTIC_RUN_ID`` by default); the other ranks only check, with
``FolderLock.check_shared``, that the holder is their own launch.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK_NAME = ".lamm.lock"


class FolderLocked(RuntimeError):
    """Another process writes into this folder; the message names it and says what to do."""


def launch_group() -> str | None:
    """The token that all processes of one torchrun launch share (None outside torchrun)."""
    return os.environ.get("TORCHELASTIC_RUN_ID")


def _describe(info: dict[str, Any]) -> str:
    started = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return (
        f"pid {info.get('pid', '?')} on {info.get('host', '?')} (started {when}: {info.get('command', '?')})"
    )


class FolderLock:
    """Exclusive lock on ``folder`` for the life of a run; use as a context manager."""

    def __init__(self, folder: str | Path, what: str = "this run", group: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.group = group if group is not None else launch_group()
        self._fd: int | None = None

    def _read_info(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderLocked(
                f"{self.folder}: another process is writing here ({_describe(self._read_info())}); "
                f"wait for it to finish or choose another output folder for {self.what}"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv)[:500],
            "started": time.time(),
            "group": self.group,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def check_shared(self) -> None:
        """For a non-zero rank: the folder's lock must be held by this process's own launch."""
        info = self._read_info()
        if self.group is None or info.get("group") != self.group:
            raise FolderLocked(
                f"{self.folder}: the lock is held by another launch ({_describe(info)}); "
                f"choose another output folder for {self.what}"
            )

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
