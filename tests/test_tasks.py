"""The benchmark dataset registry (lamm.tasks, issue 15.1): invariants of the task files, and the worked
example of docs/architecture.md: a new dataset declared in one place and scored through ``lamm score``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import lamm.tasks as T
from lamm.cli import main
from lamm.metrics import metrics2d as M
from lamm.tasks import DatasetSpec, all_datasets, checks, common, find_dataset, register, unregister

ROOT = Path(__file__).resolve().parents[1]
TASKS_DIR = ROOT / "lamm" / "tasks"
SHARED = {"__init__.py", "spec.py", "checks.py", "common.py", "reference.py", "vqa.py"}


def test_every_dataset_is_complete_and_unique():
    specs = all_datasets()
    assert len(specs) == 21 and [s.key for s in specs][:3] == ["CIFAR10", "VOC2012", "SQAimage"]
    assert len({s.key for s in specs}) == len(specs)
    assert len({s.meta_file for s in specs}) == len(specs)
    for s in specs:
        assert callable(s.metric) and s.metric_name, s.key
        assert s.prompting in ("single", "two_pass", "per_joint"), s.key
        assert s.unit in ("fraction", "x100", "absolute error"), s.key
        assert s.gt_fields or s.gt_one_of, s.key
        assert s.system_message, s.key  # the verbatim string exists (hash-checked)
        assert s.answer_is_object == (s.prompting == "per_joint"), s.key
        assert s.mini is not None, s.key  # LAMM-Mini generates every dataset of today's registry
    assert T.lower_is_better() == {"mae"} and T.not_a_fraction() == {"mae", "bleu4", "cider@0.5"}
    suite = [s.key for s in specs if s.suite_task]  # the 3D suite: prompts from suite3d_prompts.json
    assert suite == ["ScanQA", "SQA3D", "Scan2Cap", "Multi3DRefer"]
    for s in specs:  # its LAMM-Mini files come from bench3d_suite's generators (only with --suite-3d)
        assert (s.mini.scene == "suite") == bool(s.mini.generate) == bool(s.suite_task), s.key
        assert (s.mini.record is None) == (s.mini.scene == "suite"), s.key
    assert [s.key for s in all_datasets() if "jul23" in s.locating_pools] == [
        "Locating_VOC2012",
        "Locating_LSP",
    ]


def test_one_small_file_per_dataset():
    modules = sorted(p.stem for p in TASKS_DIR.glob("*.py") if p.name not in SHARED)
    assert modules == sorted(T.TASK_MODULES) and len(modules) == len(all_datasets())
    for p in TASKS_DIR.glob("*.py"):
        if p.name not in SHARED:
            n = len(p.read_text("utf-8").splitlines())
            assert n <= 80, f"{p.name} has {n} lines: a task file stays small"


def test_no_dataset_name_branches_outside_the_registry():
    names = "|".join(re.escape(s.name) for s in all_datasets()) + "|Locating_[A-Za-z0-9]+"
    literal = re.compile(rf"([\"'])({names})\1")  # a dataset name as a string literal
    branch = re.compile(r"\bspec\.(name|key)\s*(==|!=|in)\s*[\"'(]")
    found = []
    for p in (ROOT / "lamm").rglob("*.py"):
        if TASKS_DIR in p.parents:
            continue
        for i, line in enumerate(p.read_text("utf-8").splitlines(), 1):
            if literal.search(line) or branch.search(line):
                found.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert found == []


def test_registry_imports_no_torch_and_no_upper_layer():
    code = (
        "import sys, lamm.tasks; bad = [m for m in sys.modules if m == 'torch' or m.startswith(('lamm.data', "
        "'lamm.model', 'lamm.bench', 'lamm.train'))]; assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_lookup_errors_and_duplicate_registration():
    with pytest.raises(
        KeyError, match=r"unknown LAMM dataset 'Nope' in mode 'common'; valid: .*CIFAR10 \(common\)"
    ):
        find_dataset("Nope")
    with pytest.raises(ValueError, match="CIFAR10 is registered already"):
        register(find_dataset("CIFAR10"))
    assert T.spec_for_file("x/Locating_LSP.jsonl").key == "Locating_LSP"


# ---------------------------------------------------------------------- worked example (docs/architecture.md)

SHAPES = DatasetSpec(
    "MiniShapes", "common", "Classification", "2d", "CLASSIFICATION_SYS", M.cifar10, "accuracy",
    gt_fields=("label",), gt_checks=(checks.string("label"),),
    baseline=common.majority("label"), ground_truth_words=lambda raw: str(raw["label"]),
)  # fmt: skip


@pytest.fixture
def shapes_registered():
    register(SHAPES)
    yield SHAPES
    unregister(SHAPES.key)


def test_a_new_dataset_is_one_declaration(shapes_registered, tmp_path, capsys):
    bench = tmp_path / "2D_Benchmark"
    (bench / "shapes").mkdir(parents=True)
    records = []
    for i, label in enumerate(["cat", "dog", "ship"]):
        Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(bench / "shapes" / f"{i}.png")
        records.append({"id": f"s{i}", "image": f"shapes/{i}.png", "query": "What is it?", "label": label})
    (bench / "meta_file").mkdir()
    (bench / "meta_file" / "Classification_MiniShapes.json").write_text(json.dumps(records))
    answers = tmp_path / "Classification_MiniShapes.json"
    answers.write_text(json.dumps([{"id": "s0", "text": "A cat."}, {"id": "s1", "text": "a dog"},
                                   {"id": "s2", "text": "a car"}]))  # fmt: skip
    argv = [
        "score",
        "--benchmark-dir",
        str(bench),
        "--dataset",
        "MiniShapes",
        "--answers",
        str(answers),
        "--json",
    ]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (res["dataset"], res["metric"], res["value"], res["n"]) == ("MiniShapes", "accuracy", 2 / 3, 3)
    # the registry's other consumers see it too: validation refuses a bad record, naming the field
    records[1]["label"] = 3
    (bench / "meta_file" / "Classification_MiniShapes.json").write_text(json.dumps(records))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Classification_MiniShapes.json" in err and "label" in err and "must be a string, got 3" in err


def test_the_worked_example_cleans_up():
    """Runs after the example (file order): its registration is gone, the built-in 21 remain."""
    assert SHAPES not in all_datasets() and len(all_datasets()) == 21
