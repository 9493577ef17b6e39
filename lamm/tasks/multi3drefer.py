"""Multi3DRefer multi-object grounding (the 3D-LLM suite): F1@0.5 (headline) and F1@0.25, fractions,
predicted and gt boxes Hungarian-matched per description (``lamm.metrics.grounding3d.multi3drefer_f1``,
M3DRef-CLIP's evaluator).

Asked with suite3d_prompts.json ``Multi3DRefer`` (LAMM's VG3D_SYS; the VG3D_QS-style query asking for one
box per object, or None). An answer without a box predicts "no such object".
"""

from lamm.formats.suite3d import check_multi3drefer_record
from lamm.metrics import grounding3d as G
from lamm.tasks import common
from lamm.tasks.spec import SUITE3D, DatasetSpec, Mini

SPEC = DatasetSpec(
    "Multi3DRefer", "common", "VG", "3d", "Multi3DRefer", G.multi3drefer_f1, "f1@0.5", sys_group=SUITE3D,
    gt_fields=("description", "gt_bboxes", "eval_type"), gt_checks=(check_multi3drefer_record,),
    baseline=common.constant("None"), ground_truth_words=lambda raw: common.boxes_text(raw["gt_bboxes"]),
    columns=(("Multi3DRefer@0.25", "f1@0.25", "fraction"), ("Multi3DRefer@0.5", "value", "fraction")),
    mini=Mini("suite", "scannet_pcls", None, oracle=lambda rec, size, answer: common.boxes_text(rec["gt_bboxes"]),
              generate="multi3drefer_record"),
)  # fmt: skip
