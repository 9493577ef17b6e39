"""Locating the person on LSP: a point inside the joints' box (pooled in v1's and jul23's ACC)."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.lsp import LSP_JOINTS
from lamm.tasks.spec import E2D, DatasetSpec, Mini


def _oracle(rec, size, answer) -> str:
    w, h = size
    j = dict(zip(LSP_JOINTS, rec["gt_joints"]))
    hip = [(j["right hip"][0] + j["left hip"][0]) / 2 / w, (j["right hip"][1] + j["left hip"][1]) / 2 / h]
    return answer("keypoints", {"joints": {"hip": hip}})


SPEC = DatasetSpec(
    "LSP", "locating", "Locating", "2d", "HUMANLOCATING_SYS", M.locating_lsp, "acc",
    gt_fields=("gt_joints",), gt_checks=(checks.joints(len(LSP_JOINTS)),), needs_image_size=True,
    locating_pools=("v1", "jul23"),
    mini=Mini(
        "figure", "lsp_images",
        record=lambda item, rng: {
            "query": prompt(E2D, "HUMANLOCATING_QS") + " " + prompt(E2D, "HUMANLOCATING_INS"),
            "gt_joints": item.info["gt_joints"],
        },
        oracle=_oracle,
    ),
)  # fmt: skip
