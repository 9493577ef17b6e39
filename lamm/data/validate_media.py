"""The media half of ``lamm data validate``: every distinct image / point cloud is read fully once (a
file many records share costs one read) and each record that references a bad one gets its own problem."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lamm.formats.errors import FormatError
from lamm.formats.media import check_image, load_npy_points

# (record index, record id, media field, stored path, resolved path)
MediaRef = tuple[int, Any, str, str, Path]


class MediaChecker:
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


def check_media_refs(path, refs: list[MediaRef], media: MediaChecker, report, problem) -> None:
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
