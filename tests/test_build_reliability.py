"""`lamm data build` through the CLI: one writer per folder, no non-finite ground truth in training text,
media checked, the API key variable never taken from a recipe, resume after a server moved, no stale
rejects, single-flight LLM calls, C2 dialogues that differ per image. (issues 17.1, 17.4, 17.5, 17.7, 17.10)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from build_fixtures import _img, bamboo, coco, fsc147, scannet, voc, write_recipe
from servers.chat_stub import ChatStub

import lamm
from lamm.cli import main

REPO = Path(lamm.__file__).resolve().parents[1]  # the lamm under test


def _build(recipe: Path, out: Path, *extra: str) -> int:
    return main(["data", "build", str(recipe), "--out", str(out), "--no-progress", *extra])


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _llm_recipe(root: Path, url: str, sources: str, **gen) -> Path:
    g = {"type": "llm", "model": "stub-model", "base_url": url, "concurrency": 2, "timeout_s": 5,
         "backoff_s": 0.01, "max_retries": 1, "format_retries": 0, **gen}  # fmt: skip
    return write_recipe(root / "recipe.yaml", generator=json.dumps(g), sources=sources)


COCO_C1 = """
  - {name: coco, type: coco, root: coco, captions: annotations/captions.json, instances: annotations/instances.json,
     produce: {C1: all, C3: all}}
"""
VOC_C4 = """
  - {name: voc, type: voc, root: voc, produce: {C1: all, vision_task: {detection: all, locating: all}}}
"""


def test_concurrent_builds_into_one_folder(tmp_path):
    """17.1: a second build (even --resume) into a folder another build is writing is refused; the
    first build's samples.jsonl holds each job once."""
    coco(tmp_path)
    with ChatStub() as stub:
        stub.gate.clear()  # the first build waits on its replies until the second was turned away
        recipe = _llm_recipe(tmp_path, stub.base_url, COCO_C1)
        out = tmp_path / "out"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [
            sys.executable,
            "-m",
            "lamm.cli",
            "data",
            "build",
            str(recipe),
            "--out",
            str(out),
            "--no-progress",
        ]
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = out / ".lamm.lock"
        deadline = time.time() + 60
        while time.time() < deadline and not (lock.is_file() and f'"pid": {first.pid}' in lock.read_text()):
            time.sleep(0.05)
        second = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
        still_running = first.poll() is None
        stub.gate.set()
        _, err = first.communicate(timeout=120)
    assert still_running and first.returncode == 0, err
    assert second.returncode == 2 and "another process is writing here" in second.stderr, second.stderr
    keys = [r["key"] for r in _rows(out / "samples.jsonl")]
    assert len(keys) == len(set(keys)) == json.loads((out / "manifest.json").read_text())["counts"]["jobs"]


def test_non_finite_ground_truth_is_rejected_with_a_reason(tmp_path, capsys):
    """17.4: a NaN or inf box coordinate never reaches training text; its jobs are rejects naming it."""
    voc(tmp_path)
    xml = tmp_path / "voc" / "Annotations" / "2008_000001.xml"
    xml.write_text(xml.read_text().replace("<xmin>20</xmin>", "<xmin>nan</xmin>", 1))
    xml2 = tmp_path / "voc" / "Annotations" / "2008_000002.xml"
    xml2.write_text(xml2.read_text().replace("<xmax>50</xmax>", "<xmax>inf</xmax>", 1))
    recipe = write_recipe(tmp_path / "recipe.yaml", sources=VOC_C4)
    assert _build(recipe, tmp_path / "out") == 0
    out = tmp_path / "out"
    rejects = _rows(out / "rejects.jsonl")
    assert {r["id"] for r in rejects} == {"2008_000001", "2008_000002"} and len(rejects) == 6  # 3 jobs each
    assert all(
        r["reasons"][0].startswith("annotation: non-finite number: annotation.objects[0].bbox")
        for r in rejects
    )
    text = "".join(p.read_text() for p in (out / "meta_file").glob("*.json"))
    assert "nan" not in text.lower() and "inf" not in text.lower()
    man = json.loads((out / "manifest.json").read_text())
    assert man["rejects"]["final"] == 6 and man["rejects"]["by_reason"] == {"annotation": 6}
    assert "6 rejected" in capsys.readouterr().out


def test_media_is_checked_and_a_string_bbox_is_named(tmp_path, capsys):
    """17.5: missing, zero-byte and truncated source images are rejects with reasons (exit 0, counted);
    --on-error raise stops naming the file; a bbox given as a string is a clear error, not a ValueError."""
    coco(tmp_path)
    images = tmp_path / "coco" / "images"
    (images / "000000000001.jpg").unlink()
    (images / "000000000002.jpg").write_bytes(b"")
    third = images / "000000000003.jpg"
    third.write_bytes(third.read_bytes()[:200])
    recipe = write_recipe(tmp_path / "recipe.yaml", sources=COCO_C1)
    assert _build(recipe, tmp_path / "out") == 0
    rejects = {r["id"]: r["reasons"][0] for r in _rows(tmp_path / "out" / "rejects.jsonl")}
    assert rejects.keys() == {"000000000001", "000000000002", "000000000003"}
    assert "image file not found" in rejects["000000000001"]
    assert "0 bytes" in rejects["000000000002"]
    assert "unreadable or truncated image" in rejects["000000000003"]
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert man["rejects"]["final"] == 3 and man["counts"]["kept"] == 0
    assert "3 rejected" in capsys.readouterr().out
    assert _build(recipe, tmp_path / "out2", "--on-error", "raise") == 2
    err = capsys.readouterr().err
    assert "000000000001.jpg" in err and "image file not found" in err
    _img(images / "000000000001.jpg", 100, 50)
    inst = tmp_path / "coco" / "annotations" / "instances.json"
    data = json.loads(inst.read_text())
    data["annotations"][0]["bbox"] = "10, 5, 20, 15"
    inst.write_text(json.dumps(data))
    assert _build(recipe, tmp_path / "out3") == 2
    err = capsys.readouterr().err
    assert "instances.json" in err and "bbox must be [x, y, w, h] numbers" in err


def test_recipe_cannot_choose_the_api_key_variable(tmp_path, capsys, monkeypatch):
    """17.7: `generator.api_key_env` in a recipe is refused; --api-key-env names the variable."""
    coco(tmp_path)
    monkeypatch.setenv("UNRELATED_SECRET", "sk-unrelated-0000")
    recipe = _llm_recipe(tmp_path, "http://127.0.0.1:9/v1", COCO_C1, api_key_env="UNRELATED_SECRET")
    assert _build(recipe, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "generator.api_key_env: a recipe cannot choose" in err and "--api-key-env" in err
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("MY_KEY", "sk-mine")
    with ChatStub() as stub:
        recipe = _llm_recipe(tmp_path, stub.base_url, COCO_C1)
        assert _build(recipe, tmp_path / "out", "--api-key-env", "MY_KEY") == 0


def test_recipe_cannot_send_the_key_off_this_machine(tmp_path, capsys, monkeypatch):
    """A recipe's generator.base_url on another host gets no API key unless --base-url repeats it;
    a loopback server and a build without any key set are not held up."""
    coco(tmp_path)
    remote = "http://203.0.113.7:9/v1"  # TEST-NET-3: never routed
    recipe = _llm_recipe(tmp_path, remote, COCO_C1)
    monkeypatch.setenv("LAMM_API_KEY", "sk-secret-123456789")
    assert _build(recipe, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "203.0.113.7" in err and "--base-url" in err and "sk-secret" not in err
    assert not (tmp_path / "out").exists()
    with ChatStub() as stub:
        assert _build(_llm_recipe(tmp_path, stub.base_url, COCO_C1), tmp_path / "out") == 0
        assert stub.auth_seen == {"Bearer sk-secret-123456789"}


def test_resume_after_the_server_moved(tmp_path, capsys):
    """17.10: a resume against a restarted server (only --base-url changed) is allowed and finishes the
    build; another --model is refused, naming it."""
    coco(tmp_path)
    with ChatStub() as down:
        down.fail_status = 500
        recipe = _llm_recipe(tmp_path, down.base_url, COCO_C1)
        assert _build(recipe, tmp_path / "out") == 1
    with ChatStub() as up:
        assert (
            _build(recipe, tmp_path / "out", "--resume", "--model", "other-model", "--base-url", up.base_url)
            == 2
        )
        assert "generator.model: 'stub-model' -> 'other-model'" in capsys.readouterr().err
        assert _build(recipe, tmp_path / "out", "--resume", "--base-url", up.base_url) == 0
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert man["rejects"]["api_failures_pending"] == 0 and man["counts"]["accepted"] == 6


def test_no_stale_rejects_after_a_successful_resume(tmp_path):
    """17.10: after a resume retried every failed job, rejects.jsonl holds exactly the manifest's open
    rejects (none), not the rows of jobs since accepted."""
    coco(tmp_path)
    with ChatStub() as stub:
        stub.fail_status = 500
        recipe = _llm_recipe(tmp_path, stub.base_url, COCO_C1)
        assert _build(recipe, tmp_path / "out") == 1
        assert len(_rows(tmp_path / "out" / "rejects.jsonl")) == 6
        stub.fail_status = None
        assert _build(recipe, tmp_path / "out", "--resume") == 0
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert man["rejects"]["final"] == 0 and man["rejects"]["api_failures_pending"] == 0
    assert _rows(tmp_path / "out" / "rejects.jsonl") == []


def test_identical_concurrent_prompts_make_one_call(tmp_path):
    """17.10: the LLM client (build, judge, openai: adapter) sends one request per cache key even when
    identical prompts are in flight together; the others are cache hits."""
    from lamm.llm_client import LLMClient

    with ChatStub(latency=0.3) as stub:
        client = LLMClient(
            base_url=stub.base_url, model="stub-model", concurrency=4, cache_dir=tmp_path / "cache"
        )
        messages = [{"role": "user", "content": "Describe the image."}]
        replies = client.chat_many([messages] * 4, seed=1)
        served = sum(stub.served_ok.values())
    assert len({r.text for r in replies}) == 1 and served == 1
    assert client.usage.requests == 1 and client.usage.cache_hits == 3


def test_c2_dialogue_differs_per_image(tmp_path):
    """17.10: images of one class get different C2 (factual knowledge) dialogues."""
    bamboo(tmp_path)
    for i in range(2, 6):
        _img(tmp_path / "bamboo" / "images" / "snowy_owl" / f"snowy_owl_{i}.jpg", 32, 32, 40 + i)
    sources = "\n  - {name: bamboo, type: imagefolder, root: bamboo, knowledge: knowledge.json, produce: {C2: all}}\n"
    recipe = write_recipe(tmp_path / "recipe.yaml", sources=sources, extra="postprocess: {dedup: false}")
    assert _build(recipe, tmp_path / "out") == 0
    recs = json.loads((tmp_path / "out" / "meta_file" / "factual_knowledge_dialogue.json").read_text())
    owls = [r for r in recs if r["id"].startswith("snowy_owl")]
    assert len(owls) == 6
    dialogues = {json.dumps(r["conversations"]) for r in owls}
    answers = {r["conversations"][3]["value"] for r in owls}
    assert len(dialogues) == 6 and len(answers) >= 2, dialogues
    with ChatStub() as stub:  # the LLM generator: one prompt per class, so the request seed is per image
        g = {"type": "llm", "model": "stub-model", "base_url": stub.base_url, "format_retries": 0}
        recipe = write_recipe(tmp_path / "llm.yaml", generator=json.dumps(g), sources=sources,
                              extra="postprocess: {dedup: false}")  # fmt: skip
        assert _build(recipe, tmp_path / "llm") == 0
    recs = json.loads((tmp_path / "llm" / "meta_file" / "factual_knowledge_dialogue.json").read_text())
    owls = [json.dumps(r["conversations"]) for r in recs if r["id"].startswith("snowy_owl")]
    assert len(owls) == 6 and len(set(owls)) == 6


def test_c4_refuses_non_finite_annotations():
    """17.4: lamm.data.c4 (also used outside the build) refuses a NaN box instead of writing 'nan'."""
    import random

    import pytest

    from lamm.data.c4 import c4_conversation

    ann = {"objects": [{"label": "cat", "bbox": [float("nan"), 0.04, 0.5, 0.12]}]}
    with pytest.raises(ValueError, match=r"non-finite number: annotation.objects\[0\].bbox\[0\] is nan"):
        c4_conversation("detection", ann, random.Random(0))
    ann["objects"][0]["bbox"][0] = 0.1
    assert "0.1" in c4_conversation("detection", ann, random.Random(0))[1]["value"]


def test_non_finite_3d_box_and_text_point(tmp_path, capsys):
    """17.4/17.5: a NaN 3D box (scene3d) rejects that scene's jobs with the field named; an FSC147 point
    given as text is an error naming the source, not a raw ValueError."""
    scannet(tmp_path)
    scene = tmp_path / "scannet" / "scenes" / "scene0000_00.json"
    data = json.loads(scene.read_text())
    data["objects"][1]["bbox"][2] = float("nan")
    scene.write_text(json.dumps(data))  # json writes NaN, as a careless converter would
    sources = (
        "\n  - {name: scannet, type: scene3d, root: scannet, produce: {vision_task: {detection3d: all}}}\n"
    )
    assert _build(write_recipe(tmp_path / "r3d.yaml", sources=sources), tmp_path / "out3d") == 0
    rejects = _rows(tmp_path / "out3d" / "rejects.jsonl")
    assert [r["id"] for r in rejects] == ["scene0000_00"]
    assert rejects[0]["reasons"] == ["annotation: non-finite number: annotation.objects[1].bbox[2] is nan"]
    recs = json.loads((tmp_path / "out3d" / "meta_file" / "LAMM_3dinstruct.json").read_text())
    assert [r["id"] for r in recs] == ["scene0001_00"] and "nan" not in json.dumps(recs).lower()
    fsc147(tmp_path)
    ann = tmp_path / "fsc147" / "annotation_FSC147_384.json"
    data = json.loads(ann.read_text())
    data["2.jpg"]["points"][1] = "50,25"
    ann.write_text(json.dumps(data))
    sources = "\n  - {name: fsc, type: fsc147, root: fsc147, produce: {vision_task: {counting: all}}}\n"
    capsys.readouterr()
    assert _build(write_recipe(tmp_path / "rfsc.yaml", sources=sources), tmp_path / "outfsc") == 2
    err = capsys.readouterr().err
    assert "source 'fsc' (fsc147): malformed annotation" in err and "Traceback" not in err, err


def test_binary_recipe_is_one_error_line(tmp_path, capsys):
    """A recipe that is not text was a raw UnicodeDecodeError traceback."""
    (tmp_path / "r.yaml").write_bytes(b"\xa4\xff\x00recipe")
    assert main(["data", "build", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"lamm: error: {tmp_path / 'r.yaml'}: cannot read the recipe (UnicodeDecodeError)"
    assert not (tmp_path / "out").exists()


def test_resume_refuses_source_annotations_that_changed(tmp_path, capsys):
    """A resume once kept the samples made from the old annotation silently (resumed != a fresh build)."""
    voc(tmp_path)
    recipe = write_recipe(tmp_path / "recipe.yaml", sources=VOC_C4)
    out = tmp_path / "out"
    assert _build(recipe, out) == 0
    assert _build(recipe, out, "--resume") == 0  # unchanged sources resume
    xml = tmp_path / "voc" / "Annotations" / "2008_000001.xml"
    xml.write_text(xml.read_text().replace("<xmin>20</xmin>", "<xmin>5</xmin>", 1))
    capsys.readouterr()
    assert _build(recipe, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "source files changed since the build in this folder: voc: voc/Annotations/2008_000001.xml" in err


def test_out_of_range_speed_options_are_refused(tmp_path, capsys):
    """``--concurrency 0`` was a raw ValueError traceback (max_workers must be greater than 0)."""
    recipe = write_recipe(tmp_path / "recipe.yaml", sources=VOC_C4)
    for flag, value, msg in (("--concurrency", "0", "--concurrency must be >= 1, got 0"),
                             ("--rpm", "-5", "--rpm must be >= 0, got -5")):  # fmt: skip
        assert _build(recipe, tmp_path / "out", flag, value) == 2
        assert capsys.readouterr().err.strip() == f"lamm data build: {msg}"
    assert not (tmp_path / "out").exists()


def test_resume_after_a_torn_sample_line_keeps_the_file_readable(tmp_path):
    """A build killed mid-record leaves half a line in samples.jsonl; the resume redoes that job and
    appends after cutting the torn tail (the writer is lamm.formats.JsonlAppender), never onto it."""
    voc(tmp_path)
    recipe = write_recipe(tmp_path / "recipe.yaml", sources=VOC_C4)
    assert _build(recipe, tmp_path / "out") == 0
    samples = tmp_path / "out" / "samples.jsonl"
    lines = samples.read_text("utf-8").splitlines(keepends=True)
    samples.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], "utf-8")
    assert _build(recipe, tmp_path / "out", "--resume") == 0
    rows = [json.loads(x) for x in samples.read_text("utf-8").splitlines()]
    assert sorted(r["key"] for r in rows) == sorted(json.loads(x)["key"] for x in lines)
