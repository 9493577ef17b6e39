"""LAMM-Mini 3D instruction data in the official 3D schema (``pcl``, ``src_dataset``, ``src_id``).

Each training scene gives samples of every scene task (detection3d, description3d, conversation3d once;
VQA3d and visual_grounding3d twice, on different questions and targets: the benchmark's tasks get more
signal per cloud; plus one VQA3d sample in the layout of the official second inference pass), as the official 3D instructions reuse scenes; classification3d uses single-object
clouds. Written to ``3D_Instruct/meta_file/LAMM_3dinstruct_<total>.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lamm.data.c4 import c4_conversation, task_type
from lamm.data.mini import world3d as W3
from lamm.data.mini.common import Stats, count_label, pixels_hash, record_rng
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar
from lamm.tasks import DatasetSpec, datasets_3d
from lamm.tasks.common import boxes_text

_DESC_QS = ["Describe this scene in detail.", "Give a detailed description of the point cloud.",
            "What does this 3D scene look like? Describe it in detail."]  # fmt: skip


def _qa(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    conv = []
    for q, a in pairs:
        conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return conv


def scene_samples(
    index: int, seed: int, points: int, avoid: set[str] = frozenset()
) -> tuple[list[dict], np.ndarray]:
    """The eight scene-task samples of training scene ``index`` and its point cloud."""
    for attempt in range(100):
        rng = record_rng(seed, "train", "instruct3d/scene", index, attempt)
        objs, target, expr = W3.grounding_scene(rng)
        pts = W3.scene_points(rng, objs, points)
        if pixels_hash(pts) not in avoid:
            break
    sid = f"scene_{index:06d}"
    pcl = f"scene_pcls/{sid}.npy"
    convs = [
        ("detection3d", c4_conversation(
            "detection3d", {"objects": [{"label": o.label, "bbox": o.bbox()} for o in objs]}, rng
        )),
        ("VQA3d", c4_conversation("vqa3d", W3.scanqa_question(objs, rng), rng)),
        ("VQA3d", c4_conversation("vqa3d", W3.scanqa_question(objs, rng), rng)),
        ("VQA3d", c4_conversation("vqa3d_answer", W3.scanqa_question(objs, rng), rng)),  # 2nd VQA pass
        ("visual_grounding3d", c4_conversation(
            "grounding3d", {"expression": expr, "bbox": target.bbox()}, rng
        )),
        ("visual_grounding3d", c4_conversation(
            "grounding3d", {"expression": W3.refer(objs[1], objs[0]), "bbox": objs[1].bbox()}, rng
        )),
        ("description3d", _qa([(str(rng.choice(_DESC_QS)), W3.describe3d(objs))])),
        ("conversation3d", _qa(W3.conversation3d(objs, rng))),
    ]  # fmt: skip
    recs = [
        {
            "id": f"{sid}_{t}" + (f"_{j}" if j else ""),
            "pcl": pcl,
            "conversations": c,
            "task_type": t,
            "src_dataset": "lamm-mini",
            "src_id": sid,
        }
        for j, (t, c) in enumerate(convs)
    ]
    return recs, pts


def _suite_specs() -> dict[str, DatasetSpec]:
    """The registry's suite datasets by LAMM-Mini generator name (``Mini.generate``), so a training sample
    asks what the benchmark asks; a generator named twice is an error."""
    specs = [s for s in datasets_3d() if s.mini is not None and s.mini.generate]
    by_generator = {s.mini.generate: s for s in specs}
    if len(by_generator) != len(specs):
        raise ValueError(f"two suite datasets share a LAMM-Mini generator: {[s.key for s in specs]}")
    return by_generator


def suite_samples(
    index: int,
    seed: int,
    points: int,
    avoid: set[str] = frozenset(),
    specs: dict[str, DatasetSpec] | None = None,
) -> tuple[list[dict], np.ndarray]:
    """The 3D-LLM suite's four training samples on one ``suite_scene`` (``--suite-3d``): open-ended QA and
    situated QA (VQA3d), dense captioning of a boxed object (VQA3d: a question about the cloud with a
    free-text answer) and multi-object grounding (visual_grounding3d: every box, or ``None``).

    Each human turn is the suite benchmark's own query (:func:`lamm.protocol.suite3d.suite_query`, as
    ``lamm eval`` asks it) and each answer is in the layout its scorer reads: a short phrase (ScanQA,
    SQA3D), the caption alone (Scan2Cap: the box is in the query), boxes or ``None`` (Multi3DRefer,
    :func:`lamm.tasks.common.boxes_text`). The Multi3DRefer query differs from LAMM's single-box
    ScanRefer one (VG3D_QS), so the two grounding tasks do not teach one query two answer layouts."""
    for attempt in range(200):
        rng = record_rng(seed, "train", "instruct3d/suite", index, attempt)
        objs = W3.suite_scene(rng, (4, 5))
        sqa = W3.situated_question(objs, rng)
        if sqa is None:
            continue
        pts = W3.scene_points(rng, objs, points)
        if pixels_hash(pts) not in avoid:
            break
    else:  # pragma: no cover - about a third of the draws have a situated question
        raise RuntimeError(f"no situated question for suite training scene {index}")
    qa, ref = W3.open_question(objs, rng), W3.multi_refer(objs, rng)
    t = int(rng.integers(len(objs)))
    caps = W3.dense_captions(objs, t)
    sid = f"suite_{index:06d}"
    specs = specs or _suite_specs()  # ``specs``: the caller's _suite_specs(), built once for all scenes
    convs = [
        ("VQA3d", [(specs["scanqa_record"].prompt_query(qa, ""), qa["answers"][0])]),
        ("VQA3d", [(specs["sqa3d_record"].prompt_query(sqa, ""), sqa["answers"][0])]),
        ("VQA3d", [(specs["scan2cap_record"].prompt_query({"gt_bbox": objs[t].bbox()}, ""), caps[int(rng.integers(len(caps)))])]),
        ("visual_grounding3d", [(specs["multi3drefer_record"].prompt_query(ref, ""), boxes_text([objs[i].bbox() for i in ref["object_ids"]]))]),
    ]  # fmt: skip
    recs = [{"id": f"{sid}_{k}", "pcl": f"suite_pcls/{sid}.npy", "conversations": _qa(c), "task_type": t_,
             "src_dataset": "lamm-mini", "src_id": sid} for k, (t_, c) in enumerate(convs)]  # fmt: skip
    return recs, pts


def object_sample(index: int, seed: int, points: int) -> tuple[dict, np.ndarray]:
    rng = record_rng(seed, "train", "instruct3d/object", index)
    label, color = str(rng.choice(W3.PRIMITIVES)), str(rng.choice(list(W3.COLORS3D)))
    pts = W3.object_points(rng, label, color, points)
    oid = f"object_{index:06d}"
    conv = c4_conversation("classification3d", {"label": label}, rng)
    rec = {"id": oid, "pcl": f"object_pcls/{oid}.npy", "conversations": conv, "task_type": task_type("classification3d"),
           "src_dataset": "lamm-mini", "src_id": oid}  # fmt: skip
    return rec, pts


def write_instruct_3d(
    out: str | Path,
    *,
    seed: int,
    n: int,
    points: int,
    avoid: set[str] = frozenset(),
    suite: bool = False,
    progress: bool = True,
) -> Stats:
    """``n`` scenes (8 samples each) + ``n`` single objects (+ ``n`` suite scenes, 4 samples each, with
    ``suite``) -> one union file."""
    root = Path(out) / "3D_Instruct"
    stats = Stats()
    records: list[dict] = []
    specs = _suite_specs() if suite else None
    with progress_bar(
        total=(3 if suite else 2) * n, desc="3D instruct", unit="pcl", disable=not progress, leave=False
    ) as bar:
        for i in range(n):
            scene_recs, scene_pts = scene_samples(i, seed, points, avoid)
            obj_rec, obj_pts = object_sample(i, seed, points)
            parts = [(scene_recs, scene_pts), ([obj_rec], obj_pts)]
            if suite:
                parts.append(suite_samples(i, seed, points, avoid, specs))
            for recs, pts in parts:
                path = root / recs[0]["pcl"]
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, pts, allow_pickle=False)
                records += recs
                stats.media += 1
                bar.update()
    for r in records:
        stats.records[f"3D_Instruct/{r['task_type']}"] += 1
    path = root / "meta_file" / f"LAMM_3dinstruct_{count_label(len(records))}.json"
    order = np.random.default_rng([seed, 13]).permutation(len(records))
    write_json_official(path, [records[i] for i in order])
    stats.files.append(str(path))
    return stats
