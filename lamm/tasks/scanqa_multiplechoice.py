"""ScanQA multiple choice (jul23): options A-F, two-pass prompting as the 2D VQA datasets."""

from lamm.metrics import metrics3d as M3
from lamm.tasks import checks, common, vqa
from lamm.tasks.spec import DatasetSpec, Mini

SPEC = DatasetSpec(
    "ScanQA_multiplechoice", "common", "VQA", "3d", "VQA3D_SYS", M3.scanqa, "accuracy",
    gt_fields=("gt_choice", "gt_choices"), gt_checks=(checks.choice(max_options=6),),
    prompting="two_pass", baseline=common.random_choice, ground_truth_words=common.choice_words,
    reference={"LAMM": 24.90},
    mini=Mini("objects", "scannet_pcls", record=vqa.mini_record("question"), oracle=vqa.oracle),
)  # fmt: skip
