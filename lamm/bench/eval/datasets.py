"""Which benchmark datasets a run covers: ``--datasets``/``--mode`` resolved against the folder's meta files."""

from __future__ import annotations

from pathlib import Path

from lamm.formats.benchmark import meta_path
from lamm.formats.errors import FormatError
from lamm.tasks import DatasetSpec, all_datasets


def select_datasets(benchmark_dir: str | Path, names: str = "all", mode: str = "common") -> list[DatasetSpec]:
    """``all``: every dataset of the mode(s) whose meta file is in the folder; else the named ones."""
    modes = ("common", "locating") if mode == "all" else (mode,)
    candidates = [s for s in all_datasets() if s.mode in modes]
    if names == "all":
        found = [s for s in candidates if meta_path(benchmark_dir, s).is_file()]
        if not found:
            raise FormatError(
                Path(benchmark_dir) / "meta_file", f"no LAMM benchmark meta file for mode {mode!r} here"
            )
        return found
    chosen = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        specs = [s for s in candidates if name in (s.name, s.key)]
        if not specs:
            valid = sorted({s.key for s in candidates})
            near = [k for k in valid if k.lower() == name.lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"unknown dataset {name!r}{hint} for mode {mode!r}; valid: {', '.join(valid)}")
        for s in specs:  # a name of the other benchmark (ScanNet in a 2D folder) or a file not there
            if not meta_path(benchmark_dir, s).is_file():
                raise ValueError(
                    f"{name} is a {s.dim.upper()}_Benchmark dataset and its meta file "
                    f"{meta_path(benchmark_dir, s)} is not in {benchmark_dir}"
                )
        chosen.extend(s for s in specs if s not in chosen)
    return chosen


def dataset_listing() -> str:
    """The valid ``--datasets`` names, per benchmark (2D/3D) and mode (common/locating)."""
    lines = ["valid --datasets names (comma-separated; 'all': every dataset whose meta file is present):"]
    for dim, folder in (("2d", "2D_Benchmark"), ("3d", "3D_Benchmark")):
        for mode in ("common", "locating"):
            names = [s.name for s in all_datasets() if s.dim == dim and s.mode == mode]
            if names:
                lines.append(f"  {folder}, --mode {mode}: {', '.join(names)}")
    return "\n".join(lines)
