"""ScanRefer visual grounding: the first parsed box at IoU > 0.5 (and > 0.25 beside it).

One task serves LAMM's benchmark and the 3D-LLM suite: the suite's ScanRefer prompt is LAMM's (VG3D_SYS,
VG3D_QS + the description; suite3d_prompts.json ``ScanRefer`` holds the same strings) and Acc@0.25 was
already reported beside Acc@0.5 (``acc@0.25``), so a suite variant would only repeat this file, and a
second dataset cannot own ``VG_ScanRefer.json`` (``lamm data convert-3d`` writes the full val split under
that name). The hit rule stays LAMM's IoU > k (quickstart scores unchanged); M3DRef-CLIP's IoU >= k
(``grounding3d.scanrefer_acc``) differs only on exact ties.
"""

from lamm.metrics import metrics3d as M3
from lamm.protocol.prompts import prompt
from lamm.tasks import checks, common
from lamm.tasks.spec import E3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "ScanRefer", "common", "VG", "3d", "VG3D_SYS", M3.scanrefer_grounding, "acc@0.5",
    # the spec and ChEF store the gt box as ``object``, the jul23 evaluator reads ``gt_bbox``
    gt_one_of=(("object", "gt_bbox"),), gt_checks=(checks.boxes(6, fields=("object", "gt_bbox"), one_box=True),),
    baseline=common.mean_box, reference={"LAMM": None},
    columns=(("ScanRefer@0.25", "acc@0.25", "fraction"), ("ScanRefer@0.5", "value", "fraction")),
    mini=Mini(
        "grounding", "scannet_pcls",
        record=lambda scene, rng: {
            "query": prompt(E3D, "VG3D_QS") + scene.expression, "object": scene.target.bbox(),
            "description": scene.expression,
        },
        oracle=lambda rec, size, answer: answer("grounding3d", {"expression": "", "bbox": rec["object"]}),
    ),
)  # fmt: skip
