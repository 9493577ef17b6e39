"""Point clouds: read ``.npy`` / ``.ply`` / ``.pcd`` / ``.xyz`` files and preprocess them deterministically.

Conventions (the official LAMM layout, LAMM_FORMATS §1.2): one row per point; columns 0-2 are x, y, z in
metres with **z up** (ScanNet's axis-aligned frame, floor near the lowest z); optional columns 3-5 are
r, g, b in 0..255. Nothing here rotates, recentres or rescales coordinates.

Preprocessing (``PointCloudPreprocessor``), in this order:
1. ``load_points``: float32 (N, 3) or (N, 6), checked (shape, finite, non-empty).
2. optional height feature ``z - floor`` with floor = the ``floor_percentile``-th percentile of z over
   the whole cloud (VoteNet's ``np.percentile(z, 0.99)``, i.e. near the lowest points).
3. ``sample_points`` to a fixed count: as official, ``choice(N, n)`` with replacement only when N < n,
   but from a generator seeded by ``(seed, file name)`` (official draws are unseeded), so a file gives the
   same points in every run, process and DataLoader worker.
4. ``normalize_color`` when colour is used: official ``(rgb - (109.8, 97.2, 83.8)) / 256`` by default.
Output columns: xyz, then rgb (``use_color``), then height (``use_height``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import temp_path
from lamm.formats.media import check_points, load_npy_points

if TYPE_CHECKING:
    import torch

OFFICIAL_NUM_POINTS = 40_000
COLOR_MEAN = (109.8, 97.2, 83.8)  # official ScanNet mean RGB, 0..255
COLOR_MODES = ("official", "unit", "none")
SUFFIXES = (".npy", ".ply", ".pcd", ".xyz", ".txt")


def _assemble(path: Path, xyz: np.ndarray, rgb: np.ndarray | None) -> np.ndarray:
    pts = xyz if rgb is None else np.concatenate([xyz, rgb], axis=1)
    return check_points(np.ascontiguousarray(pts, dtype=np.float32), path)


def _colour_255(rgb: np.ndarray, unit: bool | None = None) -> np.ndarray:
    """Colours as 0..255 floats. Integer colours are 0..255 (``unit=False``); float or untyped (text)
    colours are taken as [0, 1] and scaled when every value lies in [0, 1] (``unit=None``)."""
    rgb = rgb.astype(np.float64)
    if unit is None:
        unit = bool(rgb.size) and float(np.nanmin(rgb)) >= 0.0 and float(np.nanmax(rgb)) <= 1.0
    return rgb * 255.0 if unit else rgb


def _unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """PCL packs colour as 0x00RRGGBB in the bits of a float32 (or uint32) ``rgb``/``rgba`` field."""
    u = (
        np.ascontiguousarray(packed).astype(np.float32).view(np.uint32)
        if packed.dtype.kind == "f"
        else packed
    )
    u = u.astype(np.uint32)
    return np.stack([(u >> 16) & 255, (u >> 8) & 255, u & 255], axis=1).astype(np.float64)


def read_npy(path: Path) -> np.ndarray:
    """Official ``.npy`` (N×C, C >= 3; columns 3-5 are rgb when C >= 6), never unpickled."""
    arr = load_npy_points(path)
    return _assemble(path, arr[:, :3], arr[:, 3:6] if arr.shape[1] >= 6 else None)


def read_ply(path: Path) -> np.ndarray:
    """PLY (ASCII or binary) via plyfile: ``vertex`` x, y, z and optional red/green/blue (or r/g/b)."""
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"].data
    except KeyError:
        raise FormatError(path, "PLY file has no 'vertex' element") from None
    except Exception as exc:
        raise FormatError(path, f"unreadable PLY file ({type(exc).__name__}: {exc})") from None
    names = v.dtype.names or ()
    if not all(c in names for c in "xyz"):
        raise FormatError(path, f"PLY vertices need x, y, z properties, found {list(names)}")
    xyz = np.stack([v[c] for c in "xyz"], axis=1).astype(np.float64)
    rgb = None
    for cols in (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue")):
        if all(c in names for c in cols):
            rgb = np.stack([v[c] for c in cols], axis=1)
            rgb = _colour_255(rgb, unit=None if rgb.dtype.kind == "f" else False)
            break
    return _assemble(path, xyz, rgb)


_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}  # fmt: skip


def read_pcd(path: Path) -> np.ndarray:
    """PCD v0.7 with ``DATA ascii`` or ``DATA binary`` (``binary_compressed`` is not supported)."""
    raw = path.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise FormatError(path, "PCD header has no DATA line")
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        n = (
            int(header["POINTS"][0])
            if "POINTS" in header
            else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
        )
        data_kind = header["DATA"][0].lower()
    except (KeyError, IndexError, ValueError) as exc:
        raise FormatError(path, f"malformed PCD header ({exc})") from None
    if not (len(fields) == len(sizes) == len(types) == len(counts)):
        raise FormatError(path, "PCD header FIELDS/SIZE/TYPE/COUNT lengths differ")
    cols: dict[str, np.ndarray] = {}
    if data_kind == "ascii":
        text = raw[pos:].decode("ascii", errors="replace")
        rows = [r.split() for r in text.splitlines() if r.strip()]
        width = sum(counts)
        if len(rows) != n or any(len(r) != width for r in rows):
            raise FormatError(path, f"PCD ascii data should hold {n} rows of {width} values")
        try:
            table = np.array(rows, dtype=np.float64).reshape(n, width)
        except ValueError as exc:
            raise FormatError(path, f"PCD ascii data is not numeric ({exc})") from None
        start = 0
        for name, typ, count in zip(fields, types, counts):
            col = table[:, start : start + count]
            if name in ("rgb", "rgba") and count == 1:
                col = col.astype(np.float32) if typ == "F" else col.astype(np.uint32)
            cols.setdefault(name, col[:, 0] if count == 1 else col)
            start += count
    elif data_kind == "binary":
        try:
            dtype = np.dtype(
                [
                    (f"f{k}", "<" + _PCD_TYPES[(t, s)], (c,) if c > 1 else ())
                    for k, (t, s, c) in enumerate(zip(types, sizes, counts))
                ]
            )
        except KeyError as exc:
            raise FormatError(path, f"unsupported PCD field type {exc}") from None
        if len(raw) - pos < n * dtype.itemsize:
            raise FormatError(
                path, f"PCD binary data truncated: {len(raw) - pos} bytes for {n} points of {dtype.itemsize}"
            )
        rec = np.frombuffer(raw, dtype=dtype, count=n, offset=pos)
        for k, name in enumerate(fields):
            cols.setdefault(name, rec[f"f{k}"])
    else:
        raise FormatError(path, f"PCD 'DATA {data_kind}' is not supported (use ascii or binary)")
    if not all(c in cols for c in "xyz"):
        raise FormatError(path, f"PCD needs x, y, z fields, found {fields}")
    xyz = np.stack([cols[c] for c in "xyz"], axis=1).astype(np.float64)
    rgb = None
    if "rgb" in cols or "rgba" in cols:
        rgb = _unpack_rgb(cols.get("rgb", cols.get("rgba")))
    elif all(c in cols for c in "rgb"):
        rgb = np.stack([cols[c] for c in "rgb"], axis=1)
        rgb = _colour_255(rgb, unit=None if types[fields.index("r")] == "F" else False)
    return _assemble(path, xyz, rgb)


_SPLIT = re.compile(r"[\s,;]+")


def read_xyz(path: Path) -> np.ndarray:
    """Text: one point per line, ``x y z [r g b ...]`` separated by spaces, commas or semicolons.

    Lines starting with ``#`` or ``//`` and one non-numeric header line (``x y z r g b``) are skipped.
    With 6 or more columns, 3-5 are colour; with 4-5 (e.g. intensity) only xyz is kept.
    """
    try:
        lines = path.read_text("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not a text point cloud ({exc.reason})") from None
    rows: list[list[str]] = []
    header_seen = False
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith(("#", "//")):
            continue
        vals = [v for v in _SPLIT.split(s) if v]
        try:
            [float(v) for v in vals]
        except ValueError:
            if rows or header_seen:
                raise FormatError(path, f"line {no} is not numeric: {s[:60]!r}") from None
            header_seen = True
            continue
        if rows and len(vals) != len(rows[0]):
            raise FormatError(path, f"line {no} has {len(vals)} values, earlier lines {len(rows[0])}")
        rows.append(vals)
    if not rows:
        raise FormatError(path, "point cloud is empty (0 points)")
    table = np.array(rows, dtype=np.float64)
    if table.shape[1] < 3:
        raise FormatError(path, f"point cloud must have shape (N, C>=3) (xyz[rgb]), got {table.shape}")
    return _assemble(path, table[:, :3], _colour_255(table[:, 3:6]) if table.shape[1] >= 6 else None)


READERS = {".npy": read_npy, ".ply": read_ply, ".pcd": read_pcd, ".xyz": read_xyz, ".txt": read_xyz}


def load_points(path: str | Path) -> np.ndarray:
    """Read a point cloud as float32 (N, 3) xyz or (N, 6) xyz+rgb (0..255); errors name the file."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise FormatError(
            path, f"unknown point-cloud file type {path.suffix!r}; supported: {', '.join(READERS)}"
        )
    if not path.is_file():
        raise FormatError(path, "point cloud file not found")
    return reader(path)


def write_points_npy(path: str | Path, points: np.ndarray) -> Path:
    """Write the official layout: float32 N×3 or N×6 ``.npy`` (atomically: temp file + rename)."""
    path = Path(path)
    check_points(points, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)  # unique: two converters writing one output never share a temp file
    with tmp.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(points, dtype=np.float32))
    os.replace(tmp, path)
    return path


def point_rng(seed: int, key: str = "") -> np.random.Generator:
    """A generator determined by ``seed`` and ``key`` (e.g. the file name); stable across processes."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int.from_bytes(digest[:8], "little")])


def sample_points(
    points: np.ndarray,
    n: int,
    *,
    seed: int,
    key: str = "",
    replace: bool | str = "auto",
    path: str | Path | None = None,
) -> np.ndarray:
    """Draw ``n`` rows. ``replace="auto"`` is the official rule (with replacement only when N < n);
    ``True`` always draws with replacement; ``False`` refuses clouds with fewer than ``n`` points."""
    if n <= 0:
        raise ValueError(f"number of points to sample must be positive, got {n}")
    if replace not in ("auto", True, False):
        raise ValueError(f"replace must be 'auto', True or False, got {replace!r}")
    size = len(points)
    if size == 0:
        raise FormatError(path, "point cloud is empty (0 points)")
    with_repl = size < n if replace == "auto" else bool(replace)
    if not with_repl and size < n:
        raise FormatError(path, f"point cloud has {size} points, fewer than the {n} asked, and replace=False")
    idx = point_rng(seed, key).choice(size, n, replace=with_repl)
    return points[idx]


def normalize_color(points: np.ndarray, mode: str = "official") -> np.ndarray:
    """Normalise columns 3-5 (rgb in 0..255): ``official`` (rgb - COLOR_MEAN) / 256, ``unit`` rgb / 255,
    ``none`` unchanged. Returns a float32 copy; xyz is untouched."""
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode must be one of {COLOR_MODES}, got {mode!r}")
    if points.ndim != 2 or points.shape[1] < 6:
        raise ValueError(f"colour normalisation needs (N, 6) xyz+rgb points, got {points.shape}")
    out = points.astype(np.float32, copy=True)
    if mode == "official":
        out[:, 3:6] = (points[:, 3:6] - np.asarray(COLOR_MEAN)) / 256.0
    elif mode == "unit":
        out[:, 3:6] = points[:, 3:6] / 255.0
    return out


def height_feature(points: np.ndarray, floor_percentile: float = 0.99) -> np.ndarray:
    """Height above the floor, ``z - percentile(z, floor_percentile)`` (z up), as an (N, 1) column."""
    z = points[:, 2].astype(np.float64)
    return (z - np.percentile(z, floor_percentile)).astype(np.float32)[:, None]


@dataclass(frozen=True)
class PointCloudPreprocessor:
    """Picklable ``path -> float32 tensor [num_points, C]`` that DataLoader workers run.

    C = 3 (xyz) + 3 if ``use_color`` + 1 if ``use_height``. The draw depends only on ``seed`` and the file
    name, so results do not depend on worker count or order; change ``seed`` (e.g. per epoch) for new draws.
    """

    num_points: int = OFFICIAL_NUM_POINTS
    use_color: bool = False
    use_height: bool = False
    seed: int = 0
    color_mode: str = "official"
    replace: bool | str = "auto"
    floor_percentile: float = 0.99

    def __post_init__(self) -> None:
        if self.color_mode not in COLOR_MODES:
            raise ValueError(f"color_mode must be one of {COLOR_MODES}, got {self.color_mode!r}")
        if self.num_points <= 0:
            raise ValueError(f"num_points must be positive, got {self.num_points}")

    @property
    def channels(self) -> int:
        return 3 + 3 * self.use_color + self.use_height

    def process(self, points: np.ndarray, key: str = "", path: str | Path | None = None) -> np.ndarray:
        """The numpy part: points as ``load_points`` returns them -> float32 [num_points, channels]."""
        if self.use_color and points.shape[1] < 6:
            raise FormatError(
                path, f"point cloud has no rgb columns (shape {points.shape}) but use_color is on"
            )
        height = height_feature(points, self.floor_percentile) if self.use_height else None
        idx = sample_points(
            np.arange(len(points)), self.num_points, seed=self.seed, key=key, replace=self.replace, path=path
        )
        cols = [points[idx, :3].astype(np.float32)]
        if self.use_color:
            cols.append(normalize_color(points[idx, :6], self.color_mode)[:, 3:6])
        if height is not None:
            cols.append(height[idx])
        return np.concatenate(cols, axis=1)

    def __call__(self, path: str | Path) -> torch.Tensor:
        import torch

        path = Path(path)
        return torch.from_numpy(self.process(load_points(path), key=path.name, path=path))
