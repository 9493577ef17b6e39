"""Media checks shared by validation and loading: images (PIL) and official ``.npy`` point clouds.

Every check reads the whole file: ``Image.verify()`` only walks chunk headers and misses a truncated
JPEG, so images are also fully decoded; point clouds are fully loaded and checked for NaN/inf.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np

from lamm.formats.errors import FormatError

_strict_lock = threading.Lock()
_strict_users = 0
_strict_saved = False


@contextlib.contextmanager
def _strict_truncation():
    """PIL can be told globally (``LOAD_TRUNCATED_IMAGES``) to pad truncated images silently; switch that
    off while any check runs. Counted under a lock, so threads never restore it under each other."""
    global _strict_users, _strict_saved
    from PIL import ImageFile

    with _strict_lock:
        if _strict_users == 0:
            _strict_saved = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        _strict_users += 1
    try:
        yield
    finally:
        with _strict_lock:
            _strict_users -= 1
            if _strict_users == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _strict_saved


def check_image(path: str | Path) -> tuple[int, int]:
    """Fully decode an image; return its (width, height). Missing, unreadable or truncated -> FormatError."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "image file not found")
    try:
        with _strict_truncation():
            with Image.open(path) as im:
                im.verify()  # structure and checksums (PNG CRCs)
            with Image.open(path) as im:
                im.load()  # every pixel: raises on truncated data
                size = im.size
    except Image.DecompressionBombError as exc:
        raise FormatError(path, f"image too large to load safely: {exc}") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, EOFError, ... on bad data
        raise FormatError(path, f"unreadable or truncated image ({type(exc).__name__}: {exc})") from None
    if size[0] <= 0 or size[1] <= 0:
        raise FormatError(path, f"image has empty size {size}")
    return size


def check_points(points: np.ndarray, path: str | Path | None = None, *, min_points: int = 1) -> np.ndarray:
    """Check a point array is (N, C>=3), numeric, finite and has at least ``min_points`` rows."""
    if points.dtype.kind not in "iuf":
        raise FormatError(path, f"point cloud must hold numbers, got dtype {points.dtype}")
    if points.ndim != 2 or points.shape[1] < 3:
        raise FormatError(path, f"point cloud must have shape (N, C>=3) (xyz[rgb]), got {points.shape}")
    if points.shape[0] == 0:
        raise FormatError(path, "point cloud is empty (0 points)")
    if points.shape[0] < min_points:
        raise FormatError(
            path, f"point cloud has {points.shape[0]} points, fewer than the {min_points} needed"
        )
    if points.dtype.kind == "f":
        bad = ~np.isfinite(points)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise FormatError(
                path, f"point cloud has NaN/inf values in {rows.size} rows (first row {int(rows[0])})"
            )
    return points


def load_npy_points(path: str | Path) -> np.ndarray:
    """Load an official ``.npy`` point cloud (N×C, never unpickled) and check it; returns the raw array."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "point cloud file not found")
    try:
        arr = np.load(path, allow_pickle=False)  # object arrays would need pickle: refused
    except Exception as exc:  # truncated data, bad header, pickled objects
        raise FormatError(path, f"unreadable .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise FormatError(path, "expected one .npy array, got an .npz archive")
    return check_points(arr, path)
