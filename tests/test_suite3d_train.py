"""The tiny-3d model trains on LAMM-Mini's 3D-suite samples and answers the suite in its formats (issue 16.4).

`lamm data mini --suite-3d` -> the point-cloud encoder pre-trained as the quickstart does -> `lamm train`
with the tiny-3d preset's data selection (VQA3d + visual_grounding3d: the scene samples and the suite's
four per suite scene), shrunk to run in seconds (256 points, a smaller encoder and LLM, 200 steps at a
higher lr) -> `lamm eval --datasets ScanQA,SQA3D,Scan2Cap,Multi3DRefer,ScanRefer` of the model after its
first step (``--stop-after 1``: still untrained, same tokenizer) and after the last (``--resume``).

Accuracy on six records per dataset is noise, so the assertions are about the answer formats the suite
scorers read. Measured (seed 0): the trained model answers 6/6 of each dataset in its format, the
one-step model 0/6. The same run trained without the suite samples (``data.files[0].ids=[scene_*]``)
gave ScanQA 3/6, SQA3D 4/6 (the rest boxes and colours), Scan2Cap 0/6 (CIDEr@0.5 0: "2", "cone"),
Multi3DRefer 0/6 ("[1.00, 0.00, 0.36, 0.77]."), ScanRefer 4/6: the format assertions fail without them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from lamm.cli import main
from lamm.metrics.captions import ptb_tokenize
from lamm.metrics.parse import parse_boxes3d
from lamm.metrics.qa3d import clean_answer
from lamm.tasks import find_dataset
from lamm.tasks.common import boxes_text

pytestmark = pytest.mark.slow

SUITE = ["ScanQA", "SQA3D", "Scan2Cap", "Multi3DRefer", "ScanRefer"]
N = 6  # benchmark records per dataset
SCENES = 24  # training scenes: 5 scene samples + 4 suite samples each in the tiny-3d selection
STEPS = 200
SHORT = "Answer the question using a single word or phrase."


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    pytest.importorskip("torch")
    from lamm.train.config import preset_path
    from lamm.train.pretrain.pointcloud import pretrain_for_preset

    tmp = tmp_path_factory.mktemp("suitetrain")
    data = tmp / "data"
    args = ["data", "mini", "--out", str(data), "--suite-3d", "--train", "1", "--train-3d", str(SCENES),
            "--test", str(N), "--pretrain", "0", "--image-size", "32", "--points", "256", "--quiet"]  # fmt: skip
    assert main(args) == 0
    cfg = yaml.safe_load(preset_path("tiny-3d").read_text("utf-8"))
    cfg["model"]["encoder"].update(num_points=256, num_groups=16, group_size=16, pointnet_dims=[16, 32],
                                   group_dim=64, hidden_size=64, depth=1)  # fmt: skip
    cfg["tiny"].update(vocab_size=1000, llm_hidden=128)
    cfg["data"]["max_length"] = 160  # a three-box Multi3DRefer sample is ~125 tokens
    cfg["train"].update(max_steps=STEPS, epochs=100, lr=2e-3)
    config = tmp / "tiny-3d-suite.yaml"
    config.write_text(yaml.safe_dump(cfg), "utf-8")
    enc = pretrain_for_preset(str(config), data, tmp / "encoder", steps=30)
    out = tmp / "model"
    train = [
        "train",
        str(config),
        "--data",
        str(data),
        "--out",
        str(out),
        "--quiet",
        f"model.encoder.path={enc}",
    ]
    assert main([*train, "--stop-after", "1"]) == 0
    first = tmp / "first-step"
    shutil.copytree(out / "checkpoints" / "step-0000001", first)
    assert main([*train, "--resume"]) == 0
    bench = data / "3D_Benchmark"
    answers = {}
    for name, ckpt in (("untrained", first), ("trained", out / "checkpoints" / f"step-{STEPS:07d}")):
        args = ["eval", "--benchmark-dir", str(bench), "--datasets", ",".join(SUITE), "--model", f"lamm:{ckpt}",
                "--out", str(tmp / name), "--max-new-tokens", "96"]  # fmt: skip
        assert main(args) == 0
        rows = [json.loads(line) for line in (tmp / name / "answers.jsonl").read_text("utf-8").splitlines()]
        answers[name] = {
            "results": json.loads((tmp / name / "results.json").read_text("utf-8"))["datasets"],
            "text": {k: [r["text"].strip() for r in rows if r["dataset"] == k] for k in SUITE},
        }
    instruct = json.loads(next((data / "3D_Instruct" / "meta_file").glob("*.json")).read_text("utf-8"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text("utf-8").splitlines()]
    return {"bench": bench, "instruct": instruct, "log": log, **answers}


def _meta(bench: Path, key: str) -> list[dict]:
    return json.loads((bench / "meta_file" / find_dataset(key).meta_file).read_text("utf-8"))


def _share(texts: list[str], ok) -> float:
    return sum(map(ok, texts)) / len(texts)


def test_training_on_the_suite_samples_lowers_the_loss(run):
    """The run trained on the suite samples (4 of every 9 samples it read) and its logged loss fell."""
    suite = [r for r in run["instruct"] if r["id"].startswith("suite_")]
    assert len(suite) == 4 * SCENES and {r["task_type"] for r in suite} == {"VQA3d", "visual_grounding3d"}
    losses = [r["loss"] for r in run["log"]]
    assert len(losses) == STEPS and all(math.isfinite(x) for x in losses)
    first, last = losses[0], sum(losses[-20:]) / 20
    assert first > 5.0 and last < 0.25 * first, (first, last)  # measured 7.02 -> ~0.7


def test_every_suite_dataset_is_scored_for_both_models(run):
    """Every report column of the five datasets has a finite value, for both models."""
    for name in ("untrained", "trained"):
        res = run[name]["results"]
        assert sorted(res) == sorted(SUITE), name
        for key in SUITE:
            score = res[key]["score"]
            assert (
                res[key]["n_answered"] == score["n"] == N and score["metric"] == find_dataset(key).metric_name
            )
            for col, field, _ in find_dataset(key).columns:
                if field:  # "" = not computed (METEOR)
                    assert math.isfinite(score[field]), (name, key, col)


def test_trained_answers_follow_the_suite_formats(run):
    """ScanQA / SQA3D: a short phrase the suite samples teach; Scan2Cap: a caption in the references'
    words (and a CIDEr@0.5 above the untrained model's); Multi3DRefer: exactly boxes or ``None`` as
    ``boxes_text`` writes them; ScanRefer: one box, written as a box. The one-step model does none of these."""
    phrases = {clean_answer(r["conversations"][1]["value"]) for r in run["instruct"]
               if r["conversations"][0]["value"].endswith(SHORT)}  # fmt: skip
    words = {
        w for r in _meta(run["bench"], "Scan2Cap") for d in r["descriptions"] for w in ptb_tokenize(d).split()
    }
    words |= {w for r in run["instruct"] if r["id"].startswith("suite_") and r["id"].endswith("_2")
              for w in ptb_tokenize(r["conversations"][1]["value"]).split()}  # fmt: skip
    checks = {
        "ScanQA": lambda a: clean_answer(a) in phrases,
        "SQA3D": lambda a: clean_answer(a) in phrases,
        "Scan2Cap": lambda a: len(a.split()) >= 4 and set(ptb_tokenize(a).split()) <= words,
        "Multi3DRefer": lambda a: a == boxes_text(parse_boxes3d(a).value),
        "ScanRefer": lambda a: len(b := parse_boxes3d(a).value) == 1 and boxes_text(b) in a,
    }
    got = {
        n: {k: _share(run[n]["text"][k], ok) for k, ok in checks.items()} for n in ("untrained", "trained")
    }
    for key in SUITE:
        assert got["trained"][key] >= 0.8 and got["untrained"][key] <= 0.2, (key, got)
    cider = {n: run[n]["results"]["Scan2Cap"]["value"] for n in ("untrained", "trained")}
    assert cider["trained"] > cider["untrained"] + 20, cider


def test_suite_training_samples_ask_the_benchmark_queries(run):
    """Each suite training sample asks its task's benchmark query (the one `lamm eval` sends, read from
    the written benchmark file) and answers in the layout its scorer parses."""
    by_kind = {k: [r for r in run["instruct"] if r["id"].startswith("suite_") and r["id"].endswith(f"_{i}")]
               for i, k in enumerate(("ScanQA", "SQA3D", "Scan2Cap", "Multi3DRefer"))}  # fmt: skip
    fields = {"ScanQA": ("question",), "SQA3D": ("situation", "question"), "Multi3DRefer": ("description",)}
    for key, names in fields.items():
        shapes = set()
        for rec in _meta(run["bench"], key):
            q = rec["query"]
            for f in names:
                q = q.replace(rec[f], "{" + f + "}")
            shapes.add(q)
        assert len(shapes) == 1, (key, shapes)
        shape = shapes.pop()
        head, tail = shape.split("{")[0], shape.rsplit("}", 1)[1]
        for r in by_kind[key]:
            human = r["conversations"][0]["value"]
            assert human.startswith(head) and human.endswith(tail), (key, human, shape)
    cap_q = _meta(run["bench"], "Scan2Cap")[0]["query"]
    head, tail = cap_q.split("[")[0], cap_q.split("]")[1]
    for r in by_kind["Scan2Cap"]:
        human, caption = (t["value"] for t in r["conversations"])
        assert human.startswith(head) and human.endswith(tail) and len(parse_boxes3d(human).value) == 1
        assert parse_boxes3d(caption).value == []  # the caption alone: the box is in the query
    answers = [r["conversations"][1]["value"] for r in by_kind["Multi3DRefer"]]
    assert all(a == boxes_text(parse_boxes3d(a).value) for a in answers)
    assert {len(parse_boxes3d(a).value) > 1 for a in answers} == {True, False} and "None" in answers
