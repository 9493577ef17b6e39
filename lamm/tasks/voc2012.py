"""VOC2012 detection: recall@0.5 of the gt boxes (boxes normalised to the image)."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E2D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "VOC2012", "common", "Detection", "2d", "DETECTION_SYS", M.voc_detection, "recall@0.5",
    gt_fields=("object",), gt_checks=(checks.boxes(4),), needs_image_size=True,
    ground_truth_words=lambda raw: str(raw["object"]),
    reference={"LLaVA": 1.42, "MiniGPT-4": 0.92, "mPLUG-Owl": 0.158, "LAMM": 7.20},
    mini=Mini(
        "shapes", "voc2012_images",
        record=lambda item, rng: {
            "query": prompt(E2D, "DETECTION_QS") + prompt(E2D, "DETECTION_INS"), "object": item.shape_objects()
        },
        oracle=lambda rec, size, answer: answer("detection", {"objects": rec["object"]}),
    ),
)  # fmt: skip
