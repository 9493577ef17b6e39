"""Where the published zero-shot numbers in the task files (``DatasetSpec.reference``) come from.

Percent (FSC147 is MAE, lower is better; None = "Failed" in the paper). Source: LAMM project
documentation, "Comparison of Multimodal Large Language Models on 2D computer vision tasks" and
"Results of 3D tasks by LAMM" (github.com/OpenLAMM/openlamm.github.io, docs/LAMM-Benchmark.md, commit
c2b5855), the tables of the LAMM paper (arXiv:2306.06687). The paper labels VOC2012 "mAP" and SQAimage
"Acc"; the official code computes recall@0.5 / accuracy.
"""

REFERENCE_SOURCE = (
    "LAMM paper (arXiv:2306.06687) as published in the project documentation: "
    "github.com/OpenLAMM/openlamm.github.io docs/LAMM-Benchmark.md (zero-shot)"
)
MODELS = ("LLaVA", "MiniGPT-4", "mPLUG-Owl", "LAMM")  # the paper's row order
LOCATING = "Locating"  # the pooled binary locating metric over the v1 locating datasets
LOCATING_REFERENCE = {"LLaVA": 14.73, "MiniGPT-4": 13.12, "mPLUG-Owl": 4.42, "LAMM": 36.53}
