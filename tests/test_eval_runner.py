"""``lamm eval``: official prompts, batching/process-count independence, resume after a kill, bad records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_helpers import EchoAdapter, echo_answer, make_benchmark_2d, make_benchmark_3d

from lamm.bench.eval import prompts as P
from lamm.bench.eval.adapters import GenRequest
from lamm.bench.eval.answering import RecordFailed
from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.datasets import select_datasets
from lamm.bench.eval.runner import evaluate
from lamm.formats.benchmark import BenchRecord
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import iter_jsonl
from lamm.tasks import find_dataset
from lamm.tasks.lsp import LSP_JOINTS

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _cfg(bench: Path, out: Path, **kw) -> EvalConfig:
    kw.setdefault("score", False)
    return EvalConfig(
        model="py:eval_helpers:make_echo", benchmark_dir=bench, out=out,
        datasets=select_datasets(bench, kw.pop("names", "all")), **kw,
    )  # fmt: skip


def _answers(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "answers.jsonl").read_text().splitlines()]


def _texts(run: Path) -> list[tuple[str, int, object]]:
    return [(r["dataset"], r["index"], r["text"]) for r in _answers(run)]


# ------------------------------------------------------------------------------------------- prompts


def test_vqa_two_pass_and_lsp_per_joint_prompts():
    sqa, lsp, cifar = find_dataset("SQAimage"), find_dataset("LSP"), find_dataset("CIFAR10")
    rec = BenchRecord(0, "q0", "x.png", "Q? \nOptions: (A) a (B) b\n", {})
    first = P.first_prompts(sqa, rec)
    assert first == [P.Prompt(sqa.system_message, "Q? \nOptions: (A) a (B) b\n")]
    second = P.second_prompts(sqa, rec, ["because"])
    assert second[0].query == "Q? \nOptions: (A) a (B) b\nbecause ###\nANSWER:"
    assert P.assemble(sqa, ["because"], ["(A)"]) == "because\n The answer is (A)"

    lrec = BenchRecord(0, "l0", "x.png", "Where is the {} key point?", {})
    ps = P.first_prompts(lsp, lrec)
    assert [p.query for p in ps[:2]] == [
        "Where is the right ankle key point?",
        "Where is the right knee key point?",
    ]
    assert len(ps) == 14 and P.second_prompts(lsp, lrec, ["x"] * 14) == []
    text = P.assemble(lsp, [f"a{i}" for i in range(14)], [])
    assert list(text) == list(LSP_JOINTS) and text["head top"] == "a13"
    assert P.assemble(cifar, ["a cat"], []) == "a cat"
    assert (
        cifar.system_message.startswith("\n")
        and P.first_prompts(cifar, rec)[0].system == cifar.system_message
    )


# ---------------------------------------------------------------------------------------- in-process


def test_eval_writes_log_and_official_files(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    run = tmp_path / "run"
    results = evaluate(_cfg(bench, run, batch_size=4), EchoAdapter())
    rows = _answers(run)
    assert [(r["dataset"], r["index"]) for r in rows] == [
        (d, i) for d in ("CIFAR10", "SQAimage", "LSP") for i in range(3)
    ]
    sqa = find_dataset("SQAimage")
    q = json.loads((bench / "meta_file" / "VQA_SQAimage.json").read_text())[1]["query"]
    media = bench / "sqaimage_images" / "1.png"
    r = echo_answer(GenRequest(media, "image", sqa.system_message, q))
    second = echo_answer(GenRequest(media, "image", sqa.system_message, q + r + " ###\nANSWER:"))
    row = next(x for x in rows if x["dataset"] == "SQAimage" and x["index"] == 1)
    assert row["text"] == r + "\n The answer is " + second
    assert len(row["prompt"]) == 2 and row["prompt"][1].endswith("###\nANSWER:")
    lsp_row = next(x for x in rows if x["dataset"] == "LSP")
    assert list(lsp_row["text"]) == list(LSP_JOINTS) and len(lsp_row["prompt"]) == 14

    official = (run / "answers" / "VQA_SQAimage.json").read_text()
    assert official.startswith('[\n    {\n        "id": "q0",') and not official.endswith("\n")
    assert json.loads(official)[1]["text"] == row["text"]
    lsp_off = json.loads((run / "answers" / "Keypoints_Detection_LSP.json").read_text())
    assert lsp_off[0]["text"] == lsp_row["text"]
    saved = json.loads((run / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    prov = saved["run"]
    assert prov["model"] == "py:eval_helpers:make_echo" and prov["adapter"] == "echo" and prov["seed"] == 0
    assert prov["versions"]["numpy"] and prov["batch_size"] == 4 and prov["processes"] == 1
    assert saved["datasets"]["LSP"]["n_answered"] == 3 and saved["datasets"]["LSP"]["skipped"] == []


def test_answers_do_not_depend_on_batch_size_and_batches_are_used(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=5)
    a1, a8 = EchoAdapter(), EchoAdapter()
    evaluate(_cfg(bench, tmp_path / "b1", batch_size=1), a1)
    evaluate(_cfg(bench, tmp_path / "b8", batch_size=8), a8)
    assert _texts(tmp_path / "b1") == _texts(tmp_path / "b8")
    assert set(a1.calls) == {1} and max(a8.calls) == 8
    # 5 CIFAR + 2x5 SQA + 14x5 LSP generations either way
    assert sum(a1.calls) == sum(a8.calls) == 5 + 10 + 70


def test_rerun_skips_answered_records(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=4)
    run = tmp_path / "run"
    evaluate(_cfg(bench, run, names="CIFAR10,SQAimage", limit=2), EchoAdapter())
    second = EchoAdapter()
    evaluate(_cfg(bench, run, names="CIFAR10,SQAimage"), second)
    assert sum(second.calls) == 2 + 2 * 2  # only the records the first run did not do
    full = tmp_path / "full"
    evaluate(_cfg(bench, full, names="CIFAR10,SQAimage"), EchoAdapter())
    assert _texts(run) == _texts(full)
    with pytest.raises(ValueError, match="holds answers of model"):
        evaluate(EvalConfig("answers:elsewhere", bench, select_datasets(bench, "CIFAR10"), run))
    # a resume with other decoding options would mix answers of two settings
    opts = _cfg(bench, tmp_path / "opts", names="CIFAR10", adapter_options={"max_new_tokens": 8})
    evaluate(opts, EchoAdapter())
    opts.adapter_options = {"max_new_tokens": 8, "device": "cpu"}  # device does not change answers
    evaluate(opts, EchoAdapter())
    opts.adapter_options = {"max_new_tokens": 16}
    with pytest.raises(ValueError, match=r"other settings \(max_new_tokens: 8 there, 16 now\)"):
        evaluate(opts, EchoAdapter())


def test_bad_records_raise_or_are_skipped_and_listed(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=4)
    (bench / "cifar10_images" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (bench / "cifar10_images" / "2.png").unlink()
    with pytest.raises(RecordFailed, match=r"CIFAR10: record 1 \(id 'c1'\).*1\.png"):
        evaluate(_cfg(bench, tmp_path / "r1", names="CIFAR10"), EchoAdapter())
    res = evaluate(
        _cfg(bench, tmp_path / "r2", names="CIFAR10,SQAimage", on_error="skip"),
        EchoAdapter(fail="sqaimage_images/3.png"),
    )
    skipped = res["datasets"]["CIFAR10"]["skipped"]
    assert [(s["index"], s["id"]) for s in skipped] == [(1, "c1"), (2, "c2")]
    assert "not found" in skipped[1]["error"] and "unreadable" in skipped[0]["error"]
    sq = res["datasets"]["SQAimage"]
    assert [s["id"] for s in sq["skipped"]] == ["q3"] and "injected failure" in sq["skipped"][0]["error"]
    assert res["datasets"]["CIFAR10"]["n_answered"] == 2
    official = json.loads((tmp_path / "r2" / "answers" / "Classification_CIFAR10.json").read_text())
    assert [a["id"] for a in official] == ["c0", "c1", "c2", "c3"]  # aligned with the meta file
    assert [a.get("skipped") for a in official] == [None, skipped[0]["error"], skipped[1]["error"], None]
    assert official[1]["text"] == "" and official[0]["text"]
    # the image is repaired: a rerun answers the skipped record and it leaves the error list
    (bench / "cifar10_images" / "2.png").write_bytes((bench / "cifar10_images" / "0.png").read_bytes())
    res = evaluate(_cfg(bench, tmp_path / "r2", names="CIFAR10", on_error="skip"), EchoAdapter())
    assert [s["id"] for s in res["datasets"]["CIFAR10"]["skipped"]] == ["c1"]


def test_3d_benchmark_and_unreadable_point_cloud(tmp_path):
    bench = make_benchmark_3d(tmp_path / "3D", n=3)
    (bench / "scannet_pcls" / "scene0001_00.npy").write_bytes(b"garbage")
    assert [s.key for s in select_datasets(bench)] == ["ScanQA_multiplechoice"]
    res = evaluate(_cfg(bench, tmp_path / "run", on_error="skip"), EchoAdapter())
    d = res["datasets"]["ScanQA_multiplechoice"]
    assert d["n_answered"] == 2 and d["skipped"][0]["id"] == "s1" and ".npy" in d["skipped"][0]["error"]
    assert all("\n The answer is " in r["text"] for r in _answers(tmp_path / "run"))


def test_select_datasets_errors(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    with pytest.raises(ValueError, match="unknown dataset 'CIFAR100'"):
        select_datasets(bench, "CIFAR100")
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar10' \(did you mean 'CIFAR10'\?\)"):
        select_datasets(bench, "cifar10")
    # a 3D dataset named in a 2D folder: said so before any answering (was a bare "file not found")
    with pytest.raises(
        ValueError, match=r"ScanNet is a 3D_Benchmark dataset and its meta file .*Detection_ScanNet"
    ):
        select_datasets(bench, "CIFAR10,ScanNet")
    with pytest.raises(FormatError, match="no LAMM benchmark meta file"):
        select_datasets(bench, "all", "locating")


# ---------------------------------------------------------------------------------------- processes


def _lamm_eval(bench: Path, out: Path, *, procs: int, batch: int = 2, **env_extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.update(OMP_NUM_THREADS="1", **env_extra)
    args = ["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench),
            "--out", str(out), "--batch-size", str(batch), "--no-score"]  # fmt: skip
    if procs == 1:
        cmd = [sys.executable, "-m", "lamm.cli", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
               "--standalone", "-m", "lamm.cli", *args]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _finish(p: subprocess.Popen) -> str:
    try:
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        _kill_tree(p)
        raise
    assert p.returncode == 0, out.decode()
    return out.decode()


def _descendants(pid: int) -> list[int]:
    """torchrun starts its workers in new sessions, so a process-group kill would miss them."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for c in map(int, children):
            out += [c, *_descendants(c)]
    return out


def _kill_tree(p: subprocess.Popen) -> None:
    """SIGKILL the launcher and every worker at once, like a pulled plug."""
    for pid in [p.pid, *_descendants(p.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


def _kill_when(p: subprocess.Popen, run: Path, min_lines: int) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        files = [run / "answers.jsonl", *(run / "parts").glob("answers.rank*.jsonl")]
        n = sum(len(f.read_text().splitlines()) for f in files if f.is_file())
        if n >= min_lines:
            _kill_tree(p)
            time.sleep(0.2)  # let the killed workers' files settle
            return
        assert p.poll() is None, "finished before it could be killed"
        time.sleep(0.05)
    raise AssertionError("no answers appeared")


def _generated_media(log: Path) -> list[str]:
    return [line.split("\t")[1] for line in log.read_text().splitlines()] if log.is_file() else []


@pytest.mark.parametrize("before,after", [(1, 2), (2, 1)])
def test_killed_run_resumes_with_another_process_count(tmp_path, before, after):
    bench = make_benchmark_2d(tmp_path / "2D", n=5)
    ref = tmp_path / "ref"
    evaluate(_cfg(bench, ref, batch_size=2), EchoAdapter())

    run, log1, log2 = tmp_path / "run", tmp_path / "gen1.log", tmp_path / "gen2.log"
    p = _lamm_eval(bench, run, procs=before, ECHO_DELAY="0.1", ECHO_LOG=str(log1))
    _kill_when(p, run, min_lines=4)
    assert not (run / "results.json").exists()
    logs = [run / "answers.jsonl", *(run / "parts").glob("answers.rank*.jsonl")]
    before_keys = {(r["dataset"], r["index"]) for f in logs if f.is_file() for r in iter_jsonl(f)}
    _finish(_lamm_eval(bench, run, procs=after, ECHO_LOG=str(log2)))

    rows = _answers(run)
    keys = [(r["dataset"], r["index"]) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * 5  # every answer exactly once
    assert _texts(run) == _texts(ref)  # same answers, record order
    assert not list((run / "parts").glob("*.jsonl"))
    # nothing recomputed: no record answered before the kill was generated again
    folders = {"CIFAR10": "cifar10_images", "SQAimage": "sqaimage_images", "LSP": "lsp_images"}
    answered_before = {f"{folders[d]}/{i}.png" for d, i in before_keys}
    regenerated = set(_generated_media(log2))
    assert len(answered_before) >= 4 and regenerated
    assert regenerated.isdisjoint(answered_before)
    assert answered_before | regenerated == {f"{folders[d]}/{i}.png" for d, i in keys}
    results = json.loads((run / "results.json").read_text())
    assert results["run"]["processes"] == after


def test_two_processes_give_the_same_answers_as_one(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=5)
    evaluate(_cfg(bench, tmp_path / "one", batch_size=3), EchoAdapter())
    out = _finish(_lamm_eval(bench, tmp_path / "two", procs=2, batch=3))
    assert _texts(tmp_path / "one") == _texts(tmp_path / "two")
    assert (tmp_path / "one" / "answers" / "Keypoints_Detection_LSP.json").read_bytes() == (
        tmp_path / "two" / "answers" / "Keypoints_Detection_LSP.json"
    ).read_bytes()
    assert "CIFAR10" in out


def test_eval_scores_with_lamm_score_code(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=6)
    res = evaluate(
        _cfg(bench, tmp_path / "run", names="CIFAR10,SQAimage", score=True, limit=5), EchoAdapter()
    )
    cifar, sqa = find_dataset("CIFAR10"), find_dataset("SQAimage")
    meta = json.loads((bench / "meta_file" / "Classification_CIFAR10.json").read_text())[:5]
    # echo answers "It is a <word> ...": correct when <word> is the label
    hits = [
        echo_answer(GenRequest(bench / r["image"], "image", cifar.system_message, r["query"])).split()[3]
        == r["label"]
        for r in meta
    ]
    assert res["datasets"]["CIFAR10"]["value"] == pytest.approx(sum(hits) / 5)
    assert res["datasets"]["CIFAR10"]["metric"] == "accuracy"
    qs = json.loads((bench / "meta_file" / "VQA_SQAimage.json").read_text())[:5]
    right = 0
    for r in qs:
        req = GenRequest(bench / r["image"], "image", sqa.system_message, r["query"])
        first = echo_answer(req)
        second = echo_answer(GenRequest(req.media, "image", req.system, r["query"] + first + " ###\nANSWER:"))
        right += second == f"({'AB'[r['gt_choice']]})"
    assert res["datasets"]["SQAimage"]["value"] == pytest.approx(right / 5)
    assert res["datasets"]["SQAimage"]["parse_failure_rate"] == 0.0
    assert res["datasets"]["SQAimage"]["score"]["n"] == 5
    samples = json.loads((tmp_path / "run" / "scores" / "SQAimage.json").read_text())
    assert len(samples) == 5 and {"index", "score", "rule", "failed"} <= set(samples[0])


def test_cli_names_the_bad_record_and_skips_it_on_request(tmp_path, capsys):
    from lamm.cli import main

    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    (bench / "cifar10_images" / "2.png").write_bytes(b"\xff\xd8\xff truncated")
    args = [
        "eval",
        "--model",
        "py:eval_helpers:make_echo",
        "--benchmark-dir",
        str(bench),
        "--datasets",
        "CIFAR10",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "lamm: error: CIFAR10: record 2 (id 'c2')" in err and "2.png" in err and "--on-error skip" in err
    assert main([*args, "--out", str(tmp_path / "b"), "--on-error", "skip"]) == 0
    out = capsys.readouterr().out
    assert "CIFAR10" in out and "2/3" in out  # answered 2 of 3, one skipped
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res["datasets"]["CIFAR10"]["skipped"][0]["id"] == "c2"
