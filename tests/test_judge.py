"""GPT metric: official prompt (newline bug fixed, or reproduced), fixed-seed samples, verdict parsing,
Wilson intervals, disk cache, and counted failures against a faulty local server."""

from __future__ import annotations

import json

import pytest
from eval_helpers import make_benchmark_2d
from servers.openai_stub import OpenAIStub, text_of

from lamm.bench.eval.adapters.openai import ChatClient
from lamm.bench.judge import (
    JudgeCache,
    ground_truth,
    judge_messages,
    judge_runs,
    parse_verdict,
    sample_indices,
    sample_sizes,
)
from lamm.cli import main
from lamm.formats.benchmark import BenchRecord
from lamm.metrics.intervals import wilson
from lamm.tasks import find_dataset


def test_prompt_layout_and_the_newline_bug():
    spec = find_dataset("CIFAR10")
    msgs = judge_messages(spec, "What is it?", "cat", "a cat", "a dog")
    assert msgs[0]["content"] == (
        "You are a helpful and precise assistant for checking the quality of the answer from two different "
        "multimodal large language models. They are performing image classification. "
    )
    user = msgs[1]["content"]
    assert user.startswith(
        "\n[Question]\n\nWhat is it?\n\n\n[Ground Truth answer]\n\ncat\n\n\n"
        "\n[The Start of Assistant A's Answer]\n\na cat\n\n[The End of Assistant A's Answer]\n\n"
        "\n[The Start of Assistant B's Answer]\n\na dog\n\n[The End of Assistant B's Answer]\n\n"
        "\nWe would like to request your feedback"
    )
    buggy = judge_messages(spec, "What is it?", "cat", "a cat", "a dog", buggy_newlines=True)[1]["content"]
    assert buggy[::2] == user and set(buggy[1::2]) == {"\n"} and len(buggy) == 2 * len(user) - 1


def test_ground_truth_per_dataset():
    def rec(**raw):
        return BenchRecord(0, "0", "x.png", "q", raw)

    assert ground_truth(find_dataset("CelebA(Smile)"), rec(attr="-1")) == "No"
    assert ground_truth(find_dataset("CelebA(Smile)"), rec(attr="1")) == "Yes"
    assert ground_truth(find_dataset("SVT"), rec(word_list=["HOTEL", "Inn"])) == "['hotel', 'inn']"
    assert ground_truth(find_dataset("AI2D"), rec(gt_choice=2, gt_choices=["a", "b", "leaf"])) == "(C) leaf"
    box = [{"label": "dog", "bbox": [0.1, 0.2, 0.3, 0.4]}]
    assert ground_truth(find_dataset("VOC2012"), rec(object=box)) == str(box)


def test_verdicts_intervals_and_samples():
    assert parse_verdict("1 2\nA is right") == "A"
    assert parse_verdict("  2 1  \nB") == "B"
    for bad in ["1 1", "A", "", "1, 2", "Ranking: 1 2", "2 1 3"]:
        assert parse_verdict(bad) is None
    lo, hi = wilson(8 / 10, 10)  # the judge uses the scorers' Wilson interval (lamm.metrics.intervals)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0 / 5, 5)[0] == 0.0
    assert sample_sizes() == {"CIFAR10": 150, "SVT": 50, "flickr30k": 200, "CelebA(Hair)": 50,
                              "CelebA(Smile)": 50, "UCMerced": 50, "VOC2012": 50, "AI2D": 150, "SQAimage": 250}  # fmt: skip
    s = sample_indices(1000, 150, 0, "CIFAR10")
    assert len(set(s)) == 150 and s == sorted(s) and s == sample_indices(1000, 150, 0, "CIFAR10")
    assert s != sample_indices(1000, 150, 1, "CIFAR10") and sample_indices(5, 150, 0, "SVT") == [
        0,
        1,
        2,
        3,
        4,
    ]


def _block(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def _judge_reply(messages):
    """Rank by whether an answer contains the ground truth; "1 1" (unparseable) when both or neither do."""
    user = text_of(messages)
    gt = _block(user, "[Ground Truth answer]\n\n", "\n\n\n")
    a = gt in _block(user, "Assistant A's Answer]\n\n", "\n\n[The End")
    b = gt in _block(user, "Assistant B's Answer]\n\n", "\n\n[The End")
    return "1 2\nA names the label" if a and not b else "2 1\nB names it" if b and not a else "1 1\nsame"


def _faults(messages, attempt):
    user = text_of(messages)
    script = {"FAIL": ["500"] * 99, "FLAKY": ["429", "500"], "SLOW": ["timeout"], "BROKEN": ["malformed"]}
    for marker, actions in script.items():
        if marker in user:
            return actions[attempt - 1] if attempt <= len(actions) else None
    return None


def _runs(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=6)  # labels cat dog ship truck cat dog
    a = ["It is a cat", "It is a dog", "FAIL", "It is a truck FLAKY", "no idea SLOW", "It is a dog BROKEN"]
    b = ["It is a dog", "It is a dog", "x", "It is a ship", "It is a cat", "It is a cat"]
    for name, texts in (("A", a), ("B", b)):
        folder = tmp_path / name / "answers"
        folder.mkdir(parents=True)
        rows = [{"id": f"c{i}", "text": t, "delta_path": name} for i, t in enumerate(texts)]
        (folder / "Classification_CIFAR10.json").write_text(json.dumps(rows, indent=4))
    return bench, tmp_path / "A", tmp_path / "B"


def test_judge_counts_wins_unparsed_and_failures_and_caches(tmp_path):
    bench, run_a, run_b = _runs(tmp_path)
    with OpenAIStub(reply=_judge_reply, plan=_faults, stall_s=0.5) as stub:
        client = ChatClient("judge-model", stub.base_url, timeout=0.25, max_retries=3, backoff=0.01)
        res = judge_runs(client, bench, run_a, run_b, cache_dir=tmp_path / "cache", datasets=["CIFAR10"])
        d = res["datasets"]["CIFAR10"]
        assert (d["sampled"], d["judged"], d["a_wins"], d["b_wins"], d["unparsed"], d["failed"]) == (
            6,
            4,
            3,
            1,
            1,
            1,
        )
        assert d["win_rate_a"] == 0.75 and d["ci95_a"] == pytest.approx(list(wilson(3 / 4, 4)))
        status = {s["id"]: s["status"] for s in d["samples"]}
        assert status == {"c0": "ok", "c1": "unparsed", "c2": "failed", "c3": "ok", "c4": "ok", "c5": "ok"}
        failed = next(s for s in d["samples"] if s["status"] == "failed")
        assert failed["detail"].startswith("500") and "4 attempt" in failed["detail"]
        assert next(s for s in d["samples"] if s["id"] == "c1")["detail"] == "1 1"
        assert res["client"]["retries"] == {"429": 1, "500": 4, "timeout": 1, "malformed reply": 1}
        assert res["overall"]["a_wins"] == 3 and res["overall"]["failed"] == 1

        # rerun: every verdict comes from the cache; the failed and the unparseable sample are asked again
        stub.log.clear()
        again = judge_runs(client, bench, run_a, run_b, cache_dir=tmp_path / "cache", datasets=["CIFAR10"])
        asked = sorted("FAIL" in text_of(e["messages"]) for e in stub.log)
        assert asked.count(False) == 1 and asked.count(True) >= 1
        assert again["datasets"]["CIFAR10"]["samples"] == d["samples"]
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 4  # the 4 verdicts, no unparseable reply
    cache = JudgeCache(tmp_path / "cache", "another-judge")
    assert cache.get(judge_messages(find_dataset("CIFAR10"), "q", "g", "a", "b")) is None


def test_judge_cli_writes_report_and_reports_missing_datasets(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-secret")
    bench, run_a, run_b = _runs(tmp_path)
    with OpenAIStub(reply=_judge_reply) as stub:
        code = main(["judge", str(run_a), str(run_b), "--judge", f"openai:jm@{stub.base_url}",
                     "--benchmark-dir", str(bench), "--datasets", "CIFAR10,SVT", "--out", str(tmp_path / "j.json")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "j.json").read_text())
    assert report["datasets"]["CIFAR10"]["a_wins"] == 3 and report["datasets"]["CIFAR10"]["unparsed"] == 2
    assert "no OCR_SVT.json" in report["datasets"]["SVT"]["error"]
    assert "CIFAR10" in out and "75.0" in out and "sk-judge-secret" not in out
    assert (run_a / "judge_cache").is_dir()
