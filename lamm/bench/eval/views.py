"""``lamm eval --pcl-view bev``: image-only models answer point-cloud records from a bird's-eye view.

Each cloud is rendered once (:mod:`lamm.formats.bev`) into the run folder, ``RUN/bev/<path of the cloud
in the benchmark folder>.png`` with a ``.json`` beside it (height range, pixel<->metre transform, the
source file's size and mtime), and reused by later records and resumed runs while the source is
unchanged. The record's requests become image requests whose system message is the BEV one
(:func:`lamm.protocol.bev.bev_system`); the queries stay the same.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lamm.bench.eval.prompts import Prompt
from lamm.formats.bev import BevStyle, render_bev_file
from lamm.formats.jsonio import temp_path
from lamm.protocol.bev import bev_system
from lamm.tasks import DatasetSpec

VIEWS = ("bev",)
VIEW_DIR = "bev"
# appended to the adapters' "cannot read point clouds" errors
PCL_VIEW_HINT = "run with --pcl-view bev to show it a bird's-eye rendering of each point cloud instead"


@dataclass(frozen=True)
class Rendered:
    png: Path
    z_min: float
    z_max: float


class BevView:
    """Renders (or reuses) the BEV of a record's cloud and rewrites its prompts for it."""

    modality = "image"

    def __init__(self, out: Path, benchmark_dir: Path, style: BevStyle = BevStyle()) -> None:
        self.root = Path(out) / VIEW_DIR
        self.bench = Path(os.path.abspath(benchmark_dir))
        self.style = style
        self._by_png: dict[Path, Rendered] = {}

    def render(self, pcl: Path) -> Path:
        """The PNG of ``pcl`` (a file inside the benchmark folder), rendered now unless still current."""
        rel = Path(os.path.relpath(os.path.abspath(pcl), self.bench))
        png = self.root / rel.parent / f"{rel.name}.png"
        info = png.with_suffix(".json")
        st = pcl.stat()
        want = {"source": rel.as_posix(), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                "style": json.loads(json.dumps(asdict(self.style)))}  # fmt: skip
        meta = _read_json(info)
        if not (png.is_file() and meta and all(meta.get(k) == v for k, v in want.items())):
            bev = render_bev_file(pcl, self.style)
            bev.save(png)
            meta = {**want, "z_min": bev.z_min, "z_max": bev.z_max, "n_drawn": bev.n_drawn,
                    "transform": bev.transform.as_dict(), "size": list(bev.image.size)}  # fmt: skip
            tmp = temp_path(info)
            tmp.write_text(json.dumps(meta, indent=1), "utf-8")
            tmp.replace(info)
        self._by_png[png] = Rendered(png, float(meta["z_min"]), float(meta["z_max"]))
        return png

    def prompts(self, spec: DatasetSpec, png: Path | None, prompts: list[Prompt]) -> list[Prompt]:
        """``prompts`` with the BEV system message of the rendering ``png``: a 3D-suite task's own
        ``bev.system``, a LAMM dataset's official message with the BEV paragraph."""
        if png is None:
            return prompts
        r = self._by_png[png]
        return [Prompt(bev_system(spec.suite_task, p.system, r.z_min, r.z_max), p.query) for p in prompts]


def make_view(name: str | None, out: Path, benchmark_dir: Path) -> BevView | None:
    if name is None:
        return None
    if name not in VIEWS:
        raise ValueError(f"unknown --pcl-view {name!r}; known: {', '.join(VIEWS)}")
    return BevView(out, benchmark_dir)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
