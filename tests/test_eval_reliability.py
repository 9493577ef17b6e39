"""``lamm eval`` reliability: one writer per run folder (real concurrent processes, torchrun included),
run metadata only for a model that loads, resume checks every logged row against the meta file, and the
``answers:`` adapter's count check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from eval_helpers import make_benchmark_2d

from lamm.cli import main

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    env.update(extra)
    return env


def _eval_cmd(bench: Path, out: Path, *more: str, procs: int = 1) -> list[str]:
    args = ["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench),
            "--out", str(out), "--batch-size", "1", "--no-score", *more]  # fmt: skip
    if procs == 1:
        return [sys.executable, "-m", "lamm.cli", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
            "--standalone", "-m", "lamm.cli", *args]  # fmt: skip


def _start_slow(
    bench: Path, out: Path, *more: str, delay: float = 0.15, hold: Path | None = None
) -> subprocess.Popen:
    """A first ``lamm eval`` that answers slowly (and, with ``hold``, waits after its first answer while
    that file exists); returns once it has written its first answer."""
    extra = {"ECHO_HOLD": str(hold)} if hold else {}
    p = subprocess.Popen(
        _eval_cmd(bench, out, *more), cwd=REPO, env=_env(ECHO_DELAY=str(delay), **extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.time() + 60
    while not ((out / "answers.jsonl").is_file() and (out / "answers.jsonl").read_text().strip()):
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    return p


def test_second_eval_on_one_out_is_refused_and_the_first_loses_nothing(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=4)
    out = tmp_path / "run"
    hold = tmp_path / "hold"  # the first run waits after its first answer until the second was refused
    hold.touch()
    first = _start_slow(bench, out, "--datasets", "CIFAR10,SQAimage", hold=hold)
    second = subprocess.run(
        _eval_cmd(bench, out, "--datasets", "LSP"), cwd=REPO, env=_env(),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.poll() is None, "the first run must still be running when the second is refused"
    hold.unlink()
    assert second.returncode == 2, second.stderr
    assert "another process is writing here" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and second.stdout == ""
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    rows = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert sorted((r["dataset"], r["index"]) for r in rows) == sorted(
        (d, i) for d in ("CIFAR10", "SQAimage") for i in range(4)
    )
    assert set(json.loads((out / "results.json").read_text())["datasets"]) == {"CIFAR10", "SQAimage"}
    # once the first has finished the folder is free again
    done = subprocess.run(_eval_cmd(bench, out), cwd=REPO, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_second_torchrun_launch_is_refused_on_every_rank_without_hanging(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=5)
    out = tmp_path / "run"
    first = _start_slow(bench, out, "--datasets", "CIFAR10", delay=4.0)  # outlives torchrun's start
    t0 = time.time()
    second = subprocess.run(
        _eval_cmd(bench, out, "--datasets", "CIFAR10", procs=2), cwd=REPO, env=_env(),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert second.returncode != 0 and time.time() - t0 < 170
    # rank 0 and rank 1 each say why (neither waits at a barrier for the other)
    assert second.stderr.count("another process is writing here") == 2, second.stderr
    assert first.poll() is None  # the refusal came while the first was still writing
    first.kill()
    first.communicate()


def test_invalid_model_claims_no_run_folder(tmp_path, capsys):
    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    out = tmp_path / "run"
    common = ["eval", "--benchmark-dir", str(bench), "--out", str(out), "--no-score"]
    assert main([*common, "--model", "lamm:/nonexistent/checkpoint"]) != 0
    assert not (out / "run.json").exists()
    capsys.readouterr()
    assert main([*common, "--model", "py:eval_helpers:make_echo"]) == 0, capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["model"] == "py:eval_helpers:make_echo"


def test_a_run_that_stopped_before_answering_claims_no_run_folder(tmp_path, capsys):
    """A wrong --benchmark-dir stops after run.json is written: the corrected rerun (another model too)
    was refused as "holds answers of model ..." although the folder held none."""
    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    out = tmp_path / "run"
    common = ["eval", "--out", str(out), "--no-score", "--datasets", "CIFAR10"]
    assert main([*common, "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(tmp_path)]) == 2
    (tmp_path / "ans").mkdir()
    rows = [{"id": f"c{i}", "text": "cat"} for i in range(2)]
    (tmp_path / "ans" / "Classification_CIFAR10.json").write_text(json.dumps(rows))
    capsys.readouterr()
    assert main([*common, "--model", f"answers:{tmp_path / 'ans'}", "--benchmark-dir", str(bench)]) == 0, (
        capsys.readouterr().err
    )
    assert json.loads((out / "run.json").read_text())["model"] == f"answers:{tmp_path / 'ans'}"
    # once it holds answers, another model is refused as before
    assert main([*common, "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench)]) == 2
    assert "holds answers of model" in capsys.readouterr().err


def _first_run(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    bench = make_benchmark_2d(tmp_path / "2D", n=4)
    out = tmp_path / "run"
    args = ["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench), "--out", str(out),
            "--datasets", "CIFAR10"]  # fmt: skip
    assert main([*args, "--limit", "2"]) == 0
    return bench, out, args


def _rewrite_log(out: Path, edit) -> None:
    rows = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    edit(rows)
    (out / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_resume_refuses_a_logged_row_whose_id_is_not_the_records(tmp_path, capsys):
    bench, out, args = _first_run(tmp_path)
    _rewrite_log(out, lambda rows: rows[1].update(id="c3"))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "logged answer id 'c3' does not match meta record id 'c1' at index 1" in err
    official = json.loads((out / "answers" / "Classification_CIFAR10.json").read_text())
    assert [a["id"] for a in official] == ["c0", "c1"]  # the earlier run's file, not rewritten


def test_resume_refuses_a_record_logged_twice_with_different_texts(tmp_path, capsys):
    """Two versions of one answer in the log: the resume refuses instead of keeping the first."""
    bench, out, args = _first_run(tmp_path)
    _rewrite_log(out, lambda rows: rows.append(dict(rows[1], text=rows[1]["text"] + " (another run)")))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "record 1 of CIFAR10 (id 'c1') was answered twice with different texts" in err
    _rewrite_log(out, lambda rows: rows.__setitem__(-1, dict(rows[1])))  # the same answer twice is fine
    assert main(args) == 0


def test_resume_refuses_a_logged_row_beyond_the_meta_file(tmp_path, capsys):
    bench, out, args = _first_run(tmp_path)
    _rewrite_log(out, lambda rows: rows.append(dict(rows[0], index=7, id="c7")))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "logged answer for record 7 (id 'c7') but the meta file has 4 records" in err


def test_resume_refuses_an_answer_given_to_a_question_the_meta_file_no_longer_asks(tmp_path, capsys):
    """Same id at the same index, another query: the logged answer was once kept and scored."""
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    args = ["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench),
            "--datasets", "SQAimage", "--out", str(tmp_path / "run"), "--no-score"]  # fmt: skip
    assert main(args) == 0
    assert main(args) == 0  # unchanged: resumes
    meta = bench / "meta_file" / "VQA_SQAimage.json"
    rows = json.loads(meta.read_text())
    rows[1]["query"] = "Which shape is thing 1? \nOptions: (A) round (B) square\n"
    meta.write_text(json.dumps(rows))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the logged answer for record 1 (id 'q1') was given to another question" in err


def test_answers_adapter_refuses_one_answer_too_many(tmp_path, capsys):
    bench, out, _ = _first_run(tmp_path)
    assert main(["eval", "--model", "py:eval_helpers:make_echo", "--benchmark-dir", str(bench),
                 "--out", str(out), "--datasets", "CIFAR10"]) == 0  # fmt: skip
    f = out / "answers" / "Classification_CIFAR10.json"
    rows = json.loads(f.read_text())
    f.write_text(json.dumps([*rows, dict(rows[-1], id="extra")]))
    capsys.readouterr()
    rc = main(["eval", "--model", f"answers:{out / 'answers'}", "--benchmark-dir", str(bench),
               "--out", str(tmp_path / "replay"), "--datasets", "CIFAR10"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "Classification_CIFAR10.json" in err and "5 answers for 4 records" in err
    assert not (tmp_path / "replay" / "results.json").exists()


def test_over_long_query_fails_that_record_by_name_and_skip_answers_the_rest(tmp_path, capsys):
    import torch
    from model_helpers import tiny_config

    from lamm.model.checkpoint import save_trainable
    from lamm.model.lamm_model import build_model

    torch.manual_seed(0)
    model, tok = build_model(tiny_config())
    ckpt = save_trainable(model, tmp_path / "ckpt", tokenizer=tok)
    context = model.base_llm.config.max_position_embeddings
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    meta = bench / "meta_file" / "Classification_CIFAR10.json"
    rows = json.loads(meta.read_text())
    rows[1]["query"] = "Describe every detail of the object. " * context  # far past the context
    meta.write_text(json.dumps(rows))
    args = ["eval", "--model", f"lamm:{ckpt}", "--benchmark-dir", str(bench), "--datasets", "CIFAR10",
            "--max-new-tokens", "4", "--device", "cpu", "--no-score"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "lamm: error: CIFAR10: record 1 (id 'c1'): prompt of" in err
    assert f"exceeds the model's context length of {context} tokens" in err and "Traceback" not in err
    assert main([*args, "--out", str(tmp_path / "b"), "--on-error", "skip"]) == 0
    res = json.loads((tmp_path / "b" / "results.json").read_text())["datasets"]["CIFAR10"]
    assert res["n_answered"] == 2 and [s["id"] for s in res["skipped"]] == ["c1"]
    assert "context length" in res["skipped"][0]["error"]


def test_out_of_range_numeric_options_are_refused(tmp_path):
    """``--limit -2`` once evaluated all records but the last two and exited 0; ``--limit 0`` gave 0/0."""
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    for flag, value, rule in (("--limit", "-2", "must be >= 1, got -2"), ("--limit", "0", "must be >= 1, got 0"),
                              ("--max-new-tokens", "0", "must be >= 1, got 0"),
                              ("--timeout", "-1", "must be > 0 seconds, got -1")):  # fmt: skip
        res = subprocess.run(_eval_cmd(bench, tmp_path / "run", flag, value), cwd=REPO, env=_env(),
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert res.returncode != 0 and res.stderr.strip() == f"lamm eval: {flag} {rule}", res.stderr
    assert not (tmp_path / "run").exists()
