"""Source adapters read every supported annotation format into neutral items with normalised coordinates."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from build_fixtures import make_all, write_recipe

from lamm.data.construct.context import build_context
from lamm.data.construct.recipe import SourceSpec, load_recipe
from lamm.data.construct.sources import load_source
from lamm.data.construct.tasks import task_ann
from lamm.formats.errors import FormatError


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return make_all(tmp_path_factory.mktemp("src"))


def _load(root: Path, type_: str, sub: str, **opts):
    items, files = load_source(SourceSpec(type_, type_, root / sub, {}, opts), root)
    return {it.id: it for it in items}, files


def test_coco_captions_and_boxes(root):
    items, files = _load(
        root, "coco", "coco", captions="annotations/captions.json", instances="annotations/instances.json"
    )
    it = items["000000000001"]
    assert it.media == "coco/images/000000000001.jpg" and it.dim == "2d" and it.src == "coco2017"
    # 100x50 image: cat [10,5,20,15] xywh -> [0.1, 0.1, 0.3, 0.4]; person [60,0,40,50] -> [0.6, 0, 1, 1]
    assert it.ann["objects"] == [
        {"label": "cat", "bbox": [0.1, 0.1, 0.3, 0.4]},
        {"label": "person", "bbox": [0.6, 0.0, 1.0, 1.0]},
    ]
    assert it.ann["captions"][0] == "A cat sits next to a person on a sofa."  # whitespace collapsed
    assert len(files) == 2
    assert task_ann("counting", items["000000000002"].ann, "2d", random.Random(0)) == {
        "label": "dog",
        "count": 2,
    }
    assert task_ann("locating", it.ann, "2d", random.Random(0))["objects"][0] == {
        "label": "cat",
        "point": [0.2, 0.25],
    }


def test_voc_xml(root):
    items, _ = _load(root, "voc", "voc")
    assert items["2008_000001"].ann["objects"] == [
        {"label": "car", "bbox": [0.1, 0.1, 0.6, 0.6]},
        {"label": "person", "bbox": [0.75, 0.0, 1.0, 1.0]},
    ]
    assert items["2008_000002"].media == "voc/JPEGImages/2008_000002.jpg"


def test_imagefolder_with_knowledge_and_csv(root, tmp_path):
    items, files = _load(root, "imagefolder", "bamboo", knowledge="knowledge.json")
    it = items["snowy_owl_snowy_owl_0"]
    assert it.ann["label"] == "snowy owl" and it.ann["knowledge"].startswith("The snowy owl is")
    assert it.media == "bamboo/images/snowy_owl/snowy_owl_0.jpg" and it.src == "bamboo"
    assert len(items) == 4
    (root / "bamboo" / "labels.csv").write_text("path,label\nsnowy_owl/snowy_owl_1.jpg,owl\n")
    items, files = _load(root, "imagefolder", "bamboo", csv="labels.csv")
    assert [(i.ann["label"], i.media) for i in items.values()] == [
        ("owl", "bamboo/images/snowy_owl/snowy_owl_1.jpg")
    ]


def test_fsc147_points_and_locount_boxes(root):
    items, _ = _load(root, "fsc147", "fsc147")
    a = items["2"].ann  # 100x50 image, points (10,10) (50,25) (90,40)
    assert a["count"] == {"label": "apples", "count": 3}
    assert [p["point"] for p in a["points"]] == [[0.1, 0.2], [0.5, 0.5], [0.9, 0.8]]
    items, _ = _load(root, "locount", "locount")
    a = items["shelf_1"].ann
    assert a["count"] == {"label": "bottle", "count": 5} and a["counts"] == {"bottle": 5, "can": 4}
    assert a["objects"][2] == {"label": "can", "bbox": [0.0, 0.5, 0.5, 1.0]}


def test_textvqa_ocr_tokens(root):
    items, files = _load(root, "textvqa", "textvqa", ocr="ocr.json", questions="questions.json")
    a = items["abc123"].ann
    assert a["words"] == ["STOP", "Main", "St"]  # duplicates dropped, order kept
    assert a["qa"] == [{"question": "What does the sign say?", "answer": "stop"}]
    assert items["def456"].media == "textvqa/train_images/def456.jpg" and len(files) == 2


def test_lsp_mat_and_coco_keypoints(root):
    items, _ = _load(root, "lsp", "lsp")
    j = items["im0001"].ann["joints"]  # 100x200 image; joint k at (10 + 5k, 20 + 10k)
    assert list(j)[0] == "right ankle" and j["right ankle"] == [0.1, 0.1] and j["head top"] == [0.75, 0.75]
    assert items["im0002"].ann["joints"]["neck"] == [0.5, 0.5]
    items, _ = _load(root, "coco_keypoints", "coco_kp", annotations="person_keypoints.json")
    # the person with more labelled joints wins; v=0 joints are dropped
    assert items["000000000009"].ann["joints"] == {
        "nose": [0.3, 0.4],
        "left eye": [0.25, 0.35],
        "right eye": [0.35, 0.35],
    }


def test_celeba_attributes(root):
    items, _ = _load(root, "celeba", "celeba")
    assert items["000001"].ann == {"attributes": ["black hair", "smiling"], "smile": True, "hair": "black"}
    assert items["000002"].ann["smile"] is False and items["000002"].ann["hair"] == "blond"


def test_scene3d_json_and_npy(root):
    items, files = _load(root, "scene3d", "scannet")
    a = items["scene0000_00"].ann
    assert a["objects"][1] == {"label": "table", "bbox": [1.5, 2.0, 0.4, 1.2, 0.8, 0.8]}
    assert a["referring"] == [
        {"expression": "the chair next to the table.", "bbox": [1.0, 2.0, 0.5, 0.6, 0.6, 1.0]}
    ]
    b = items["scene0001_00"]
    assert b.ann["objects"] == [{"label": "bed", "bbox": [0.0, 0.0, 1.0, 2.0, 1.5, 0.5]}]
    assert b.media == "scannet/points/scene0001_00_vert.npy" and b.dim == "3d"
    assert "[center x, center y, center z, length, width, height] in metres" in build_context(
        items["scene0000_00"]
    )


def test_shapenet_labels(root):
    items, _ = _load(root, "shapenet", "shapenet", labels="labels.json", knowledge="knowledge.json")
    assert items["03001627_abc_4096"].ann["label"] == "chair"  # built-in synset name
    assert items["03001627_abc_4096"].ann["src_id"] == "03001627_abc"
    assert items["99999999_xyz_4096"].ann == {"label": "teapot", "src_id": "99999999_xyz"}


def test_context_lists_boxes_and_relations(root):
    items, _ = _load(
        root, "coco", "coco", captions="annotations/captions.json", instances="annotations/instances.json"
    )
    ctx = build_context(items["000000000001"])
    assert "- cat: [0.1, 0.1, 0.3, 0.4]" in ctx and "- person: [0.6, 0, 1, 1]" in ctx
    assert "the cat is left of the person" in ctx and ctx.startswith("Captions:\n- A cat sits")


def test_bad_inputs_name_the_file(root, tmp_path):
    bad = tmp_path / "voc"
    (bad / "Annotations").mkdir(parents=True)
    (bad / "JPEGImages").mkdir()
    (bad / "Annotations" / "x.xml").write_text("<annotation><size><width>10</width></size></annotation>")
    with pytest.raises(FormatError, match=r"x\.xml.*missing <height>"):
        load_source(SourceSpec("voc", "voc", bad, {}, {}), tmp_path)
    np.save(tmp_path / "s_bbox.npy", np.zeros((1, 5)))
    (tmp_path / "points").mkdir()
    with pytest.raises(FormatError, match=r"s_bbox\.npy.*N x 7"):
        load_source(SourceSpec("s", "scene3d", tmp_path, {}, {"scenes": "."}), tmp_path)
    # media outside the data root are refused
    with pytest.raises(FormatError, match="outside the data root"):
        load_source(
            SourceSpec("c", "coco", root / "coco", {}, {"captions": "annotations/captions.json"}),
            root / "voc",
        )


def test_recipe_validation(root, tmp_path):
    recipe = load_recipe(write_recipe(root / "r.yaml"))
    assert [s.type for s in recipe.sources][:3] == ["coco", "voc", "imagefolder"]
    assert recipe.sources[0].produce == {"daily_dialogue": "all", "detailed_description": "all",
                                         "vision_task": {"detection": "all", "counting": "all"}}  # fmt: skip
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {type: coco, produce: {C5: 3}}\n")
    with pytest.raises(FormatError, match="unknown kind 'C5'"):
        load_recipe(bad)
    bad.write_text("sources:\n  - {type: coco, produce: {vision_task: {teleport: 3}}}\n")
    with pytest.raises(FormatError, match="unknown C4 task 'teleport'"):
        load_recipe(bad)
    bad.write_text("data_root: sub\nsources:\n  - {type: coco, root: .., produce: {C1: 2}}\n")
    with pytest.raises(FormatError, match="outside data_root"):
        load_recipe(bad)
    bad.write_text("sources:\n  - {type: coco, produce: {C1: -2}}\n")
    with pytest.raises(FormatError, match="count must be"):
        load_recipe(bad)


def test_vqa_annotations_feed_both_inference_passes() -> None:
    q = {"question": "What color is the cone?", "choices": ["red", "green"], "answer": 1}
    ann = {"vqa": [q, {"question": "no options", "choices": []}]}
    for task, dim in (("vqa", "2d"), ("vqa_answer", "2d"), ("vqa3d", "3d"), ("vqa3d_answer", "3d")):
        assert task_ann(task, ann, dim, random.Random(0)) == q
    assert task_ann("vqa_answer", ann, "3d", random.Random(0)) is None  # a 2D task on a 3D item
