"""Prompts of one benchmark record, as official LAMM inference builds them (LAMM_FORMATS §5.4).

A record needs one or more generations, each a (system message, query) pair; the dataset's system
message is fixed per task and the query comes from the record (the stored ``query``; for the 3D suite's
tasks the protocol's template filled from the record's fields, ``DatasetSpec.prompt_query``). The task file's ``prompting`` says how:

* ``single``: one generation, the query as stored;
* ``two_pass`` (VQA: SQAimage, AI2D, ScanQA): two passes. The first gives a reasoning ``r``; the second asks again with
  ``query + r + " ###\\nANSWER:"``; the stored text is ``r + "\\n The answer is " + second``.
* ``per_joint`` (LSP keypoints): the query's ``{}`` is filled with each answer key (the 14 joint names),
  one generation per joint, stored as an object joint name -> answer (in the official joint order).

Model-agnostic and torch-free: adapters decide how a (system, query) pair becomes model input.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamm.formats.benchmark import BenchRecord
from lamm.protocol.prompts import ANSWER_JOIN, SECOND_PASS_SUFFIX
from lamm.tasks import DatasetSpec


@dataclass(frozen=True)
class Prompt:
    """One generation request's text: the dataset system message and the user query."""

    system: str
    query: str


STYLES = ("single", "two_pass", "per_joint")


def _style(spec: DatasetSpec) -> str:
    if spec.prompting not in STYLES:
        raise ValueError(f"{spec.key}: unknown prompting {spec.prompting!r}; known: {', '.join(STYLES)}")
    return spec.prompting


def is_two_pass(spec: DatasetSpec) -> bool:
    """VQA datasets (2D and 3D) answer in two passes: reasoning, then the option."""
    return _style(spec) == "two_pass"


def is_per_joint(spec: DatasetSpec) -> bool:
    """LSP keypoint detection asks one question per joint (the spec's ``answer_keys``)."""
    return _style(spec) == "per_joint"


def first_prompts(spec: DatasetSpec, record: BenchRecord) -> list[Prompt]:
    """Prompts of the first (for most datasets the only) pass."""
    system = spec.system_message
    if is_per_joint(spec):
        if "{}" not in record.query:
            raise ValueError(
                f"{spec.name} keypoint query of record {record.id!r} has no '{{}}' for the joint name"
            )
        return [Prompt(system, record.query.replace("{}", joint)) for joint in spec.answer_keys]
    return [Prompt(system, spec.prompt_query(record.raw))]


def second_prompts(spec: DatasetSpec, record: BenchRecord, first: list[str]) -> list[Prompt]:
    """Second-pass prompts built from first-pass answers (empty unless the dataset is two-pass)."""
    if not is_two_pass(spec):
        return []
    return [Prompt(spec.system_message, record.query + first[0] + SECOND_PASS_SUFFIX)]


def assemble(spec: DatasetSpec, first: list[str], second: list[str]) -> str | dict[str, str]:
    """The answer ``text`` the official inference stores for the record."""
    if is_per_joint(spec):
        return dict(zip(spec.answer_keys, first, strict=True))
    if is_two_pass(spec):
        return first[0] + ANSWER_JOIN + second[0]
    return first[0]
