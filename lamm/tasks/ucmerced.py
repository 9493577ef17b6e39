"""UCMerced land use: fine-grained classification."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks, common
from lamm.tasks.spec import E2D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "UCMerced", "common", "Fine-grained_Classification", "2d", "FG_CLASSIFICATION_SYS", M.ucmerced, "accuracy",
    gt_fields=("label",), gt_checks=(checks.string("label"),),
    baseline=common.majority("label"), ground_truth_words=lambda raw: str(raw["label"]),
    reference={"LLaVA": 47.0, "MiniGPT-4": 33.6, "mPLUG-Owl": 32.5, "LAMM": 18.23},
    mini=Mini(
        "scene", "ucmerced_images",
        record=lambda item, rng: {"query": prompt(E2D, "FG_CLASSIFICATION_QS"), "label": item.info["label"]},
        oracle=lambda rec, size, answer: answer("fine_grained", {"label": rec["label"]}),
        probe=("fine_grained", lambda item: item.info["label"]),
    ),
)  # fmt: skip
