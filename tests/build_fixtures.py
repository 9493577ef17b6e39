"""Tiny annotation fixtures in every source format ``lamm data build`` reads, with hand-checkable values.

Image sizes are chosen so normalised coordinates are exact: e.g. COCO image 1 is 100x50 and its cat box
``[10, 5, 20, 15]`` (x, y, w, h) becomes ``[0.1, 0.1, 0.3, 0.4]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _img(path: Path, w: int, h: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a smooth seed-coloured gradient: tiny files that still decode to the right size
    base = np.random.default_rng(seed).integers(0, 200, 3)
    ramp = np.linspace(0, 55, w, dtype=np.float32)[None, :, None]
    Image.fromarray((base[None, None, :] + ramp + np.zeros((h, 1, 1))).astype(np.uint8)).save(
        path, quality=75
    )


def _json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), "utf-8")


def coco(root: Path) -> None:
    d = root / "coco"
    images = [
        {"id": 1, "file_name": "000000000001.jpg", "width": 100, "height": 50},
        {"id": 2, "file_name": "000000000002.jpg", "width": 200, "height": 100},
        {"id": 3, "file_name": "000000000003.jpg", "width": 100, "height": 100},
    ]
    for i, im in enumerate(images):
        _img(d / "images" / im["file_name"], im["width"], im["height"], i)
    cats = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]
    _json(d / "annotations/captions.json", {"images": images, "annotations": [
        {"id": 1, "image_id": 1, "caption": "A cat sits next to a  person on a sofa."},
        {"id": 2, "image_id": 1, "caption": "A person and a cat relaxing indoors."},
        {"id": 3, "image_id": 2, "caption": "Two dogs run across a green field."},
        {"id": 4, "image_id": 3, "caption": "A dog lies on the floor near a person."},
    ]})  # fmt: skip
    _json(d / "annotations/instances.json", {"images": images, "categories": cats, "annotations": [
        {"id": 1, "image_id": 1, "category_id": 17, "bbox": [10, 5, 20, 15], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [60, 0, 40, 50], "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 18, "bbox": [0, 0, 50, 50], "iscrowd": 0},
        {"id": 4, "image_id": 2, "category_id": 18, "bbox": [100, 50, 100, 50], "iscrowd": 0},
        {"id": 5, "image_id": 3, "category_id": 18, "bbox": [10, 60, 30, 30], "iscrowd": 0},
        {"id": 6, "image_id": 3, "category_id": 1, "bbox": [60, 10, 30, 80], "iscrowd": 0},
    ]})  # fmt: skip


def voc(root: Path) -> None:
    d = root / "voc"
    for n, (w, h, objs) in enumerate([(200, 100, [("car", 20, 10, 120, 60), ("person", 150, 0, 200, 100)]),
                                      (100, 100, [("bird", 0, 0, 50, 25)])]):  # fmt: skip
        stem = f"2008_00000{n + 1}"
        _img(d / "JPEGImages" / f"{stem}.jpg", w, h, 10 + n)
        xml = "".join(
            f"<object><name>{lab}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{e}</ymax>"
            "</bndbox></object>"
            for lab, a, b, c, e in objs
        )
        (d / "Annotations").mkdir(parents=True, exist_ok=True)
        (d / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{xml}</annotation>"
        )


def bamboo(root: Path) -> None:
    d = root / "bamboo"
    for c, cls in enumerate(["snowy_owl", "golden_retriever"]):
        for i in range(2):
            _img(d / "images" / cls / f"{cls}_{i}.jpg", 32, 32, 20 + 2 * c + i)
    _json(d / "knowledge.json", {
        "snowy_owl": "The snowy owl is a large white owl. It lives in the Arctic. It hunts lemmings by day.",
        "golden_retriever": "The golden retriever is a dog breed from Scotland. It was bred to retrieve "
        "shot waterfowl. It is friendly and easy to train.",
    })  # fmt: skip


def fsc147(root: Path) -> None:
    d = root / "fsc147"
    _img(d / "images_384_VarV2/2.jpg", 100, 50, 30)
    _img(d / "images_384_VarV2/3.jpg", 40, 40, 31)
    _json(d / "annotation_FSC147_384.json", {
        "2.jpg": {"points": [[10, 10], [50, 25], [90, 40]], "box_examples_coordinates": []},
        "3.jpg": {"points": [[20, 20]], "box_examples_coordinates": []},
    })  # fmt: skip
    (d / "ImageClasses_FSC147.txt").write_text("2.jpg\tapples\n3.jpg\tsea shells\n")


def locount(root: Path) -> None:
    d = root / "locount"
    _img(d / "images/shelf_1.jpg", 100, 100, 40)
    (d / "annotations").mkdir(parents=True, exist_ok=True)
    (d / "annotations/shelf_1.txt").write_text(
        "0,0,50,50,bottle,3\n50,50,100,100,bottle,2\n0,50,50,100,can,4\n"
    )


def textvqa(root: Path) -> None:
    d = root / "textvqa"
    _img(d / "train_images/abc123.jpg", 64, 48, 50)
    _img(d / "train_images/def456.jpg", 64, 48, 51)
    _json(d / "ocr.json", {"data": [{"image_id": "abc123", "ocr_tokens": ["STOP", "Main", "St", "STOP"]},
                                    {"image_id": "def456", "ocr_tokens": ["OPEN"]}]})  # fmt: skip
    _json(d / "questions.json", {"data": [{"image_id": "abc123", "question": "What does the sign say?",
                                           "answers": ["stop"] * 8 + ["stop sign"] * 2}]})  # fmt: skip


def lsp(root: Path) -> None:
    import scipy.io

    d = root / "lsp"
    _img(d / "images/im0001.jpg", 100, 200, 60)
    _img(d / "images/im0002.jpg", 50, 50, 61)
    joints = np.zeros((3, 14, 2))
    joints[0, :, 0], joints[1, :, 0] = np.arange(14) * 5 + 10, np.arange(14) * 10 + 20  # image 1
    joints[0, :, 1], joints[1, :, 1] = 25, 25  # image 2: every joint at the centre
    d.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(d / "joints.mat"), {"joints": joints})


def coco_keypoints(root: Path) -> None:
    d = root / "coco_kp"
    _img(d / "images/000000000009.jpg", 100, 100, 70)
    names = ["nose", "left_eye", "right_eye"]
    _json(d / "person_keypoints.json", {
        "images": [{"id": 9, "file_name": "000000000009.jpg", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
        "annotations": [
            {"id": 1, "image_id": 9, "category_id": 1, "keypoints": [50, 20, 2, 0, 0, 0, 0, 0, 0]},
            {"id": 2, "image_id": 9, "category_id": 1, "keypoints": [30, 40, 2, 25, 35, 1, 35, 35, 2]},
        ],
    })  # fmt: skip


def celeba(root: Path) -> None:
    d = root / "celeba"
    for i in (1, 2):
        _img(d / f"img_align_celeba/00000{i}.jpg", 32, 40, 80 + i)
    (d / "list_attr_celeba.txt").write_text(
        "2\nBlack_Hair Blond_Hair Eyeglasses Smiling\n000001.jpg  1 -1 -1  1\n000002.jpg -1  1  1 -1\n"
    )


def scannet(root: Path) -> None:
    d = root / "scannet"
    rng = np.random.default_rng(0)
    (d / "points").mkdir(parents=True, exist_ok=True)
    np.save(d / "points/scene0000_00.npy", rng.normal(size=(256, 6)).astype(np.float32))
    np.save(d / "points/scene0001_00_vert.npy", rng.normal(size=(256, 6)).astype(np.float32))
    _json(d / "scenes/scene0000_00.json", {
        "objects": [{"label": "chair", "bbox": [1.0, 2.0, 0.5, 0.6, 0.6, 1.0]},
                    {"label": "table", "bbox": [1.5, 2.0, 0.4, 1.2, 0.8, 0.8]}],
        "referring": [{"expression": "the chair next to the table.", "object": 0}],
        "vqa": [{"question": "What is next to the table?", "choices": ["a bed", "a chair"], "answer": 1}],
        "captions": ["A small room with a chair beside a table."],
    })  # fmt: skip
    np.save(d / "scenes/scene0001_00_bbox.npy", np.array([[0.0, 0.0, 1.0, 2.0, 1.5, 0.5, 1.0]]))  # a bed


def shapenet(root: Path) -> None:
    d = root / "shapenet"
    rng = np.random.default_rng(1)
    (d / "points").mkdir(parents=True, exist_ok=True)
    np.save(d / "points/03001627_abc_4096.npy", rng.normal(size=(128, 3)).astype(np.float32))
    np.save(d / "points/99999999_xyz_4096.npy", rng.normal(size=(128, 3)).astype(np.float32))
    _json(d / "labels.json", {"99999999": "teapot"})
    _json(
        d / "knowledge.json",
        {"chair": "A chair is a seat for one person. It usually has four legs and a back."},
    )


ALL = (coco, voc, bamboo, fsc147, locount, textvqa, lsp, coco_keypoints, celeba, scannet, shapenet)


def make_all(root: Path) -> Path:
    for fn in ALL:
        fn(root)
    return root


SOURCES_YAML = """
  - {name: coco, type: coco, root: coco, captions: annotations/captions.json, instances: annotations/instances.json,
     produce: {C1: all, C3: all, vision_task: {detection: all, counting: all}}}
  - {name: voc, type: voc, root: voc, produce: {C1: all, vision_task: {detection: all, locating: all}}}
  - {name: bamboo, type: imagefolder, root: bamboo, knowledge: knowledge.json,
     produce: {C2: all, vision_task: {classification: all}}}
  - {name: fsc, type: fsc147, root: fsc147, produce: {vision_task: {counting: all, locating: all}}}
  - {name: locount, type: locount, root: locount, produce: {vision_task: {counting: all, detection: all}}}
  - {name: textvqa, type: textvqa, root: textvqa, ocr: ocr.json, questions: questions.json, produce: {C1: all, vision_task: {ocr: all}}}
  - {name: lsp, type: lsp, root: lsp, produce: {vision_task: {keypoints: all}}}
  - {name: cocokp, type: coco_keypoints, root: coco_kp, annotations: person_keypoints.json, produce: {vision_task: {keypoints: all}}}
  - {name: celeba, type: celeba, root: celeba, produce: {C1: all, vision_task: {facial: all}}}
  - {name: scannet, type: scene3d, root: scannet, produce: {C1: all, C3: all, vision_task: {detection3d: all, grounding3d: all, vqa3d: all}}}
  - {name: shapenet, type: shapenet, root: shapenet, labels: labels.json, knowledge: knowledge.json,
     produce: {C2: all, vision_task: {classification3d: all}}}
"""


def write_recipe(
    path: Path,
    *,
    generator: str = "template",
    data_root: str = ".",
    extra: str = "",
    sources: str = SOURCES_YAML,
) -> Path:
    path.write_text(
        f"name: fixture\nseed: 7\ndata_root: {data_root}\ngenerator: {generator}\n{extra}\nsources:{sources}"
    )
    return path
