"""LLM generation against a local OpenAI-compatible stub with injected 429 / 500 / stalls / malformed and
off-format replies: nothing is lost, failures are retried or reported, resume repeats no call, and the
output equals an uninterrupted build's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from build_fixtures import bamboo, coco, scannet, write_recipe
from servers.chat_stub import ChatStub, request_key

from lamm.data.construct.generate_llm import ParseError, parse_description, parse_dialogue
from lamm.data.construct.llm import LLMClient, LLMError, RateLimiter
from lamm.data.construct.validate import check_conversation

SOURCES = """
  - {name: coco, type: coco, root: coco, captions: annotations/captions.json, instances: annotations/instances.json,
     produce: {C1: all, C3: all, vision_task: {detection: all}}}
  - {name: bamboo, type: imagefolder, root: bamboo, knowledge: knowledge.json, produce: {C2: all, vision_task: {classification: all}}}
  - {name: scannet, type: scene3d, root: scannet, produce: {C1: all, C3: all, vision_task: {detection3d: all}}}
"""
N_LLM, N_C4 = 3 + 3 + 4 + 2 + 2, 3 + 4 + 2
ROOT = Path(__file__).resolve().parents[1]


def _recipe(root: Path, url: str, **gen) -> Path:
    g = {"type": "llm", "model": "stub-model", "base_url": url, "concurrency": 4, "timeout_s": 0.8,
         "backoff_s": 0.01, "max_retries": 4, "format_retries": 2, **gen}  # fmt: skip
    return write_recipe(root / "recipe.yaml", generator=json.dumps(g), sources=SOURCES)


@pytest.fixture()
def data(tmp_path) -> Path:
    for fn in (coco, bamboo, scannet):
        fn(tmp_path)
    return tmp_path


def _build(recipe: Path, out: Path, *extra: str) -> int:
    from lamm.cli import main

    return main(["data", "build", str(recipe), "--out", str(out), "--no-progress", *extra])


def _meta(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "meta_file").glob("*.json"))}


def test_parsers_and_validation():
    conv = parse_dialogue(
        "Human: What is it?\nGPT: A cat.\nIt sleeps.\n**User:** Where?\nAssistant: On a sofa."
    )
    assert conv == [{"from": "human", "value": "What is it?"}, {"from": "gpt", "value": "A cat.\nIt sleeps."},
                    {"from": "human", "value": "Where?"}, {"from": "gpt", "value": "On a sofa."}]  # fmt: skip
    assert parse_dialogue('[{"from": "human", "value": "Hi?"}, {"role": "assistant", "content": "Yes."}]')[1] == {
        "from": "gpt", "value": "Yes."}  # fmt: skip
    with pytest.raises(ParseError, match="before the first"):
        parse_dialogue("Sure! Here you go.\nHuman: x\nGPT: y")
    with pytest.raises(ParseError, match="dialogue where a description"):
        parse_description("Human: describe\nGPT: no")
    ok = [{"from": "human", "value": "Where is the cat?"}, {"from": "gpt", "value": "On the left."}]
    assert check_conversation(ok, "daily_dialogue") is None
    coords = [ok[0], {"from": "gpt", "value": "It is at [0.12, 0.30, 0.4, 0.5]."}]
    assert check_conversation(coords, "daily_dialogue").startswith("coordinates")
    assert check_conversation(coords, "vision_task") is None  # C4 answers are coordinates
    leak = [ok[0], {"from": "gpt", "value": "According to the annotations it is left."}]
    assert check_conversation(leak, "factual_knowledge").startswith("leak")
    given = [ok[0], {"from": "gpt", "value": "From the description I was given, it is a cat."}]
    assert check_conversation(given, "daily_dialogue").startswith("leak")
    assert check_conversation([ok[1], ok[0]], "daily_dialogue").startswith("structure")
    assert check_conversation([ok[0], {"from": "gpt", "value": " "}], "daily_dialogue").startswith("empty")
    assert check_conversation(ok + [ok[0]], "daily_dialogue") == "structure: ends with a human turn"


def test_client_retries_every_fault_and_caches(tmp_path):
    with ChatStub(faults=True, stall_s=1.5) as stub:
        client = LLMClient(
            base_url=stub.base_url, model="m", timeout_s=0.8, backoff_s=0.01, cache_dir=tmp_path
        )
        prompts = [[{"role": "user", "content": f"- thing {i}"}] for i in range(24)]
        modes = {stub.mode(request_key(p, 3)) for p in prompts}
        assert {0, 1, 2, 3} <= modes  # 429, 500, stall and malformed body all injected
        texts = [client.chat(p, seed=3).text for p in prompts]
        faults = sum(stub.mode(request_key(p, 3)) in (0, 1, 2, 3) for p in prompts)
        u = client.usage
        assert u.requests == 24 + faults and u.retries == faults and u.failures == 0
        assert u.errors["http_429"] >= 1 and u.errors["http_500"] >= 1 and u.errors["timeout"] >= 1
        assert u.errors["malformed"] >= 1
        assert u.prompt_tokens > 0 and u.completion_tokens > 0
        before = stub.requests
        again = LLMClient(base_url=stub.base_url, model="m", cache_dir=tmp_path)
        assert [again.chat(p, seed=3).text for p in prompts] == texts
        assert stub.requests == before and again.usage.cache_hits == 24  # cache: no request repeated
        other = LLMClient(base_url=stub.base_url, model="other-model", cache_dir=tmp_path)
        other.chat(prompts[7], seed=3)  # another model is another cache key
        assert stub.requests > before and other.usage.cache_hits == 0


def test_client_gives_up_with_a_reason(tmp_path):
    with ChatStub() as stub:
        stub.fail_status = 503
        client = LLMClient(base_url=stub.base_url, model="m", max_retries=2, backoff_s=0.01)
        with pytest.raises(LLMError, match="gave up after 3 attempts; last error: HTTP 503"):
            client.chat([{"role": "user", "content": "x"}])
        assert stub.requests == 3 and client.usage.failures == 1
        stub.fail_status = 400  # a client error is not retried
        with pytest.raises(LLMError, match="HTTP 400"):
            client.chat([{"role": "user", "content": "y"}])
        assert stub.requests == 4


def test_rate_limiter_spaces_requests():
    lim = RateLimiter(rpm=1200)  # 20/s with a one-second burst
    t = time.monotonic()
    for _ in range(30):
        lim.acquire()
    assert 0.4 <= time.monotonic() - t < 2.0  # 20 from the burst, 10 more at 20/s


def test_api_key_read_from_env_never_written(data, monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-1234"
    monkeypatch.setenv("LAMM_API_KEY", secret)
    with ChatStub() as stub:
        assert _build(_recipe(data, stub.base_url), data / "out") == 0
    for p in (data / "out").rglob("*"):
        if p.is_file():
            assert secret not in p.read_text("utf-8", errors="replace"), p


def test_faults_interrupt_resume_identical(data):
    # 1) uninterrupted build against a faulty server
    with ChatStub(faults=True, stall_s=1.5) as stub:
        assert (
            _build(_recipe(data, stub.base_url), data / "full", "--cache-dir", str(data / "cache_full")) == 0
        )
        baseline_keys = dict(stub.served_ok)
        baseline_requests = stub.requests
    man = json.loads((data / "full" / "manifest.json").read_text())
    assert man["counts"]["jobs"] == N_LLM + N_C4
    rejects = [json.loads(line) for line in (data / "full" / "rejects.jsonl").read_text().splitlines()]
    # nothing lost: every job is either a sample or a reported reject with its reasons
    assert man["counts"]["accepted"] + man["rejects"]["final"] == N_LLM + N_C4
    assert all(r["final"] and r["reasons"] for r in rejects)
    assert man["rejects"]["api_failures_pending"] == 0
    u = man["llm_usage"]
    assert u["retries"] >= 1 and u["failures"] == 0 and u["cache_hits"] == 0
    assert (
        sum(man["rejects"]["retried_then_accepted"].values()) + len(rejects) >= 1
    )  # off-format replies seen
    assert man["generator"]["prompt_versions"]["daily_dialogue"]["version"] == "c1-v1"

    # 2) the same build, interrupted with SIGINT in the LLM phase, then resumed
    with ChatStub(faults=True, stall_s=1.5, latency=0.1) as stub:
        recipe = _recipe(data, stub.base_url, concurrency=2)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "lamm.cli", "data", "build", str(recipe), "--out", str(data / "part"),
               "--cache-dir", str(data / "cache_part"), "--no-progress"]  # fmt: skip
        # SIGINT back to default in the child: a shell that runs the suite in the background (e.g. `cmd &`)
        # leaves it ignored, and Python then never raises KeyboardInterrupt
        proc = subprocess.Popen(
            cmd, env=env, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        lines, rejected = data / "part" / "samples.jsonl", data / "part" / "rejects.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            # progress = jobs finished either way (a faulty reply can end as a reported reject)
            n = sum(len(f.read_text().splitlines()) for f in (lines, rejected) if f.exists())
            if n >= N_C4 + 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the build finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        served_before = dict(stub.served_ok)
        assert "rerun to resume" in err
        done_before = len(lines.read_text().splitlines())
        assert done_before < N_LLM + N_C4  # really interrupted
        assert _build(recipe, data / "part", "--cache-dir", str(data / "cache_part")) == 2  # needs --resume
        assert _build(recipe, data / "part", "--cache-dir", str(data / "cache_part"), "--resume") == 0
        # resuming repeated no call that had been answered, and made exactly the clean build's calls
        assert served_before and all(stub.served_ok[k] == v for k, v in served_before.items())
        assert set(stub.served_ok) == set(baseline_keys)
    assert _meta(data / "part") == _meta(data / "full")
    assert (data / "part" / "rejects.jsonl").exists()

    # 3) a rerun into a fresh folder with the first cache costs nothing and writes the same files
    with ChatStub(faults=True) as stub:
        assert (
            _build(_recipe(data, stub.base_url), data / "again", "--cache-dir", str(data / "cache_full")) == 0
        )
        assert stub.requests == 0
    man = json.loads((data / "again" / "manifest.json").read_text())
    assert man["llm_usage"]["cache_hits"] >= N_LLM and man["llm_usage"]["requests"] == 0
    assert _meta(data / "again") == _meta(data / "full")
    assert baseline_requests > len(baseline_keys)  # the faults really forced retries


def test_outage_is_reported_then_resumed(data, capsys):
    with ChatStub() as stub:
        stub.fail_status = 500
        recipe = _recipe(data, stub.base_url, max_retries=1)
        assert _build(recipe, data / "out") == 1
        man = json.loads((data / "out" / "manifest.json").read_text())
        assert man["rejects"]["api_failures_pending"] == N_LLM and man["counts"]["accepted"] == N_C4
        rej = [json.loads(x) for x in (data / "out" / "rejects.jsonl").read_text().splitlines()]
        assert {r["reasons"][-1] for r in rej} == {"api: gave up after 2 attempts; last error: HTTP 500"}
        assert "rerun with --resume" in capsys.readouterr().err
        stub.fail_status = None
        assert _build(recipe, data / "out", "--resume") == 0
        man = json.loads((data / "out" / "manifest.json").read_text())
        assert man["rejects"]["api_failures_pending"] == 0 and man["counts"]["jobs"] == N_LLM + N_C4
        assert man["counts"]["accepted"] == N_LLM + N_C4  # faults off: everything accepted


def test_a_dead_server_is_announced_once_while_retrying(capsys):
    """Retries against a closed port print one line naming the server and the cause, then give up."""
    client = LLMClient(base_url="http://127.0.0.1:9/v1", model="m", max_retries=3, backoff_s=0.01)
    for _ in range(2):
        with pytest.raises(LLMError, match="gave up after 4 attempts"):
            client.chat([{"role": "user", "content": "hi"}])
    err = capsys.readouterr().err
    assert err.count("retrying with backoff") == 1
    assert "http://127.0.0.1:9/v1: connection error" in err
