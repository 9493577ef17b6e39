"""lamm/protocol/suite3d_prompts.json: the 3D suite's prompts (docs/pointcloud.md, 'The 3D suite').

The templates must format with exactly the documented fields, the strings copied from LAMM must equal the
hash-checked originals, and the documented answer formats must parse with the project's 3D box parser.
"""

from __future__ import annotations

import json
import string
from importlib import resources

import pytest

from lamm.metrics.parse import parse_boxes3d
from lamm.protocol import prompt

META_FILES = {
    "ScanQA": "VQA_ScanQA.json",
    "SQA3D": "VQA_SQA3D.json",
    "Scan2Cap": "Caption_Scan2Cap.json",
    "Multi3DRefer": "VG_Multi3DRefer.json",
    "ScanRefer": "VG_ScanRefer.json",
}
SAMPLE = {
    "question": "What color is the chair {by} the desk?",  # braces in a value must pass through untouched
    "situation": "I am sitting on the bed facing the window.",
    "description": "the brown chair at the end of the table.",
    "cx": 1.254,
    "cy": -2.0,
    "cz": 0.5,
    "dx": 0.4,
    "dy": 0.4,
    "dz": 0.8,
    "z_min": 0.0,
    "z_max": 2.6,
}


@pytest.fixture(scope="module")
def suite() -> dict:
    data = json.loads(resources.files("lamm.protocol").joinpath("suite3d_prompts.json").read_text("utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_the_five_tasks_and_their_meta_files(suite):
    assert {task: spec["meta_file"] for task, spec in suite.items()} == META_FILES
    for task, spec in suite.items():
        assert spec["source"].strip() and spec["answer_format"].strip() and spec["metrics"], task
        assert all(m.startswith(task) for m in spec["metrics"]), task


def test_templates_format_with_exactly_the_documented_fields(suite):
    for task, spec in suite.items():
        assert "{" not in spec["system"], task  # the point-cloud system message is used as is
        assert _fields(spec["query_template"]) == set(spec["fields"]), task
        query = spec["query_template"].format(**{k: SAMPLE[k] for k in spec["fields"]})
        assert all(str(SAMPLE[k]) in query for k in spec["fields"] if isinstance(SAMPLE[k], str)), task
        bev = spec["bev"]
        assert _fields(bev["system"]) | _fields(bev["query_template"]) == set(bev["fields"]), task
        system = bev["system"].format(**{k: SAMPLE[k] for k in _fields(bev["system"])})
        assert "from 0.00 (floor) to 2.60" in system, task
        assert bev["query_template"].format(**{k: SAMPLE[k] for k in _fields(bev["query_template"])}) == query


def test_lamm_strings_are_the_verbatim_originals(suite):
    vqa = prompt("eval_3d_jul2023_constants", "VQA3D_SYS")
    vg = prompt("eval_3d_jul2023_constants", "VG3D_SYS")
    assert suite["ScanQA"]["system"] == vqa and suite["SQA3D"]["system"] == vqa
    assert suite["ScanRefer"]["system"] == vg and suite["Multi3DRefer"]["system"] == vg
    assert (
        suite["ScanRefer"]["query_template"]
        == prompt("eval_3d_jul2023_constants", "VG3D_QS") + "{description}"
    )


def test_scan2cap_query_box_reads_back_with_the_3d_box_parser(suite):
    spec = suite["Scan2Cap"]
    query = spec["query_template"].format(**{k: SAMPLE[k] for k in spec["fields"]})
    assert query.startswith("The related object is located at [1.25, -2.00, 0.50, 0.40, 0.40, 0.80].")
    assert parse_boxes3d(query).value == [(1.25, -2.0, 0.5, 0.4, 0.4, 0.8)]


def test_documented_answer_examples_parse_to_the_documented_box_counts(suite):
    (one,) = suite["ScanRefer"]["answer_examples"]
    assert parse_boxes3d(one).value == [(1.25, -2.0, 0.5, 0.4, 0.4, 0.8)]
    none, two = suite["Multi3DRefer"]["answer_examples"]
    assert parse_boxes3d(none).value == []
    assert len(parse_boxes3d(two).value) == 2
