"""Locating on FSC147: points near the gt points (v1's pooled ACC only: jul23 dropped it)."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E2D, DatasetSpec, Mini


def _oracle(rec, size, answer) -> str:
    w, h = size
    objs = [{"label": "object", "point": [x / w, y / h]} for x, y in rec["points"]]
    return answer("locating", {"objects": objs})


SPEC = DatasetSpec(
    "FSC147", "locating", "Locating", "2d", "LOCATING_SYS", M.locating_fsc147, "acc",
    gt_fields=("points",), gt_checks=(checks.points,), needs_image_size=True, locating_pools=("v1",),
    mini=Mini(
        "counting", "fsc147_images",
        record=lambda item, rng: {
            "query": prompt(E2D, "LOCATING_QS") + prompt(E2D, "LOCATING_INS"),
            "points": [s.center_px() for s in item.info["shapes"]],
        },
        oracle=_oracle,
    ),
)  # fmt: skip
