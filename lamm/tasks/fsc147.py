"""FSC147 counting: mean absolute error of the count (lower is better)."""

from lamm.metrics import metrics2d as M
from lamm.protocol.prompts import plural, prompt
from lamm.tasks import checks, common
from lamm.tasks.spec import E2D, DatasetSpec, Mini


def _record(item, rng) -> dict:
    query = prompt(E2D, "CNT_QA").format(plural(item.info["label"])) + " " + prompt(E2D, "CNT_INS")
    return {"query": query, "num": len(item.info["shapes"])}


SPEC = DatasetSpec(
    "FSC147", "common", "Counting", "2d", "CNT_SYS", M.fsc147, "mae",
    gt_fields=("num",), gt_checks=(checks.count,), unit="absolute error", higher_is_better=False,
    baseline=common.mean_count,
    reference={"LLaVA": 56.2, "MiniGPT-4": None, "mPLUG-Owl": 60.67, "LAMM": 46.88},
    mini=Mini(
        "counting", "fsc147_images", record=_record,
        oracle=lambda rec, size, answer: answer("counting", {"label": "object", "count": rec["num"]}),
        probe=("counting", lambda item: str(len(item.info["shapes"]))),
    ),
)  # fmt: skip
