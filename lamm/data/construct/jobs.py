"""What a build makes: the seeded job list (which item becomes which kind / C4 task), and the record a
job becomes (template jobs here; LLM jobs in ``Builder``). Selection never depends on run order."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Any

from lamm.data.c4 import c4_conversation, non_finite
from lamm.data.c4 import task_type as c4_task_type
from lamm.data.construct.generate_template import supports, template_conversation
from lamm.data.construct.recipe import KINDS, Recipe
from lamm.data.construct.sources import Item
from lamm.data.construct.tasks import task_ann
from lamm.data.construct.validate import check_conversation


@dataclass
class Job:
    seq: int
    key: str
    item: Item
    kind: str  # daily_dialogue | factual_knowledge | detailed_description | vision_task
    task: str = ""  # C4 task for vision_task


def _count(value: Any, n: int) -> int:
    if value == "all":
        return n
    if isinstance(value, float):
        return round(value * n)
    return min(int(value), n)


def make_jobs(recipe: Recipe, items_by_source: dict[str, list[Item]]) -> tuple[list[Job], list[str]]:
    """Deterministic job list (seeded selection per source/kind/task) and warnings about short sources."""
    jobs: list[Job] = []
    warnings: list[str] = []
    for spec in recipe.sources:
        items = items_by_source[spec.name]
        wanted: list[tuple[str, str, Any]] = []
        for kind, count in spec.produce.items():
            if kind == "vision_task":
                wanted += [("vision_task", task, c) for task, c in count.items()]
            else:
                wanted.append((kind, "", count))
        for kind, task, count in wanted:
            if kind == "vision_task":
                probe = random.Random(0)
                eligible = [it for it in items if task_ann(task, it.ann, it.dim, probe) is not None]
            else:
                eligible = [it for it in items if supports(kind, it)]
            n = _count(count, len(eligible))
            if isinstance(count, int) and count > len(eligible):
                warnings.append(
                    f"source {spec.name!r}: {kind}{'/' + task if task else ''} asked for {count}, only {len(eligible)} items qualify"
                )
            order = list(range(len(eligible)))
            random.Random(f"{recipe.seed}|{spec.name}|{kind}|{task}").shuffle(order)
            for i in sorted(order[:n]):
                it = eligible[i]
                key = f"{spec.name}|{it.id}|{kind}|{task}"
                jobs.append(Job(len(jobs), key, it, kind, task))
    return jobs, warnings


def make_record(item: Item, conv: list[dict[str, str]], task_type: str) -> dict[str, Any]:
    if item.dim == "2d":
        return {
            "id": item.id,
            "image": item.media,
            "conversations": conv,
            "task_type": task_type,
            "src_image": item.src,
        }
    return {"id": item.id, "pcl": item.media, "conversations": conv, "task_type": task_type,
            "src_dataset": item.src, "src_id": item.ann.get("src_id", item.id)}  # fmt: skip


def job_task_type(job: Job) -> str:
    if job.kind == "vision_task":
        return c4_task_type(job.task)
    return KINDS[job.kind] + ("3d" if job.item.dim == "3d" else "")


def llm_seed(seed: int, job: Job) -> int:
    """The request seed of a job's LLM call. A C2 prompt holds only the class and its knowledge text, the
    same for every image of the class: its seed is drawn per image, or every image would get the one
    (cached) dialogue. Other kinds' prompts already differ per image and keep the recipe seed."""
    if job.kind != "factual_knowledge":
        return seed
    return seed + zlib.crc32(job.item.id.encode("utf-8")) % 1_000_000 * 100  # room for format retries


def check_job(job: Job) -> list[str]:
    """Reasons (empty: none) why a job's annotation cannot be written into training text."""
    found = non_finite(job.item.ann)
    return [f"annotation: non-finite number: {found}"] if found else []


def run_template_job(job: Job, seed: int) -> tuple[dict | None, list[str]]:
    """C4 (always templates) or offline C1-C3. Returns (record, reasons)."""
    rng = random.Random(f"{seed}|{job.key}")
    if reasons := check_job(job):
        return None, reasons
    try:
        if job.kind == "vision_task":
            conv = c4_conversation(job.task, task_ann(job.task, job.item.ann, job.item.dim, rng), rng)
        else:
            conv = template_conversation(job.kind, job.item, rng)
    except ValueError as exc:
        return None, [f"annotation: {exc}"]
    reason = check_conversation(conv, job.kind)
    if reason:
        return None, [reason]
    return make_record(job.item, conv, job_task_type(job)), []
