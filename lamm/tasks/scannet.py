"""ScanNet 3D detection: recall@0.5 of the gt boxes [cx, cy, cz, dx, dy, dz]."""

from lamm.metrics import metrics3d as M3
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "ScanNet", "common", "Detection", "3d", "DETECTION3D_SYS", M3.scannet_detection, "recall@0.5",
    gt_fields=("object",), gt_checks=(checks.boxes(6),), reference={"LAMM": 8.2},
    mini=Mini(
        "objects", "scannet_pcls",
        record=lambda scene, rng: {
            "query": prompt(E3D, "DETECTION3D_QS") + prompt(E3D, "DETECTION3D_INS"),
            "object": [{"label": o.label, "bbox": o.bbox()} for o in scene.objects],
        },
        oracle=lambda rec, size, answer: answer("detection3d", {"objects": rec["object"]}),
    ),
)  # fmt: skip
