"""The benchmark dataset registry: one small task file per dataset declares everything about it.

``TASK_MODULES`` below is the registry (its order is the order of files, scores and report columns).
A new dataset is one new file defining ``SPEC`` plus its name in that list, or :func:`register` at run
time (docs/architecture.md, "The task registry").
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from lamm.tasks.spec import DatasetSpec, Mini

__all__ = ["DatasetSpec", "Mini", "all_datasets", "datasets_2d", "datasets_3d", "find_dataset", "register"]

_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset (after the others); its key (``Locating_<name>`` for locating) must be new."""
    if spec.key in _REGISTRY:
        raise ValueError(f"dataset {spec.key} is registered already")
    if any(s.meta_file == spec.meta_file for s in _REGISTRY.values()):
        raise ValueError(f"meta file {spec.meta_file} belongs to another dataset")
    _REGISTRY[spec.key] = spec
    return spec


def unregister(key: str) -> None:
    """Remove a dataset added by :func:`register` (tests clean up with it)."""
    del _REGISTRY[key]


# The registry, in order (the order of files, scores and report columns): one task file per dataset.
TASK_MODULES = (
    "cifar10", "voc2012", "sqaimage", "ai2d", "flickr30k", "ucmerced", "fsc147", "svt", "celeba_smile",
    "celeba_hair", "lsp", "locating_voc2012", "locating_lsp", "locating_fsc147", "scannet", "scanrefer",
    "scanqa_multiplechoice", "scanqa", "sqa3d", "scan2cap", "multi3drefer",
)  # fmt: skip
for _name in TASK_MODULES:
    register(import_module(f"lamm.tasks.{_name}").SPEC)


def all_datasets() -> list[DatasetSpec]:
    return list(_REGISTRY.values())


def find_dataset(name: str, mode: str = "common") -> DatasetSpec:
    """Look up a dataset by official CLI name and mode; the error lists the valid names."""
    for spec in _REGISTRY.values():
        if spec.name == name and spec.mode == mode:
            return spec
    valid = sorted({f"{s.name} ({s.mode})" for s in _REGISTRY.values()})
    raise KeyError(f"unknown LAMM dataset {name!r} in mode {mode!r}; valid: {', '.join(valid)}")


def datasets_2d(mode: str | None = None) -> list[DatasetSpec]:
    return [s for s in _REGISTRY.values() if s.dim == "2d" and (mode is None or s.mode == mode)]


def datasets_3d() -> list[DatasetSpec]:
    return [s for s in _REGISTRY.values() if s.dim == "3d"]


def spec_for_file(path: str | Path) -> DatasetSpec | None:
    """The dataset whose official file name (``<Task>_<Dataset>.json``, or ``.jsonl``) ``path`` has."""
    p = Path(path)
    name = p.stem + ".json" if p.suffix in (".json", ".jsonl") else p.name
    for spec in _REGISTRY.values():
        if name == spec.meta_file or name in spec.alt_meta_files:
            return spec
    return None


def lower_is_better() -> set[str]:
    """Metric names where a smaller value wins (MAE)."""
    return {s.metric_name for s in _REGISTRY.values() if not s.higher_is_better}


def not_a_fraction() -> set[str]:
    """Metric names reported as they are (MAE raw, BLEU-4 already x100), not as a fraction."""
    return {s.metric_name for s in _REGISTRY.values() if s.unit != "fraction"}


def unit_notes() -> dict[str, str]:
    """Metric name -> what ``lamm score`` prints beside the headline."""
    return {s.metric_name: s.unit_note for s in _REGISTRY.values() if s.unit_note}
