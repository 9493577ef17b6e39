"""ScienceQA (image subset), multiple choice A-E."""

from lamm.metrics import metrics2d as M
from lamm.tasks import checks, common, vqa
from lamm.tasks.spec import DatasetSpec, Mini

SPEC = DatasetSpec(
    "SQAimage", "common", "VQA", "2d", "VQA_SYS", M.vqa, "accuracy",
    gt_fields=("gt_choice", "gt_choices"), gt_checks=(checks.choice(),), alt_meta_files=("VQA_ScienceQA.json",),
    prompting="two_pass", baseline=common.random_choice, ground_truth_words=common.choice_words,
    reference={"LLaVA": 40.5, "MiniGPT-4": 43.43, "mPLUG-Owl": 36.39, "LAMM": 49.88},
    mini=Mini("shapes", "sqaimage_images", record=vqa.mini_record("sqa_question"), oracle=vqa.oracle),
)  # fmt: skip
