"""SQA3D situated QA (the 3D-LLM suite): EM after LEO's answer cleaning (headline, fraction), refined EM
and EM per question type where the record has one (``lamm.metrics.qa3d.sqa3d_em``).

Asked with suite3d_prompts.json ``SQA3D``: LAMM's VQA3D_SYS, ``<situation> <question>`` + the short-answer
suffix (Chat-Scene, Video-3D LLM); the pose is not given to the model.
"""

from lamm.formats.suite3d import check_sqa3d_record
from lamm.metrics import qa3d
from lamm.tasks import common
from lamm.tasks.spec import SUITE3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "SQA3D", "common", "VQA", "3d", "SQA3D", qa3d.sqa3d_em, "em", sys_group=SUITE3D,
    gt_fields=("situation", "question", "answers"), gt_checks=(check_sqa3d_record,),
    baseline=common.majority("answers", pick=common.first), ground_truth_words=common.answers_words,
    columns=(("SQA3D EM", "value", "fraction"), ("SQA3D EM-refined", "em_refined", "fraction")),
    mini=Mini("suite", "scannet_pcls", None, oracle=lambda rec, size, answer: rec["answers"][0],
              generate="sqa3d_record"),
)  # fmt: skip
