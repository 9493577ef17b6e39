"""What one ``lamm eval`` run is asked to do: the settings every step of the run reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamm.tasks import DatasetSpec


@dataclass
class EvalConfig:
    model: str
    benchmark_dir: Path
    datasets: list[DatasetSpec]
    out: Path
    batch_size: int = 8
    limit: int | None = None
    on_error: str = "raise"  # "raise" | "skip"
    seed: int = 0
    protocol: str = "lamm"
    score: bool = True
    adapter_options: dict[str, Any] = field(default_factory=dict)
    pcl_view: str | None = None  # "bev": image-only models see a rendering of each point cloud
