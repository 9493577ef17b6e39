"""lamm/bench/reference_3d.json: the published 3D-suite numbers the report shows as reference rows.

Every value must come with a source that exists and names title, arXiv id, table and where it was read, every
metric must be one of the suite's names, and every value must appear in its source's recorded quote, so a
number typed without a quote to back it fails here.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources

import pytest

TASKS = {"ScanRefer", "Multi3DRefer", "Scan2Cap", "ScanQA", "SQA3D"}
SUITE_METRICS = {
    "ScanRefer@0.25",
    "ScanRefer@0.5",
    "Multi3DRefer@0.25",
    "Multi3DRefer@0.5",
    "Scan2Cap CIDEr@0.5",
    "Scan2Cap BLEU-4@0.5",
    "Scan2Cap ROUGE-L@0.5",
    "Scan2Cap METEOR@0.5",
    "ScanQA CIDEr",
    "ScanQA BLEU-1",
    "ScanQA BLEU-4",
    "ScanQA ROUGE-L",
    "ScanQA METEOR",
    "ScanQA EM",
    "ScanQA EM-refined",
    "SQA3D EM",
}


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads(resources.files("lamm.bench").joinpath("reference_3d.json").read_text("utf-8"))


def test_metric_table_is_the_suite(ref):
    assert set(ref["metrics"]) == SUITE_METRICS
    for name, spec in ref["metrics"].items():
        assert spec["task"] in TASKS and name.startswith(spec["task"]), name
        assert spec["what"].strip()


def test_every_source_is_complete(ref):
    assert ref["sources"]
    for key, src in ref["sources"].items():
        assert set(src) == {"title", "arxiv", "table", "url", "quote_or_note"}, key
        assert all(isinstance(v, str) and v.strip() for v in src.values()), key
        assert re.fullmatch(r"\d{4}\.\d{4,5}(v\d+)?", src["arxiv"]), (key, src["arxiv"])
        assert src["url"].startswith("https://"), key


def test_rows_name_a_source_and_suite_metrics_with_values_in_range(ref):
    assert ref["rows"]
    seen = set()
    for row in ref["rows"]:
        assert set(row) == {"model", "source", "primary", "metrics", "setting"}, row
        assert row["source"] in ref["sources"], row["source"]
        assert isinstance(row["primary"], bool) and row["model"].strip() and row["setting"].strip()
        assert (row["model"], row["source"]) not in seen, row["model"]
        seen.add((row["model"], row["source"]))
        assert row["metrics"], row["model"]
        for name, value in row["metrics"].items():
            assert name in SUITE_METRICS, (row["model"], name)
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (row["model"], name)
            assert math.isfinite(value), (row["model"], name)
            upper = (
                1000.0 if "CIDEr" in name else 100.0
            )  # CIDEr-D x100 tops out at 1000, the rest are percent
            assert 0.0 <= value <= upper, (row["model"], name, value)


def test_every_value_appears_in_its_sources_quote(ref):
    for row in ref["rows"]:
        quote = ref["sources"][row["source"]]["quote_or_note"]
        numbers = set(re.findall(r"\d+\.\d+", quote))
        for name, value in row["metrics"].items():
            assert repr(float(value)) in numbers, (row["model"], name, value, row["source"])


def test_each_suite_task_has_a_primary_reference(ref):
    covered = {ref["metrics"][m]["task"] for row in ref["rows"] if row["primary"] for m in row["metrics"]}
    assert covered == TASKS
