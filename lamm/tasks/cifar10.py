"""CIFAR10 classification: the answer must name the label."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks, common
from lamm.tasks.spec import E2D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "CIFAR10", "common", "Classification", "2d", "CLASSIFICATION_SYS", M.cifar10, "accuracy",
    gt_fields=("label",), gt_checks=(checks.string("label"),),
    baseline=common.majority("label"), ground_truth_words=lambda raw: str(raw["label"]),
    reference={"LLaVA": 60.83, "MiniGPT-4": 46.22, "mPLUG-Owl": 42.5, "LAMM": 37.9},
    mini=Mini(
        "single", "cifar10_images",
        record=lambda item, rng: {"query": prompt(E2D, "CLASSIFICATION_QS"), "label": item.info["shapes"][0].label},
        oracle=lambda rec, size, answer: answer("classification", {"label": rec["label"]}),
        probe=("classification", lambda item: item.info["shapes"][0].label),
    ),
)  # fmt: skip
