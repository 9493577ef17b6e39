"""ScanQA open-ended (the 3D-LLM suite): EM (headline, fraction), LEO's refined EM, and CIDEr, BLEU-1..4,
ROUGE-L (x100) of the cleaned answers against all gt answers (``lamm.metrics.qa3d``, LEO's evaluator).

Asked with suite3d_prompts.json ``ScanQA``: LAMM's VQA3D_SYS, the question + the LLaVA-1.5 short-answer
suffix (Chat-Scene, GPT4Scene). METEOR is not computed (pycocoevalcap runs it in Java): its column is
listed with no result field, so a report shows it as unavailable.
"""

from lamm.formats.suite3d import check_scanqa_record
from lamm.metrics import qa3d
from lamm.tasks import common
from lamm.tasks.spec import SUITE3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "ScanQA", "common", "VQA", "3d", "ScanQA", qa3d.scanqa_em, "em", sys_group=SUITE3D,
    gt_fields=("question", "answers", "object_ids"), gt_checks=(check_scanqa_record,),
    baseline=common.majority("answers", pick=common.first), ground_truth_words=common.answers_words,
    columns=(
        ("ScanQA EM", "value", "fraction"), ("ScanQA EM-refined", "em_refined", "fraction"),
        ("ScanQA CIDEr", "cider", "x100"), ("ScanQA BLEU-1", "bleu1", "x100"), ("ScanQA BLEU-2", "bleu2", "x100"),
        ("ScanQA BLEU-3", "bleu3", "x100"), ("ScanQA BLEU-4", "bleu4", "x100"),
        ("ScanQA ROUGE-L", "rouge_l", "x100"), ("ScanQA METEOR", "", "x100"),
    ),
    mini=Mini("suite", "scannet_pcls", None, oracle=lambda rec, size, answer: rec["answers"][0],
              generate="scanqa_record"),
)  # fmt: skip
