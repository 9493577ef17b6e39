"""CelebA(Hair): the hair colour."""

from lamm.metrics import metrics2d as M
from lamm.tasks import checks, common
from lamm.tasks.spec import DatasetSpec, Mini

QUERY = "What is the hair color of the person in the image?"  # not official, as CelebA(Smile)'s

SPEC = DatasetSpec(
    "CelebA(Hair)", "common", "Facial_Classification", "2d", "FFC_SYS", M.celeba_hair, "accuracy",
    gt_fields=("attr",), gt_checks=(checks.attr(),),
    baseline=common.majority("attr"), ground_truth_words=lambda raw: str(raw["attr"]),
    reference={"LLaVA": 46.42, "MiniGPT-4": 43.47, "mPLUG-Owl": 40.93, "LAMM": 56.96},
    mini=Mini(
        "face", "celeba_images",
        record=lambda item, rng: {"query": QUERY, "attr": item.info["hair"]},
        oracle=lambda rec, size, answer: answer("facial", {"hair": rec["attr"]}),
        probe=("facial", lambda item: item.info["hair"]),
    ),
)  # fmt: skip
