"""Locating on VOC2012: a point inside each labelled gt box (pooled in v1's and jul23's ACC)."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E2D, DatasetSpec, Mini


def _oracle(rec, size, answer) -> str:
    objs = [
        {"label": o["label"], "point": [(o["bbox"][0] + o["bbox"][2]) / 2, (o["bbox"][1] + o["bbox"][3]) / 2]}
        for o in rec["object"]
    ]
    return answer("locating", {"objects": objs})


SPEC = DatasetSpec(
    "VOC2012", "locating", "Locating", "2d", "LOCATING_SYS", M.locating_voc, "acc",
    gt_fields=("object",), gt_checks=(checks.boxes(4),), locating_pools=("v1", "jul23"),
    mini=Mini(
        "shapes", "voc2012_images",
        record=lambda item, rng: {
            "query": prompt(E2D, "LOCATING_QS") + prompt(E2D, "LOCATING_INS"), "object": item.shape_objects()
        },
        oracle=_oracle,
    ),
)  # fmt: skip
