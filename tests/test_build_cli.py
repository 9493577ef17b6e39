"""``lamm data build`` end to end on fixtures of every source format: valid official files, manifest,
determinism, --limit, resume of a finished build, and a few training steps on the result."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from build_fixtures import make_all, write_recipe

from lamm.cli import main
from lamm.formats import read_instruct, write_instruct
from lamm.formats.paths import resolve_media

ROOT = Path(__file__).resolve().parents[1]
TASK_TYPES_2D = {"conversation", "commomsenseqa", "description", "classification", "detection", "VQA",
                 "counting", "keypoint_detection"}  # fmt: skip
TASK_TYPES_3D = {"conversation3d", "commomsenseqa3d", "description3d", "classification3d", "detection3d",
                 "visual_grounding3d", "VQA3d"}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    data = make_all(tmp_path_factory.mktemp("data"))
    recipe = write_recipe(data / "recipe.yaml", extra="postprocess: {val_ratio: 0.2}")
    assert main(["data", "build", str(recipe), "--out", str(data / "out"), "--no-progress"]) == 0
    return data, data / "out"


def test_outputs_are_valid_official_files(built, capsys):
    data, out = built
    meta = out / "meta_file"
    names = {p.name for p in meta.glob("*.json")}
    assert names >= {"daily_dialogue.json", "factual_knowledge_dialogue.json", "detailed_description.json",
                     "vision_task_dialogue.json", "LAMM_instruct.json", "LAMM_instruct_val.json",
                     "LAMM_3dinstruct.json"}  # fmt: skip
    types2d, types3d = set(), set()
    for p in meta.glob("*.json"):
        for s in read_instruct(p):
            resolve_media(data, s.media)  # inside the data root
            assert (data / s.media).is_file(), s.media
            (types2d if s.media_key == "image" else types3d).add(s.task_type)
            if s.media_key == "image":
                assert s.conversations[0]["value"].startswith("<image>\n") and "src_image" in s.extra
            else:
                assert "src_dataset" in s.extra and "src_id" in s.extra
    assert types2d == TASK_TYPES_2D and types3d == TASK_TYPES_3D
    for name in ("LAMM_instruct.json", "LAMM_3dinstruct.json"):
        assert main(["data", "validate", str(meta / name), "--root", str(data)]) == 0, capsys.readouterr()
    c1 = read_instruct(meta / "daily_dialogue.json")
    assert {s.task_type for s in c1} == {"conversation"}
    c4 = json.loads((meta / "vision_task_dialogue.json").read_text())
    det = [r for r in c4 if r["task_type"] == "detection" and r["id"] == "2008_000001"]
    if det:  # may have been held out for val
        assert "car [0.10, 0.10, 0.60, 0.60]" in det[0]["conversations"][1]["value"]


def test_manifest_records_sources_counts_and_split(built):
    data, out = built
    man = json.loads((out / "manifest.json").read_text())
    coco = next(s for s in man["sources"] if s["name"] == "coco")
    cap = next(f for f in coco["files"] if f["path"] == "coco/annotations/captions.json")
    assert cap["sha256"] == hashlib.sha256((data / "coco/annotations/captions.json").read_bytes()).hexdigest()
    assert man["generator"]["type"] == "template" and "offline templates" in man["generator"]["note"]
    c = man["counts"]
    assert c["jobs"] == c["accepted"] == c["kept"] == c["train"] + c["val"] > 50 and c["val"] > 0
    assert sum(c["by_task_type"].values()) == c["kept"]
    assert (
        man["files"]["meta_file/LAMM_instruct.json"] + man["files"]["meta_file/LAMM_3dinstruct.json"]
        == c["train"]
    )
    # the split is by media: no image in both train and val
    train = {r["image"] for r in json.loads((out / "meta_file/LAMM_instruct.json").read_text())}
    val = {r["image"] for r in json.loads((out / "meta_file/LAMM_instruct_val.json").read_text())}
    assert train and val and not train & val
    assert man["seed"] == 7 and man["rejects"]["final"] == 0


def test_deterministic_limit_and_resume(built, tmp_path):
    data, out = built
    recipe = data / "recipe.yaml"
    again = tmp_path / "again"
    assert main(["data", "build", str(recipe), "--out", str(again), "--no-progress"]) == 0
    for p in (out / "meta_file").glob("*.json"):
        assert p.read_bytes() == (again / "meta_file" / p.name).read_bytes(), p.name
    # resuming a finished build does nothing new and rewrites the same files
    before = (again / "samples.jsonl").read_bytes()
    assert main(["data", "build", str(recipe), "--out", str(again), "--resume", "--no-progress"]) == 0
    assert (again / "samples.jsonl").read_bytes() == before
    # a different --limit is a different build: refused in the same folder
    assert main(["data", "build", str(recipe), "--out", str(again), "--resume", "--limit", "1"]) == 2
    small = tmp_path / "small"
    assert main(["data", "build", str(recipe), "--out", str(small), "--limit", "1", "--no-progress"]) == 0
    man = json.loads((small / "manifest.json").read_text())
    assert all(s["items"] == 1 for s in man["sources"])
    assert man["counts"]["jobs"] < json.loads((out / "manifest.json").read_text())["counts"]["jobs"]


def test_example_fixture_recipe_builds(tmp_path):
    recipe = ROOT / "examples/recipes/fixture.yaml"
    assert main(["data", "build", str(recipe), "--out", str(tmp_path / "ex"), "--no-progress"]) == 0
    assert read_instruct(tmp_path / "ex/meta_file/LAMM_instruct.json")


def test_trains_a_few_steps_with_the_tiny_preset(built, tmp_path):
    data, out = built
    # v1 training system messages have no 'keypoint_detection' (a ChEF-era task_type): leave those out
    samples = [
        s for s in read_instruct(out / "meta_file/LAMM_instruct.json") if s.task_type != "keypoint_detection"
    ]
    write_instruct(tmp_path / "train.json", samples)
    files = json.dumps([{"path": str(tmp_path / "train.json"), "root": str(data)}])
    # user data: no LAMM-Mini tower corpus, a short tower pre-training on the data itself
    rc = main(["train", "--preset", "tiny", f"data.files={files}", "data.num_workers=0",
               "tiny.encoder_pretrain_files=[]", "tiny.encoder_pretrain_steps=5",
               "train.global_batch_size=8", "train.micro_batch_size=8",
               "--max-steps", "1", "--out", str(tmp_path / "run"), "--quiet"])  # fmt: skip
    assert rc == 0
    assert any((tmp_path / "run").rglob("*.safetensors"))


def test_postprocess_filters_dedups_and_splits():
    from lamm.data.construct.postprocess import is_language, postprocess
    from lamm.data.construct.recipe import PostSpec

    def rec(media: str, answer: str) -> dict:
        return {"id": media, "image": media, "task_type": "conversation",
                "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": answer}]}  # fmt: skip

    recs = [rec("a.jpg", "A dog."), rec("a.jpg", "a  DOG."), rec("b.jpg", "这是一只狗。"), rec("c.jpg", "x" * 50),
            rec("d.jpg", "")] + [rec(f"m{i}.jpg", f"Sample {i}.") for i in range(200)]  # fmt: skip
    train, val, report = postprocess(recs, PostSpec(max_chars=40, val_ratio=0.25), seed=3)
    assert report["dropped"] == {"duplicate": 1, "language": 1, "too_long": 1, "too_short": 1}
    assert len(train) + len(val) == 201 and 30 <= len(val) <= 75  # ~25 % of media held out
    assert not {r["image"] for r in train} & {r["image"] for r in val}
    again = postprocess(recs, PostSpec(max_chars=40, val_ratio=0.25), seed=3)
    assert again[0] == train and again[1] == val  # deterministic
    assert is_language("Déjà vu, café.", "en") and not is_language("Привет, как дела?", "en")
