"""AI2D diagrams, multiple choice A-E."""

from lamm.metrics import metrics2d as M
from lamm.tasks import checks, common, vqa
from lamm.tasks.spec import DatasetSpec, Mini

SPEC = DatasetSpec(
    "AI2D", "common", "VQA", "2d", "VQA_SYS", M.vqa, "accuracy",
    gt_fields=("gt_choice", "gt_choices"), gt_checks=(checks.choice(),),
    prompting="two_pass", baseline=common.random_choice, ground_truth_words=common.choice_words,
    reference={"LLaVA": 18.13, "mPLUG-Owl": 19.31, "LAMM": 20.92, "MiniGPT-4": None},
    mini=Mini("diagram", "ai2d_images", record=vqa.mini_record("ai2d_question"), oracle=vqa.oracle),
)  # fmt: skip
