"""ScanRefer visual grounding: the first parsed box at IoU > 0.5 (and > 0.25 beside it)."""

from lamm.metrics import metrics3d as M3
from lamm.protocol.prompts import prompt
from lamm.tasks import checks, common
from lamm.tasks.spec import E3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "ScanRefer", "common", "VG", "3d", "VG3D_SYS", M3.scanrefer_grounding, "acc@0.5",
    # the spec and ChEF store the gt box as ``object``, the jul23 evaluator reads ``gt_bbox``
    gt_one_of=(("object", "gt_bbox"),), gt_checks=(checks.boxes(6, fields=("object", "gt_bbox"), one_box=True),),
    baseline=common.mean_box, reference={"LAMM": None},
    mini=Mini(
        "grounding", "scannet_pcls",
        record=lambda scene, rng: {
            "query": prompt(E3D, "VG3D_QS") + scene.expression, "object": scene.target.bbox(),
            "description": scene.expression,
        },
        oracle=lambda rec, size, answer: answer("grounding3d", {"expression": "", "bbox": rec["object"]}),
    ),
)  # fmt: skip
