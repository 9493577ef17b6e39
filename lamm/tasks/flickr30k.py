"""Flickr30k captioning: corpus BLEU-4 (reported x100)."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import prompt
from lamm.tasks import checks
from lamm.tasks.spec import E2D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "flickr30k", "common", "Caption", "2d", "CAPTION_SYS", M.flickr30k, "bleu4",
    gt_fields=("sentences",), gt_checks=(checks.strings("sentences", "reference captions"),), unit="x100",
    ground_truth_words=lambda raw: str(raw["sentences"]),
    reference={"LLaVA": 6.65, "MiniGPT-4": 5.1, "mPLUG-Owl": 2.74, "LAMM": 2.56},
    mini=Mini(
        "shapes", "flickr30k_images",
        record=lambda item, rng: {"query": prompt(E2D, "CAPTION_QS"), "sentences": item.captions()},
        oracle=lambda rec, size, answer: rec["sentences"][0],
    ),
)  # fmt: skip
