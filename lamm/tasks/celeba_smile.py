"""CelebA(Smile): is the person smiling; attr "1" / "-1"."""

from lamm.metrics import metrics2d as M
from lamm.tasks import checks, common
from lamm.tasks.spec import DatasetSpec, Mini

QUERY = "Is the person in the image smiling?"  # not official: the real CelebA query is unpublished

SPEC = DatasetSpec(
    "CelebA(Smile)", "common", "Facial_Classification", "2d", "FFC_SYS", M.celeba_smile, "accuracy",
    gt_fields=("attr",), gt_checks=(checks.attr(("1", "-1"), "CelebA(Smile)"),),
    baseline=common.majority(
        "attr", lambda top: "The person is smiling." if top == "1" else "The person is not smiling."
    ),
    ground_truth_words=lambda raw: "Yes" if str(raw["attr"]) == "1" else "No",
    reference={"LLaVA": None, "MiniGPT-4": 66.36, "mPLUG-Owl": None, "LAMM": 57.60},
    mini=Mini(
        "face", "celeba_images",
        record=lambda item, rng: {"query": QUERY, "attr": "1" if item.info["smile"] else "-1"},
        oracle=lambda rec, size, answer: answer("facial", {"smile": rec["attr"] == "1"}),
        probe=("facial", lambda item: "1" if item.info["smile"] else "-1"),
    ),
)  # fmt: skip
