"""SVT scene text: word accuracy."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E2D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "SVT", "common", "OCR", "2d", "OCR_SYS", M.svt, "word_accuracy",
    gt_fields=("word_list",), gt_checks=(checks.strings("word_list", "strings"),),
    ground_truth_words=lambda raw: str(raw["word_list"]).lower(),
    reference={"LLaVA": 37.78, "MiniGPT-4": 16.97, "mPLUG-Owl": 30.39, "LAMM": 29.14},
    mini=Mini(
        "word", "svt_images",
        record=lambda item, rng: {
            "query": prompt(E2D, "OCR_QA") + " " + prompt(E2D, "OCR_INS"), "word_list": list(item.info["words"])
        },
        oracle=lambda rec, size, answer: answer("ocr", {"words": rec["word_list"]}),
    ),
)  # fmt: skip
