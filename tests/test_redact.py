"""No secret on disk or screen: a server whose 401 echoes the API key (tests/servers stubs) leaves no
trace of it in eval's errors.jsonl / results.json, the judge report or a build's rejects / manifest;
``lamm judge`` does not cache unparseable verdicts and fails loudly when the judge gave no verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from build_fixtures import coco, write_recipe
from eval_helpers import make_benchmark_2d
from servers.chat_stub import ChatStub
from servers.openai_stub import OpenAIStub, text_of

from lamm.cli import main
from lamm.redact import redact

KEY = "hunter2-local-key-7Q"  # shaped like no known key: only the configured-key rule can catch it


def _no_key_anywhere(folder: Path, *texts: str) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            assert KEY not in p.read_text("utf-8", errors="replace"), p
    for t in texts:
        assert KEY not in t


def test_redact_masks_configured_keys_and_key_shaped_tokens(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    text = (f"key {KEY}; sk-proj-Ab12Cd34Ef56Gh78; Authorization: Bearer abc.def-123456; "
            "token 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08; "
            "b64 QWxhZGRpbjpvcGVuIHNlc2FtZQ1234567890Ab; path /tmp/test_build_folder_counts_each_sample_once")  # fmt: skip
    assert redact(text) == (
        "key ***; ***; Authorization: Bearer ***; token ***; b64 ***; "
        "path /tmp/test_build_folder_counts_each_sample_once"
    )


def test_eval_against_a_key_echoing_server_stores_and_prints_no_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    with OpenAIStub() as stub:
        stub.echo_key_status = 401
        args = ["eval", "--model", f"openai:m@{stub.base_url}", "--benchmark-dir", str(bench),
                "--datasets", "CIFAR10", "--timeout", "5"]  # fmt: skip
        assert main([*args, "--out", str(tmp_path / "skip"), "--on-error", "skip"]) == 0
        assert main([*args, "--out", str(tmp_path / "raise")]) == 1
    cap = capsys.readouterr()
    errors = [json.loads(x) for x in (tmp_path / "skip" / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 2 and all("Error code: 401" in e["error"] and "***" in e["error"] for e in errors)
    skipped = json.loads((tmp_path / "skip" / "results.json").read_text())["datasets"]["CIFAR10"]["skipped"]
    assert len(skipped) == 2 and "Incorrect API key provided: ***" in skipped[0]["error"]
    assert "Incorrect API key provided: ***" in cap.err
    _no_key_anywhere(tmp_path, cap.out, cap.err)


def _judge_runs(tmp_path: Path) -> tuple[Path, Path, Path]:
    bench = make_benchmark_2d(tmp_path / "2D", n=4)
    for name, texts in (("A", ["It is a cat"] * 4), ("B", ["It is a dog"] * 4)):
        folder = tmp_path / name / "answers"
        folder.mkdir(parents=True)
        rows = [{"id": f"c{i}", "text": t, "delta_path": name} for i, t in enumerate(texts)]
        (folder / "Classification_CIFAR10.json").write_text(json.dumps(rows))
    return bench, tmp_path / "A", tmp_path / "B"


def _judge(stub, bench, a, b, out: Path, *more: str) -> int:
    return main(["judge", str(a), str(b), "--judge", f"openai:jm@{stub.base_url}", "--benchmark-dir",
                 str(bench), "--datasets", "CIFAR10", "--out", str(out), "--max-retries", "0", *more])  # fmt: skip


def test_judge_fails_loudly_when_no_call_gave_a_verdict_and_stores_no_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    bench, a, b = _judge_runs(tmp_path)
    with OpenAIStub() as stub:
        stub.echo_key_status = 401
        assert _judge(stub, bench, a, b, tmp_path / "j.json") == 1
    cap = capsys.readouterr()
    assert "4 of 4 judge calls gave no verdict (4 failed, 0 unparseable)" in cap.err
    report = json.loads((tmp_path / "j.json").read_text())
    assert report["overall"]["failed"] == 4 and report["overall"]["win_rate_a"] is None
    assert "Incorrect API key provided: ***" in report["datasets"]["CIFAR10"]["samples"][0]["detail"]
    _no_key_anywhere(tmp_path, cap.out, cap.err)


def test_unparseable_verdicts_are_asked_again_and_refresh_asks_everything(tmp_path, capsys):
    bench, a, b = _judge_runs(tmp_path)
    good = {"on": False}

    def reply(messages):
        return "1 2\nA is right" if good["on"] or "thing" in text_of(messages) else "I cannot decide"

    with OpenAIStub(reply=reply) as stub:
        assert _judge(stub, bench, a, b, tmp_path / "j1.json") == 1  # 4 of 4 unparseable
        assert len(stub.log) == 4 and not list((a / "judge_cache").rglob("*.json"))
        good["on"] = True
        stub.log.clear()
        assert _judge(stub, bench, a, b, tmp_path / "j2.json") == 0
        assert len(stub.log) == 4  # nothing was served from the cache
        assert json.loads((tmp_path / "j2.json").read_text())["overall"]["a_wins"] == 4
        stub.log.clear()
        assert _judge(stub, bench, a, b, tmp_path / "j3.json") == 0 and len(stub.log) == 0  # all cached
        assert _judge(stub, bench, a, b, tmp_path / "j4.json", "--refresh") == 0 and len(stub.log) == 4
    assert "4 of 4 judge calls gave no verdict (0 failed, 4 unparseable)" in capsys.readouterr().err


def test_build_against_a_key_echoing_server_writes_no_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAMM_API_KEY", KEY)
    coco(tmp_path)
    sources = """
  - {name: coco, type: coco, root: coco, captions: annotations/captions.json, instances: annotations/instances.json,
     produce: {C1: all}}
"""
    with ChatStub() as stub:
        stub.echo_key_status = 401
        g = {
            "type": "llm",
            "model": "stub-model",
            "base_url": stub.base_url,
            "max_retries": 0,
            "timeout_s": 5,
        }
        recipe = write_recipe(tmp_path / "recipe.yaml", generator=json.dumps(g), sources=sources)
        rc = main(["data", "build", str(recipe), "--out", str(tmp_path / "out"), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 1
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert rejects and all("Incorrect API key provided: ***" in r["reasons"][-1] for r in rejects)
    _no_key_anywhere(tmp_path / "out", cap.out, cap.err)


def test_judge_refuses_a_missing_run_and_a_run_pair_with_nothing_to_judge(tmp_path, capsys):
    """A typo in RUN_B once gave exit 0, an all-dash table and a report written into a new RUN_A folder."""
    bench, a, b = _judge_runs(tmp_path)
    with OpenAIStub() as stub:
        with pytest.raises(SystemExit, match=f"lamm judge: {tmp_path / 'nope'}: run folder not found"):
            _judge(stub, bench, tmp_path / "nope", b, tmp_path / "j.json")
        assert not (tmp_path / "nope").exists() and not (tmp_path / "j.json").exists()
        (tmp_path / "empty").mkdir()
        assert _judge(stub, bench, a, tmp_path / "empty", tmp_path / "j.json") == 1
        assert not stub.log
    err = capsys.readouterr().err
    assert (
        f"nothing was judged: no dataset has answers in both runs (no Classification_CIFAR10.json in {tmp_path / 'empty'})"
        in err
    )


def test_judge_refuses_out_of_range_options(tmp_path):
    """``--max-retries -1`` was an 'AssertionError: unreachable' traceback after the first call."""
    bench, a, b = _judge_runs(tmp_path)
    with OpenAIStub() as stub:
        for flag, value, rule in (("--max-retries", "-1", ">= 0, got -1"),
                                  ("--concurrency", "0", ">= 1, got 0")):  # fmt: skip
            with pytest.raises(SystemExit, match=f"lamm judge: {flag} must be {rule}"):
                main(["judge", str(a), str(b), "--judge", f"openai:jm@{stub.base_url}", "--benchmark-dir",
                      str(bench), "--datasets", "CIFAR10", flag, value])  # fmt: skip
        assert not stub.log
