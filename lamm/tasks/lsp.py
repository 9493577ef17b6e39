"""LSP keypoint detection: one query per joint, PCK@0.1; the answer is an object joint -> text."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E2D, DatasetSpec, Mini

# LSP joint order (official): gt_joints rows and the keypoint answer object follow it.
LSP_JOINTS: tuple[str, ...] = (
    "right ankle", "right knee", "right hip", "left hip", "left knee", "left ankle", "right wrist",
    "right elbow", "right shoulder", "left shoulder", "left elbow", "left wrist", "neck", "head top",
)  # fmt: skip


def _oracle(rec, size, answer) -> dict[str, str]:
    w, h = size
    joints = {n: [j[0] / w, j[1] / h] for n, j in zip(LSP_JOINTS, rec["gt_joints"])}
    return {n: answer("keypoints", {"joints": {n: joints[n]}}) for n in LSP_JOINTS}


SPEC = DatasetSpec(
    "LSP", "common", "Keypoints_Detection", "2d", "KEYPOINTS_DET_SYS", M.lsp_pck, "pck",
    gt_fields=("gt_joints",), gt_checks=(checks.joints(len(LSP_JOINTS)),), needs_image_size=True,
    prompting="per_joint", answer_keys=LSP_JOINTS,
    reference={"LLaVA": None, "MiniGPT-4": None, "mPLUG-Owl": None, "LAMM": None},
    mini=Mini(
        "figure", "lsp_images",  # the query keeps its "{}": official inference fills it with each joint name
        record=lambda item, rng: {
            "query": prompt(E2D, "KEYPOINTS_DET_QS") + " " + prompt(E2D, "KEYPOINTS_DET_INS"),
            "gt_joints": item.info["gt_joints"],
        },
        oracle=_oracle,
    ),
)  # fmt: skip
