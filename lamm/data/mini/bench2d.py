"""LAMM-Mini 2D benchmark: every official 2D meta file (11 common + 3 locating) with its images.

Records follow LAMM_FORMATS §2.1: official file and folder names, ``id``/``image``/``query`` plus the
ground-truth fields the scorers read, in their conventions (VOC boxes normalised, LSP joints and FSC147
points in pixels). Queries are assembled from the official prompt building blocks; the CelebA queries
are our own wording (the official strings are not public in code).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamm.data.c4 import plural, vqa_query
from lamm.data.mini import world2d as W
from lamm.data.mini.common import Stats, pixels_hash, record_rng, save_png, slug
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar
from lamm.protocol.datasets import DatasetSpec, datasets_2d
from lamm.protocol.prompts import prompt

E2D = "eval_2d_v1_constants"
SMILE_QUERY = "Is the person in the image smiling?"  # not official: the real CelebA query is unpublished
HAIR_QUERY = "What is the hair color of the person in the image?"  # not official, as above

# image folder per dataset name (official folder names, LAMM_FORMATS §2)
FOLDERS = {
    "CIFAR10": "cifar10_images", "VOC2012": "voc2012_images", "SQAimage": "sqaimage_images",
    "AI2D": "ai2d_images", "flickr30k": "flickr30k_images", "UCMerced": "ucmerced_images",
    "FSC147": "fsc147_images", "SVT": "svt_images", "CelebA(Smile)": "celeba_images",
    "CelebA(Hair)": "celeba_images", "LSP": "lsp_images",
}  # fmt: skip

# dataset key -> scene kind
KINDS = {
    "CIFAR10": "single", "VOC2012": "shapes", "SQAimage": "shapes", "AI2D": "diagram", "flickr30k": "shapes",
    "UCMerced": "scene", "FSC147": "counting", "SVT": "word", "CelebA(Smile)": "face", "CelebA(Hair)": "face",
    "LSP": "figure", "Locating_VOC2012": "shapes", "Locating_LSP": "figure", "Locating_FSC147": "counting",
}  # fmt: skip


def _p(name: str) -> str:
    return prompt(E2D, name)


def _cifar(item: W.Item, rng: Any) -> dict:
    return {"query": _p("CLASSIFICATION_QS"), "label": item.info["shapes"][0].label}


def _voc(item: W.Item, rng: Any) -> dict:
    return {"query": _p("DETECTION_QS") + _p("DETECTION_INS"), "object": W.shape_objects(item.info)}


def _vqa(question: Callable) -> Callable:
    def build(item: W.Item, rng: Any) -> dict:
        q = question(item.info, rng)
        return {
            "query": vqa_query(q["question"], q["choices"]),
            "gt_choice": q["answer"],
            "gt_choices": q["choices"],
        }

    return build


def _caption(item: W.Item, rng: Any) -> dict:
    return {"query": _p("CAPTION_QS"), "sentences": W.captions(item.info)}


def _ucmerced(item: W.Item, rng: Any) -> dict:
    return {"query": _p("FG_CLASSIFICATION_QS"), "label": item.info["label"]}


def _fsc(item: W.Item, rng: Any) -> dict:
    label = item.info["label"]
    return {
        "query": _p("CNT_QA").format(plural(label)) + " " + _p("CNT_INS"),
        "num": len(item.info["shapes"]),
    }


def _svt(item: W.Item, rng: Any) -> dict:
    return {"query": _p("OCR_QA") + " " + _p("OCR_INS"), "word_list": list(item.info["words"])}


def _smile(item: W.Item, rng: Any) -> dict:
    return {"query": SMILE_QUERY, "attr": "1" if item.info["smile"] else "-1"}


def _hair(item: W.Item, rng: Any) -> dict:
    return {"query": HAIR_QUERY, "attr": item.info["hair"]}


def _lsp(item: W.Item, rng: Any) -> dict:
    # the query keeps its "{}": official inference fills it with each joint name
    return {
        "query": _p("KEYPOINTS_DET_QS") + " " + _p("KEYPOINTS_DET_INS"),
        "gt_joints": item.info["gt_joints"],
    }


def _loc_voc(item: W.Item, rng: Any) -> dict:
    return {"query": _p("LOCATING_QS") + _p("LOCATING_INS"), "object": W.shape_objects(item.info)}


def _loc_lsp(item: W.Item, rng: Any) -> dict:
    return {
        "query": _p("HUMANLOCATING_QS") + " " + _p("HUMANLOCATING_INS"),
        "gt_joints": item.info["gt_joints"],
    }


def _loc_fsc(item: W.Item, rng: Any) -> dict:
    return {
        "query": _p("LOCATING_QS") + _p("LOCATING_INS"),
        "points": [s.center_px() for s in item.info["shapes"]],
    }


BUILDERS: dict[str, Callable[[W.Item, Any], dict]] = {
    "CIFAR10": _cifar, "VOC2012": _voc, "SQAimage": _vqa(W.sqa_question), "AI2D": _vqa(W.ai2d_question),
    "flickr30k": _caption, "UCMerced": _ucmerced, "FSC147": _fsc, "SVT": _svt, "CelebA(Smile)": _smile,
    "CelebA(Hair)": _hair, "LSP": _lsp, "Locating_VOC2012": _loc_voc, "Locating_LSP": _loc_lsp,
    "Locating_FSC147": _loc_fsc,
}  # fmt: skip


def bench_record(spec: DatasetSpec, index: int, seed: int, size: int) -> tuple[dict, W.Item]:
    """Record ``index`` of one benchmark dataset (test split) and its rendered item."""
    rng = record_rng(seed, "test", spec.key, index)
    item = W.MAKERS[KINDS[spec.key]](rng, size)
    rid = f"{slug(spec.key)}_{index:05d}"
    rec = {"id": rid, "image": f"{FOLDERS[spec.name]}/{rid}.png"}
    rec.update(BUILDERS[spec.key](item, rng))
    return rec, item


def write_benchmark_2d(
    out: str | Path, *, seed: int, n: int, size: int, progress: bool = True
) -> tuple[Stats, set[str]]:
    """Write ``out/2D_Benchmark``; return the stats and the pixel hashes of every test image."""
    root = Path(out) / "2D_Benchmark"
    stats, hashes = Stats(), set()
    specs = datasets_2d()
    with progress_bar(
        total=n * len(specs), desc="2D benchmark", unit="rec", disable=not progress, leave=False
    ) as bar:
        for spec in specs:
            records = []
            for i in range(n):
                rec, item = bench_record(spec, i, seed, size)
                save_png(item.image, root / rec["image"])
                hashes.add(pixels_hash(item.image))
                records.append(rec)
                bar.update()
            path = root / "meta_file" / spec.meta_file
            write_json_official(path, records)
            stats.files.append(str(path))
            stats.records[f"2D_Benchmark/{spec.key}"] += len(records)
            stats.media += len(records)
    return stats, hashes
