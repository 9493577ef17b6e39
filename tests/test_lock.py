"""FolderLock: one writer per output folder, across real processes; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lamm.formats.jsonio import temp_path
from lamm.formats.lock import LOCK_NAME, FolderLock, FolderLocked

ROOT = Path(__file__).resolve().parents[1]
HOLD = "import sys, time; from lamm.formats.lock import FolderLock; l = FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"


def _holder(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_process_is_refused_with_holder_named(tmp_path: Path) -> None:
    p = _holder(tmp_path)
    try:
        with pytest.raises(FolderLocked, match=rf"pid {p.pid}\b.*another output folder"):
            FolderLock(tmp_path).acquire()
    finally:
        p.kill()
        p.wait()


def test_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    p = _holder(tmp_path)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (tmp_path / LOCK_NAME).is_file()  # the file stays, the lock does not
    with FolderLock(tmp_path) as lock:
        assert f'"pid": {os.getpid()}' in lock.path.read_text()


def test_released_lock_can_be_taken_again_and_ranks_share_by_group(tmp_path: Path) -> None:
    with FolderLock(tmp_path, group="launch-a"):
        FolderLock(tmp_path, group="launch-a").check_shared()
        with pytest.raises(FolderLocked, match="another launch"):
            FolderLock(tmp_path, group="launch-b").check_shared()
    with FolderLock(tmp_path):
        pass


def test_temp_paths_are_unique_per_call(tmp_path: Path) -> None:
    target = tmp_path / "answers.jsonl"
    a, b = temp_path(target), temp_path(target)
    assert a != b and a.parent == b.parent == tmp_path and str(os.getpid()) in a.name


def test_disk_cache_writers_in_forked_processes_never_share_a_temp_file(tmp_path: Path) -> None:
    """A forked child's thread has the parent's ident, which once named the cache's temp file: two
    judges/builds writing one key then tore or lost each other's file (FileNotFoundError on replace)."""
    from lamm.llm_client import DiskCache

    cache = DiskCache(tmp_path)
    pids = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:  # child: hammer one key, exit 1 on any error
            code = 0
            try:
                for i in range(300):
                    cache.put("abcd", {"writer": k, "i": i})
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    assert [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids] == [0, 0]
    assert cache.get("abcd")["i"] == 299 and not list(tmp_path.rglob("*.tmp"))
