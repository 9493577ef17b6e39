"""Convert the 3D-LLM suite's official files into LAMM-style benchmark meta files plus scene clouds.

Reads the datasets' own annotations (``lamm.formats.scan3d``) and writes ``<out>/3D_Benchmark/meta_file/``
``VQA_ScanQA.json``, ``VQA_SQA3D.json``, ``VG_ScanRefer.json``, ``Caption_Scan2Cap.json`` and
``VG_Multi3DRefer.json`` (the original ground truth kept, ``lamm.formats.suite3d``) and every scene they
use as ``3D_Benchmark/scannet_pcls/<scene>.npy`` (float32 N x 6, axis-aligned). Scenes already written are
kept, so a killed run resumes; meta files are rewritten whole (same inputs -> same bytes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamm.formats import scan3d as S
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import write_json_official
from lamm.formats.lock import FolderLock
from lamm.formats.pointcloud import write_points_npy
from lamm.protocol.prompts import prompt
from lamm.tasks import spec_for_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument("--scans", required=True, help="folder of ScanNet scenes: <scene>_aligned_vert.npy, "
                        "<scene>_vert.npy or <scene>_vh_clean_2.ply (+ <scene>.txt), also in <scene>/ sub-folders")  # fmt: skip
    parser.add_argument(
        "--boxes", help="folder of <scene>_aligned_bbox.npy instance boxes (default: --scans)"
    )
    parser.add_argument(
        "--scene-meta", help="folder of ScanNet <scene>/<scene>.txt (axisAlignment) for unaligned scene files "
        "(default: beside each file)",
    )  # fmt: skip
    parser.add_argument("--scanqa", help="ScanQA_v1.0_val.json (a file with answers)")
    parser.add_argument("--sqa3d-questions", help="v1_balanced_questions_<split>_scannetv2.json")
    parser.add_argument("--sqa3d-annotations", help="v1_balanced_sqa_annotations_<split>_scannetv2.json")
    parser.add_argument(
        "--scanrefer", help="ScanRefer_filtered_val.json (gives VG_ScanRefer and Caption_Scan2Cap)"
    )
    parser.add_argument("--multi3drefer", help="multi3drefer_val.json")
    parser.add_argument("--out", required=True, help="output folder (gets 3D_Benchmark/)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many records per dataset")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="skip: leave out records whose scene or box is missing, and report them")  # fmt: skip


class _Scenes:
    """Writes each scene once (kept when already there) and looks up instance boxes."""

    def __init__(self, scans: Path, boxes: Path, root: Path, meta: Path | None = None) -> None:
        self.scans, self.boxes, self.root, self.meta = scans, boxes, root, meta
        self._boxes: dict[str, dict[int, dict[str, Any]]] = {}
        self.written = self.kept = 0

    def pcl(self, scene: str) -> str:
        rel = f"./scannet_pcls/{scene}.npy"
        target = self.root / rel
        if target.is_file():
            self.kept += 1
        else:
            write_points_npy(target, S.load_scene(self.scans, scene, meta_dir=self.meta))
            self.written += 1
        return rel

    def box(self, scene: str, oid: int, ann: Path, index: int) -> list[float]:
        if scene not in self._boxes:
            for base in (self.boxes, self.boxes / scene):
                if (base / f"{scene}_aligned_bbox.npy").is_file():
                    self._boxes[scene] = S.read_instance_boxes(base / f"{scene}_aligned_bbox.npy")
                    break
            else:
                raise FormatError(ann, f"no {scene}_aligned_bbox.npy under {self.boxes}", index=index,
                                  record_id=scene, field="scene_id")  # fmt: skip
        if oid not in self._boxes[scene]:
            raise FormatError(ann, f"object {oid} is not in {scene}_aligned_bbox.npy", index=index,
                              record_id=scene, field="object_id")  # fmt: skip
        return self._boxes[scene][oid]["bbox"]


def _vg_query(text: str) -> str:
    return prompt("eval_3d_jul2023_constants", "VG3D_QS") + text


def _scanqa(i, r, ann, sc):
    if r["answers"] is None:
        raise FormatError(ann, "no 'answers' (a test split): scoring needs the ground truth; use the val file",
                          index=i, record_id=r["question_id"], field="answers")  # fmt: skip
    return {"id": r["question_id"], "pcl": sc.pcl(r["scene_id"]),
               "scene_id": r["scene_id"], "question": r["question"], "answers": r["answers"],
               "object_ids": r["object_ids"], "object_names": r["object_names"]}  # fmt: skip


def _sqa3d(i, r, ann, sc):
    return {"id": r["question_id"], "pcl": sc.pcl(r["scene_id"]),
               "scene_id": r["scene_id"], "situation": r["situation"], "question": r["question"],
               "answers": r["answers"], "position": r["position"], "rotation": r["rotation"]}  # fmt: skip


def _scanrefer(i, r, ann, sc):
    s, oid = r["scene_id"], r["object_id"]
    box = sc.box(s, oid, ann, i)
    return {"id": f"{s}|{oid}|{r['ann_id']}", "pcl": sc.pcl(s), "query": _vg_query(r["description"]),
               "object": box, "description": r["description"], "scene_id": s, "object_id": oid,
               "object_name": r["object_name"], "ann_id": r["ann_id"]}  # fmt: skip


def _by_object(rows: list[dict]) -> list[list[dict]]:
    """Scan2Cap's unit: one object, with every ScanRefer description of it (in file order)."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for k, r in enumerate(rows):
        groups.setdefault((r["scene_id"], r["object_id"]), []).append(r | {"_row": k})
    return list(groups.values())


def _scan2cap(i, members, ann, sc):
    s, oid = members[0]["scene_id"], members[0]["object_id"]
    box = sc.box(s, oid, ann, members[0]["_row"])
    return {"id": f"{s}|{oid}", "pcl": sc.pcl(s),
               "scene_id": s, "object_id": oid, "object_name": members[0]["object_name"], "gt_bbox": box,
               "descriptions": [r["description"] for r in members]}  # fmt: skip


def _multi3drefer(i, r, ann, sc):
    s = r["scene_id"]
    return {"id": f"{s}|{r['ann_id']}|{i}", "pcl": sc.pcl(s),
               "scene_id": s, "description": r["description"], "object_ids": r["object_ids"],
               "gt_bboxes": [sc.box(s, o, ann, i) for o in r["object_ids"]], "eval_type": r["eval_type"],
               "object_name": r["object_name"], "ann_id": r["ann_id"]}  # fmt: skip


def _collect(
    build: Callable, items: list, ann: Path, sc: _Scenes, limit: int | None, skip: bool, skipped: list[str]
) -> list[dict]:
    """Build the records; a scene or box problem names the annotation file, its record and the field."""
    out: list[dict] = []
    for i, item in enumerate(items):
        if limit is not None and len(out) >= limit:
            break
        try:
            out.append(build(i, item, ann, sc))
        except FormatError as exc:
            if exc.index is None:  # from a scene file: say which annotation record needs it
                first = item[0] if isinstance(item, list) else item
                exc = FormatError(
                    ann, str(exc), index=_row(item, i), record_id=first.get("scene_id"), field="scene_id"
                )
            if not skip:
                raise exc from None
            skipped.append(str(exc))
    return out


def _row(item: Any, i: int) -> int:
    """The annotation file's record index of an item (Scan2Cap items are groups of ScanRefer rows)."""
    return item[0]["_row"] if isinstance(item, list) else i


def run(args: argparse.Namespace) -> int:
    scans = Path(args.scans)
    root = Path(args.out) / "3D_Benchmark"
    jobs: list[tuple[str, Callable, list, Path]] = []
    if args.scanqa:
        jobs.append(("VQA_ScanQA.json", _scanqa, S.read_scanqa(args.scanqa), Path(args.scanqa)))
    if bool(args.sqa3d_questions) != bool(args.sqa3d_annotations):
        raise SystemExit("lamm data convert-3d: SQA3D needs both --sqa3d-questions and --sqa3d-annotations")
    if args.sqa3d_questions:
        rows = S.read_sqa3d(args.sqa3d_questions, args.sqa3d_annotations)
        jobs.append(("VQA_SQA3D.json", _sqa3d, rows, Path(args.sqa3d_questions)))
    if args.scanrefer:
        rows = S.read_scanrefer(args.scanrefer)
        jobs += [("VG_ScanRefer.json", _scanrefer, rows, Path(args.scanrefer)),
                 ("Caption_Scan2Cap.json", _scan2cap, _by_object(rows), Path(args.scanrefer))]  # fmt: skip
    if args.multi3drefer:
        jobs.append(("VG_Multi3DRefer.json", _multi3drefer, S.read_multi3drefer(args.multi3drefer), Path(args.multi3drefer)))  # fmt: skip
    if not jobs:
        raise SystemExit(
            "lamm data convert-3d: give at least one of --scanqa, --sqa3d-questions, --scanrefer, --multi3drefer"
        )
    root.mkdir(parents=True, exist_ok=True)
    with FolderLock(root, "lamm data convert-3d"):
        boxes = Path(args.boxes) if args.boxes else scans
        sc = _Scenes(scans, boxes, root, Path(args.scene_meta) if args.scene_meta else None)
        skipped: list[str] = []
        for meta, make, rows, ann in jobs:
            spec = spec_for_file(meta)  # each file asks its task's protocol query (lamm/tasks)
            recs = [spec.with_query(r) for r in _collect(make, rows, ann, sc, args.limit, args.on_error == "skip", skipped)]  # fmt: skip
            write_json_official(root / "meta_file" / meta, recs)
            print(f"{ann} -> {root / 'meta_file' / meta}: {len(recs)} records")
        print(
            f"scenes: {sc.written} written, {sc.kept} references to scenes already there; skipped {len(skipped)} record(s)"
        )
        for s in skipped:
            print(f"skipped: {s}")
    return 0
