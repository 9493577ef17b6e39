"""Scan2Cap dense captioning (the 3D-LLM suite): CIDEr@0.5 (headline), BLEU-4@0.5, ROUGE-L@0.5 and the
same @0.25, all x100 (``lamm.metrics.grounding3d.scan2cap_query_box``, Scan2Cap's m@kIoU protocol).

Asked with suite3d_prompts.json ``Scan2Cap``: the object is named by the box in the query (the record's
``box``, a detector proposal, or else its gt box; with gt boxes the IoU gate always passes and the
scores are the "gt boxes" upper bound, docs/pointcloud.md). The answer is the caption alone; the
references are the object's ScanRefer ``descriptions``. METEOR@0.5 is not computed (Java).
"""

from lamm.formats.suite3d import check_scan2cap_record
from lamm.metrics import grounding3d as G
from lamm.tasks import common
from lamm.tasks.spec import SUITE3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "Scan2Cap", "common", "Caption", "3d", "Scan2Cap", G.scan2cap_query_box, "cider@0.5", sys_group=SUITE3D,
    gt_fields=("object_id", "gt_bbox", "descriptions"), gt_checks=(check_scan2cap_record,), unit="x100",
    baseline=common.majority("descriptions", pick=common.first),
    ground_truth_words=lambda raw: " | ".join(raw["descriptions"]),
    columns=(
        ("Scan2Cap CIDEr@0.5", "value", "x100"), ("Scan2Cap BLEU-4@0.5", "bleu4@0.5", "x100"),
        ("Scan2Cap ROUGE-L@0.5", "rouge_l@0.5", "x100"), ("Scan2Cap METEOR@0.5", "", "x100"),
        ("Scan2Cap CIDEr@0.25", "cider@0.25", "x100"), ("Scan2Cap BLEU-4@0.25", "bleu4@0.25", "x100"),
        ("Scan2Cap ROUGE-L@0.25", "rouge_l@0.25", "x100"),
    ),
    mini=Mini("suite", "scannet_pcls", None, oracle=lambda rec, size, answer: rec["descriptions"][0],
              generate="scan2cap_record"),
)  # fmt: skip
