"""``DatasetSpec``: everything lamm knows about one benchmark dataset, declared by its task file.

Meta/answer file names follow the official rule ``<TaskName>_<DatasetName>.json`` (LAMM_FORMATS §2).
Consumers (validation, prompting, scoring, baseline, judge, report, LAMM-Mini) read these fields and
never branch on a dataset's name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamm.metrics.metrics2d import Metric
from lamm.protocol.prompts import prompt
from lamm.protocol.suite3d import suite_query, suite_system

E2D = "eval_2d_v1_constants"
E3D = "eval_3d_jul2023_constants"
# ``sys_group`` of the 3D suite's tasks: ``sys_key`` is the task's name in suite3d_prompts.json, whose
# system message and query template (filled from the record's fields) the task is asked with
SUITE3D = "suite3d"

# (record) -> (field, problem) or None
GtCheck = Callable[[dict[str, Any]], "tuple[str, str] | None"]
# (load the dataset's records, seed, dataset key) -> (record -> answer text)
Baseline = Callable[[Callable[[], Sequence[Any]], int, str], Callable[[Any], str]]


@dataclass(frozen=True)
class Mini:
    """How LAMM-Mini generates the dataset: ``scene`` names a world maker (2D: a ``world2d.MAKERS``
    kind; 3D: ``objects`` or ``grounding``), ``record(item, rng)`` returns the query + ground-truth
    fields, ``oracle(rec, size, answer)`` the text of a perfect answer, where ``answer(task, ann)`` is
    the last C4 answer of that task (injected by lamm.data.mini.oracle: no data import here).

    The 3D suite's datasets have their own seeded generators instead: ``scene="suite"`` and ``generate``
    names a ``(index, seed, points) -> (record, cloud)`` of ``lamm.data.mini.bench3d_suite.SUITE_RECORDS``
    (``record`` unused; the query is the task's protocol query). They are written only with
    ``lamm data mini --suite-3d``, so the default LAMM-Mini stays as it was."""

    scene: str
    folder: str
    record: Callable[[Any, Any], dict[str, Any]] | None
    oracle: Callable[[dict[str, Any], Any, Callable[[str, dict], Any]], Any]
    # learnability probe (lamm.data.mini.probe): (instruction task with the same scene kind, item -> label)
    probe: tuple[str, Callable[[Any], str]] | None = None
    generate: str = ""  # the suite's generator name (``scene="suite"``)


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # official CLI name, e.g. "CelebA(Smile)"
    mode: str  # "common" | "locating"
    task: str  # official TaskName, e.g. "Facial_Classification"
    dim: str  # "2d" | "3d"
    sys_key: str  # key of the system message inside ``sys_group``
    metric: Metric  # (items, ctx) -> Outcome, from lamm.metrics
    metric_name: str  # the Outcome's metric, e.g. "accuracy"
    gt_fields: tuple[str, ...] = ()  # ground-truth fields every record must carry
    # groups of alternative ground-truth fields: a record carries exactly one field of each group
    gt_one_of: tuple[tuple[str, ...], ...] = ()
    gt_checks: tuple[GtCheck, ...] = ()  # from lamm.tasks.checks, run in order after the presence check
    # other names the same meta file has in later releases (ChEF reads ScienceQA from VQA_ScienceQA.json)
    alt_meta_files: tuple[str, ...] = ()
    prompting: str = "single"  # "single" | "two_pass" (VQA) | "per_joint" (one query per answer key)
    answer_keys: tuple[str, ...] = ()  # an answer is an object with these keys (LSP joints), else a string
    unit: str = "fraction"  # "fraction" (shown as percent) | "x100" (BLEU-4) | "absolute error" (MAE)
    higher_is_better: bool = True
    needs_image_size: bool = False  # the metric reads Item.size (every 2D image is opened anyway)
    baseline: Baseline | None = None  # the trivial answers a model must beat
    ground_truth_words: Callable[[dict[str, Any]], str] | None = None  # None: the gt fields as JSON
    reference: dict[str, float | None] = field(default_factory=dict)  # paper's zero-shot numbers by model
    locating_pools: tuple[str, ...] = ()  # pooled locating ACC lists holding it: "v1", "jul23"
    mini: Mini | None = None  # None: LAMM-Mini does not generate it
    sys_group: str = ""  # prompts.json group of the system message (default: by dim), or SUITE3D
    # (report column name as lamm/bench/reference_3d.json names it, ``lamm score`` result field, unit):
    # every number a report table shows for the dataset (the 3D suite's datasets)
    columns: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.sys_group:
            object.__setattr__(self, "sys_group", E2D if self.dim == "2d" else E3D)

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
    def suite_task(self) -> str | None:
        """The task's name in suite3d_prompts.json (the 3D suite), else None (LAMM's own prompts)."""
        return self.sys_key if self.sys_group == SUITE3D else None

    @property
    def system_message(self) -> str:
        if self.suite_task:
            return suite_system(self.suite_task)
        return prompt(self.sys_group, self.sys_key)

    def prompt_query(self, raw: dict[str, Any]) -> str:
        """The query a model is asked for a record: the suite task's template filled from the record's
        fields, else (LAMM) the record's stored ``query``."""
        return suite_query(self.suite_task, raw) if self.suite_task else raw["query"]

    def with_query(self, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` with :meth:`prompt_query` stored as its ``query`` (after ``id`` and the media path):
        how benchmark writers make the file say what the model is asked."""
        head = {k: raw[k] for k in ("id", self.media_key) if k in raw}
        return {**head, "query": self.prompt_query(raw), **raw}

    @property
    def key(self) -> str:
        """Unique name across modes: ``VOC2012`` or ``Locating_VOC2012``."""
        return self.name if self.mode == "common" else f"Locating_{self.name}"

    @property
    def answer_is_object(self) -> bool:
        return bool(self.answer_keys)

    @property
    def unit_note(self) -> str:
        """What ``lamm score`` prints beside the headline ("" for a fraction)."""
        if self.unit == "fraction":
            return ""
        return self.unit + ("" if self.higher_is_better else ", lower is better")

    def check_gt(self, rec: dict[str, Any]) -> tuple[str, str] | None:
        """``(field, problem)`` for the ground-truth fields of ``rec``, or None when they are fine."""
        for f in self.gt_fields:
            if f not in rec:
                return f, "missing ground-truth field"
        for group in self.gt_one_of:
            present = [f for f in group if f in rec]
            names = " or ".join(repr(f) for f in group)
            if not present:
                return group[0], f"missing ground-truth field: needs exactly one of {names}"
            if len(present) > 1:
                return present[1], f"ground truth given twice: keep exactly one of {names}"
        for check in self.gt_checks:
            problem = check(rec)
            if problem:
                return problem
        return None

    def truth_words(self, raw: dict[str, Any]) -> str:
        """The record's ground truth in words: what the GPT judge is shown and the report prints."""
        if self.ground_truth_words is not None:
            return self.ground_truth_words(raw)
        fields = [*self.gt_fields, *(f for group in self.gt_one_of for f in group if f in raw)]
        parts = []
        for f in fields:
            v = raw.get(f)
            text = v if isinstance(v, str) else json.dumps(v)
            parts.append(text if len(fields) == 1 else f"{f}: {text}")
        return "; ".join(parts)
