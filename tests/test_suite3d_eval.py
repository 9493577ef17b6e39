"""The 3D-LLM suite end to end (issue 16): `lamm data mini --suite-3d`, `lamm eval --datasets ScanQA,SQA3D,
Scan2Cap,Multi3DRefer,ScanRefer`, `lamm score`, through the CLI on a tiny LAMM-Mini; the protocol's prompts
reach the model (point cloud and bird's-eye view), oracle answers score perfectly, the trivial baseline
scores what its constant answers are worth, and every report column's result field is in `lamm score`."""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eval_helpers import make_tiny_llava
from servers.openai_stub import OpenAIStub, images_of, text_of

from lamm.cli import main
from lamm.data.mini.oracle import oracle_answers
from lamm.metrics.qa3d import clean_answer
from lamm.protocol.bev import bev_system
from lamm.protocol.suite3d import suite3d_prompts
from lamm.tasks import datasets_3d, find_dataset

ROOT = Path(__file__).resolve().parents[1]
SUITE = ["ScanQA", "SQA3D", "Scan2Cap", "Multi3DRefer", "ScanRefer"]
N = 3


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suite") / "mini"
    args = ["data", "mini", "--out", str(out), "--suite-3d", "--train", "1", "--test", str(N), "--pretrain", "0",
            "--image-size", "32", "--points", "256", "--quiet"]  # fmt: skip
    assert main(args) == 0
    return out / "3D_Benchmark"


def _meta(bench: Path, key: str) -> list[dict]:
    return json.loads((bench / "meta_file" / find_dataset(key).meta_file).read_text("utf-8"))


def _score(bench: Path, key: str, answers: Path, capsys) -> dict:
    capsys.readouterr()
    args = ["score", "--benchmark-dir", str(bench), "--dataset", key, "--answers", str(answers), "--json"]
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_eval_asks_the_protocol_prompts_and_score_carries_every_column(bench: Path, tmp_path: Path, capsys):
    """A deterministic py: adapter over the five datasets (a subprocess, as a user runs it); each logged
    prompt is the task's system message + the query template filled from the record; `lamm score` of the
    run log gives every field a report column names, the named ones finite."""
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "lamm.cli", "eval", "--benchmark-dir", str(bench), "--datasets", ",".join(SUITE),
           "--model", "py:eval_helpers:make_echo", "--out", str(run)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (run / "answers.jsonl").read_text("utf-8").splitlines()]
    assert sorted({row["dataset"] for row in rows}) == sorted(SUITE) and len(rows) == N * len(SUITE)
    prompts = suite3d_prompts()
    for row in rows:
        rec = _meta(bench, row["dataset"])[row["index"]]
        task = prompts[row["dataset"]]
        if row["dataset"] == "Scan2Cap":
            b = rec["gt_bbox"]  # LAMM-Mini asks with gt boxes
            query = f"The related object is located at [{b[0]:.2f}, {b[1]:.2f}, {b[2]:.2f}, {b[3]:.2f}, {b[4]:.2f}, {b[5]:.2f}]. Describe the object in detail."  # fmt: skip
        else:
            fields = {f: rec[f] for f in task["fields"]}
            query = task["query_template"].format(**fields)
        assert row["prompt"] == [f"{task['system']}\n{query}"] and rec["query"] == query, row["dataset"]
    assert "Answer the question using a single word or phrase." in rows[N]["prompt"][0]
    for key in SUITE:
        res = _score(bench, key, run / "answers.jsonl", capsys)
        assert res["n"] == N and res["metric"] == find_dataset(key).metric_name
        for name, field, unit in find_dataset(key).columns:
            if field:  # "" = not computed (METEOR)
                assert isinstance(res[field], float) and math.isfinite(res[field]), (key, name)
                assert 0 <= res[field] <= (1 if unit == "fraction" else 1000), (key, name)


def test_report_columns_cover_the_published_metrics():
    """Each metric of lamm/bench/reference_3d.json is a column of its task's dataset; only METEOR has no
    result field (it is not computed)."""
    ref = json.loads((ROOT / "lamm" / "bench" / "reference_3d.json").read_text("utf-8"))["metrics"]
    columns = {name: (s.key, field) for s in datasets_3d() for name, field, _ in s.columns}
    for name, what in ref.items():
        assert columns[name][0] == what["task"], name
        assert (columns[name][1] == "") == ("METEOR" in name), name


def test_oracle_answers_score_perfectly_through_lamm_score(bench: Path, tmp_path: Path, capsys):
    perfect = {
        "ScanQA": {"value": 1.0, "em_refined": 1.0, "bleu1": 100.0, "rouge_l": 100.0},
        "SQA3D": {"value": 1.0, "em_refined": 1.0},
        "Scan2Cap": {"bleu4@0.5": 100.0, "rouge_l@0.5": 100.0, "bleu4@0.25": 100.0, "rouge_l@0.25": 100.0},
        "Multi3DRefer": {"value": 1.0, "f1@0.25": 1.0},
        "ScanRefer": {"value": 1.0, "acc@0.25": 1.0},
    }
    got = {}
    for key, want in perfect.items():
        spec = find_dataset(key)
        answers = tmp_path / spec.answer_file
        answers.write_text(json.dumps(oracle_answers(bench, spec)), "utf-8")
        got[key] = _score(bench, key, answers, capsys)
        assert {k: got[key][k] for k in want} == pytest.approx(want, abs=1e-6), key
        assert got[key]["parse_failure_rate"] == 0.0, key
    # CIDEr has no fixed maximum; with gt boxes in the queries the IoU gate always passes
    cap = got["Scan2Cap"]
    assert cap["value"] > 100 and cap["value"] == pytest.approx(cap["cider@0.25"])


def test_trivial_baseline_scores_its_constant_answers(bench: Path, tmp_path: Path, capsys):
    """baseline:trivial answers "None" to every Multi3DRefer description (F1 = the share of zero-target
    ones) and the most frequent first answer to every ScanQA question."""
    run = tmp_path / "base"
    args = ["eval", "--benchmark-dir", str(bench), "--datasets", ",".join(SUITE), "--model", "baseline:trivial",
            "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    results = json.loads((run / "results.json").read_text("utf-8"))["datasets"]
    assert sorted(results) == sorted(SUITE)
    m3d = _meta(bench, "Multi3DRefer")
    assert results["Multi3DRefer"]["value"] == pytest.approx(sum(not r["gt_bboxes"] for r in m3d) / N)
    qa = _meta(bench, "ScanQA")
    firsts = [r["answers"][0] for r in qa]
    top = max(firsts, key=firsts.count)  # ties: the first seen, as Counter.most_common
    hits = sum(clean_answer(top) in {clean_answer(a) for a in r["answers"]} for r in qa)
    assert results["ScanQA"]["value"] == pytest.approx(hits / N)


def test_bev_view_asks_suite_tasks_with_their_own_bev_message(bench: Path, tmp_path: Path, capsys):
    """--pcl-view bev: a suite task gets its task's bev.system (SQA3D: the situated paragraph), LAMM's
    ScanRefer its official message with the BEV paragraph."""
    run = tmp_path / "bev"
    args = ["eval", "--benchmark-dir", str(bench), "--datasets", "SQA3D,ScanRefer", "--model",
            "py:bev_helpers:make_png_reader", "--out", str(run), "--pcl-view", "bev"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (run / "answers.jsonl").read_text("utf-8").splitlines()]
    for row in rows:
        rec = _meta(bench, row["dataset"])[row["index"]]
        spec = find_dataset(row["dataset"])
        info = json.loads((run / "bev" / f"{rec['pcl'][2:]}.json").read_text("utf-8"))
        system = bev_system(spec.suite_task, spec.system_message, info["z_min"], info["z_max"])
        assert row["prompt"] == [f"{system}\n{spec.prompt_query(rec, rec['query'])}"], row["dataset"]
    sqa = [r for r in rows if r["dataset"] == "SQA3D"]
    assert len(sqa) == N and all("situated question answering" in r["prompt"][0] for r in sqa)


def test_hf_llava_answers_the_suite_from_the_bev(bench: Path, tmp_path: Path, capsys):
    """A real (tiny, random) transformers LLaVA through ``hf:`` answers every suite dataset from the BEV
    rendering, asked with each task's own BEV system message, and every dataset is scored."""
    llava = make_tiny_llava(tmp_path / "llava")
    run = tmp_path / "hf"
    args = ["eval", "--model", f"hf:{llava}", "--benchmark-dir", str(bench), "--datasets", ",".join(SUITE),
            "--max-new-tokens", "4", "--device", "cpu", "--out", str(run), "--pcl-view", "bev"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (run / "answers.jsonl").read_text("utf-8").splitlines()]
    assert sorted({r["dataset"] for r in rows}) == sorted(SUITE) and len(rows) == N * len(SUITE)
    for row in rows:
        rec = _meta(bench, row["dataset"])[row["index"]]
        spec = find_dataset(row["dataset"])
        info = json.loads((run / "bev" / f"{rec['pcl'][2:]}.json").read_text("utf-8"))
        system = bev_system(spec.suite_task, spec.system_message, info["z_min"], info["z_max"])
        assert system.strip() in row["prompt"][0] and "USER: <image>" in row["prompt"][0], row["dataset"]
        assert spec.prompt_query(rec, rec["query"]) in row["prompt"][0]
    results = json.loads((run / "results.json").read_text("utf-8"))["datasets"]
    assert all(results[k]["score"]["value"] is not None for k in SUITE)


def test_openai_server_is_sent_the_bev_png_and_the_suite_prompts(
    bench: Path, tmp_path: Path, capsys, monkeypatch
):
    """``openai:`` (the real openai client against a local OpenAI-compatible server) with --pcl-view bev:
    each request carries the task's BEV system message, the protocol query and the rendered PNG itself."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    run = tmp_path / "oa"
    with OpenAIStub() as stub:
        args = ["eval", "--model", f"openai:stub@{stub.base_url}", "--benchmark-dir", str(bench), "--datasets",
                "SQA3D,Multi3DRefer", "--out", str(run), "--pcl-view", "bev"]  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
    assert len(stub.log) == 2 * N
    rows = [json.loads(line) for line in (run / "answers.jsonl").read_text("utf-8").splitlines()]
    sent = sorted(  # requests arrive concurrently: compare as sets of (system, query, image bytes)
        (e["messages"][0]["content"], text_of(e["messages"]), base64.b64decode(images_of(e["messages"])[0].split(",", 1)[1]))
        for e in stub.log
    )  # fmt: skip
    expected = []
    for row in rows:
        rec = _meta(bench, row["dataset"])[row["index"]]
        spec = find_dataset(row["dataset"])
        info = json.loads((run / "bev" / f"{rec['pcl'][2:]}.json").read_text("utf-8"))
        system = bev_system(spec.suite_task, spec.system_message, info["z_min"], info["z_max"])
        png = (run / "bev" / f"{rec['pcl'][2:]}.png").read_bytes()
        expected.append((system, spec.prompt_query(rec, rec["query"]), png))
    assert sent == sorted(expected)
    results = json.loads((run / "results.json").read_text("utf-8"))["datasets"]
    assert all(results[k]["score"]["value"] is not None for k in ("SQA3D", "Multi3DRefer"))


def test_eval_builds_the_suite_query_from_the_fields_not_the_stored_text(bench: Path, tmp_path: Path, capsys):
    """A file converted with another query (an older lamm, a hand-made file) is still asked the protocol's
    question; the stored ``query`` of LAMM's own datasets is asked as it is."""
    copy = tmp_path / "3D_Benchmark"
    (copy / "meta_file").mkdir(parents=True)
    (copy / "scannet_pcls").symlink_to(bench / "scannet_pcls")
    for key in ("SQA3D", "ScanRefer"):
        recs = [dict(r, query=f"stale {i}") for i, r in enumerate(_meta(bench, key))]
        (copy / "meta_file" / find_dataset(key).meta_file).write_text(json.dumps(recs), "utf-8")
    args = ["eval", "--benchmark-dir", str(copy), "--datasets", "SQA3D,ScanRefer", "--model",
            "py:eval_helpers:make_echo", "--out", str(tmp_path / "run"), "--no-score"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "answers.jsonl").read_text("utf-8").splitlines()]
    fresh = {(k, i): r["query"] for k in ("SQA3D", "ScanRefer") for i, r in enumerate(_meta(bench, k))}
    for row in rows:
        query = row["prompt"][0].rsplit("\n", 1)[1]
        want = fresh[row["dataset"], row["index"]] if row["dataset"] == "SQA3D" else f"stale {row['index']}"
        assert query == want, row


def test_eval_of_a_tiny_lamm_point_cloud_model_on_the_suite(bench: Path, tmp_path: Path, capsys):
    """The lamm: adapter (a tiny untrained point-cloud model) answers all five datasets and each is scored."""
    torch = pytest.importorskip("torch")
    from model_helpers import tiny_config

    from lamm.model.checkpoint import save_trainable
    from lamm.model.lamm_model import build_model

    torch.manual_seed(0)
    encoder = {"type": "pointcloud", "num_points": 256, "num_groups": 16, "group_size": 8, "hidden_size": 32,
               "depth": 2, "num_heads": 4}  # fmt: skip
    model, tok = build_model(tiny_config(encoder=encoder))
    ckpt = save_trainable(model, tmp_path / "ckpt", tokenizer=tok)
    run = tmp_path / "run"
    args = ["eval", "--benchmark-dir", str(bench), "--datasets", ",".join(SUITE), "--model", f"lamm:{ckpt}",
            "--out", str(run), "--max-new-tokens", "3"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    results = json.loads((run / "results.json").read_text("utf-8"))["datasets"]
    assert sorted(results) == sorted(SUITE)
    for key, d in results.items():
        assert d["n_answered"] == N and d["metric"] == find_dataset(key).metric_name, key
        assert d["value"] is not None and math.isfinite(d["value"]), key
    rows = [json.loads(line) for line in (run / "answers.jsonl").read_text("utf-8").splitlines()]
    assert all("<Pcl>" in r["prompt"][0] for r in rows)
    sqa = next(r for r in rows if r["dataset"] == "SQA3D")
    assert _meta(bench, "SQA3D")[sqa["index"]]["situation"] in sqa["prompt"][0]


def test_with_query_replaces_a_stale_suite_query_and_keeps_lamms():
    rec = {"id": "q1", "pcl": "./scannet_pcls/s.npy", "question": "What is it?", "answers": ["a"],
           "object_ids": [0], "query": "stale"}  # fmt: skip
    out = find_dataset("ScanQA").with_query(rec)
    assert list(out)[:3] == ["id", "pcl", "query"] and out["query"] == "What is it? " + (
        "Answer the question using a single word or phrase."
    )
    assert {k: v for k, v in out.items() if k != "query"} == {k: v for k, v in rec.items() if k != "query"}
    assert find_dataset("ScanRefer").with_query(dict(rec, object=[0, 0, 0, 1, 1, 1]))["query"] == "stale"
