"""The LAMM-Benchmark dataset table: CLI name + mode -> task name, meta file, system message, gt fields.

One row per (dataset, mode). Meta-file and answer-file names follow the official rule
``<TaskName>_<DatasetName>.json`` (LAMM_FORMATS §2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lamm.protocol.prompts import prompt

_E2D = "eval_2d_v1_constants"
_E3D = "eval_3d_jul2023_constants"


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # official CLI name, e.g. "CelebA(Smile)"
    mode: str  # "common" | "locating"
    task: str  # official TaskName, e.g. "Facial_Classification"
    dim: str  # "2d" | "3d"
    sys_group: str  # prompts.json group of the system message
    sys_key: str  # key of the system message inside that group
    gt_fields: tuple[str, ...]  # ground-truth fields every record must carry
    # groups of alternative ground-truth fields: a record carries exactly one field of each group
    gt_one_of: tuple[tuple[str, ...], ...] = ()
    # other names the same meta file has in later releases (ChEF reads ScienceQA from VQA_ScienceQA.json)
    alt_meta_files: tuple[str, ...] = ()

    @property
    def meta_file(self) -> str:
        return f"{self.task}_{self.name}.json"

    @property
    def answer_file(self) -> str:
        return self.meta_file

    @property
    def media_key(self) -> str:
        return "image" if self.dim == "2d" else "pcl"

    @property
    def system_message(self) -> str:
        return prompt(self.sys_group, self.sys_key)

    @property
    def key(self) -> str:
        """Unique name across modes: ``VOC2012`` or ``Locating_VOC2012``."""
        return self.name if self.mode == "common" else f"Locating_{self.name}"


def _d2(name: str, task: str, sys_key: str, *gt: str, mode: str = "common") -> DatasetSpec:
    return DatasetSpec(name, mode, task, "2d", _E2D, sys_key, gt)


DATASETS: tuple[DatasetSpec, ...] = (
    _d2("CIFAR10", "Classification", "CLASSIFICATION_SYS", "label"),
    _d2("VOC2012", "Detection", "DETECTION_SYS", "object"),
    replace(
        _d2("SQAimage", "VQA", "VQA_SYS", "gt_choice", "gt_choices"), alt_meta_files=("VQA_ScienceQA.json",)
    ),
    _d2("AI2D", "VQA", "VQA_SYS", "gt_choice", "gt_choices"),
    _d2("flickr30k", "Caption", "CAPTION_SYS", "sentences"),
    _d2("UCMerced", "Fine-grained_Classification", "FG_CLASSIFICATION_SYS", "label"),
    _d2("FSC147", "Counting", "CNT_SYS", "num"),
    _d2("SVT", "OCR", "OCR_SYS", "word_list"),
    _d2("CelebA(Smile)", "Facial_Classification", "FFC_SYS", "attr"),
    _d2("CelebA(Hair)", "Facial_Classification", "FFC_SYS", "attr"),
    _d2("LSP", "Keypoints_Detection", "KEYPOINTS_DET_SYS", "gt_joints"),
    _d2("VOC2012", "Locating", "LOCATING_SYS", "object", mode="locating"),
    _d2("LSP", "Locating", "HUMANLOCATING_SYS", "gt_joints", mode="locating"),
    _d2("FSC147", "Locating", "LOCATING_SYS", "points", mode="locating"),
    DatasetSpec("ScanNet", "common", "Detection", "3d", _E3D, "DETECTION3D_SYS", ("object",)),
    # the spec and ChEF store the gt box as ``object``, the jul23 evaluator reads ``gt_bbox``
    DatasetSpec("ScanRefer", "common", "VG", "3d", _E3D, "VG3D_SYS", (), (("object", "gt_bbox"),)),
    DatasetSpec(
        "ScanQA_multiplechoice", "common", "VQA", "3d", _E3D, "VQA3D_SYS", ("gt_choice", "gt_choices")
    ),
)

# LSP joint order (official): gt_joints rows and the keypoint answer object follow it.
LSP_JOINTS: tuple[str, ...] = (
    "right ankle", "right knee", "right hip", "left hip", "left knee", "left ankle", "right wrist",
    "right elbow", "right shoulder", "left shoulder", "left elbow", "left wrist", "neck", "head top",
)  # fmt: skip


def find_dataset(name: str, mode: str = "common") -> DatasetSpec:
    """Look up a dataset by official CLI name and mode; the error lists the valid names."""
    for spec in DATASETS:
        if spec.name == name and spec.mode == mode:
            return spec
    valid = sorted({f"{s.name} ({s.mode})" for s in DATASETS})
    raise KeyError(f"unknown LAMM dataset {name!r} in mode {mode!r}; valid: {', '.join(valid)}")


def datasets_2d(mode: str | None = None) -> list[DatasetSpec]:
    return [s for s in DATASETS if s.dim == "2d" and (mode is None or s.mode == mode)]


def datasets_3d() -> list[DatasetSpec]:
    return [s for s in DATASETS if s.dim == "3d"]
