"""The human side of C4: per-task paraphrase banks. The official benchmark query (LAMM_FORMATS §2) is one
entry of each bank, listed twice where the bank is short, so a model trained on these dialogues has seen
the exact benchmark wording and also variations of it."""

from __future__ import annotations

from lamm.protocol.prompts import prompt

_E2D = "eval_2d_v1_constants"
_E3D = "eval_3d_jul2023_constants"


def _p(group: str, name: str) -> str:
    return prompt(group, name)


def classification_qs() -> list[str]:
    return [
        _p(_E2D, "CLASSIFICATION_QS"),
        "What is the category label for this image?",
        "What is the main object in this image?",
        "Which category does this image belong to?",
        "Classify the image. What do you see?",
        "What kind of object is shown in the picture?",
    ]


def fine_grained_qs() -> list[str]:
    return [
        _p(_E2D, "FG_CLASSIFICATION_QS"),
        "What is the fine-grained category label for this image?",
        "What type of scene is shown in this image?",
        "Which fine-grained scene category does this image belong to?",
        "Classify this scene into its fine-grained category.",
    ]


def detection_qs() -> list[str]:
    qs, ins = _p(_E2D, "DETECTION_QS"), _p(_E2D, "DETECTION_INS")
    return [
        qs + ins,
        qs + ins,
        "Detect every object in the image and give its name and bounding box [x1, y1, x2, y2] "
        "with values between 0 and 1.",
        "Find all objects in this picture. For each one, give its category and its box as "
        "[x1, y1, x2, y2] in normalised coordinates.",
        "Where are the objects in this image? Answer with the name and bounding box of each object.",
    ]


def locating_qs() -> list[str]:
    qs, ins = _p(_E2D, "LOCATING_QS"), _p(_E2D, "LOCATING_INS")
    return [
        qs + ins,
        qs + ins,
        "Point to every object in the image. Give its name and its position [x, y] between 0 and 1.",
        "Locate the objects in this picture and give each one's centre as [x, y] in normalised coordinates.",
    ]


def counting_qs(plural_label: str) -> list[str]:
    qa, ins = _p(_E2D, "CNT_QA"), _p(_E2D, "CNT_INS")
    return [
        qa.format(plural_label) + " " + ins,
        qa.format(plural_label) + " " + ins,
        f"Count the {plural_label} in this image.",
        f"How many {plural_label} can you see?",
        f"What is the number of {plural_label} in the picture? Answer with a number.",
    ]


def ocr_qs() -> list[str]:
    qa, ins = _p(_E2D, "OCR_QA"), _p(_E2D, "OCR_INS")
    return [
        qa + " " + ins,
        qa + " " + ins,
        "What text is written in this image?",
        "Read the words in the picture.",
        "Which words appear in this image? List them.",
    ]


def keypoint_qs(name: str) -> list[str]:
    qs, ins = _p(_E2D, "KEYPOINTS_DET_QS"), _p(_E2D, "KEYPOINTS_DET_INS")
    return [
        qs.format(name) + " " + ins,
        qs.format(name) + " " + ins,
        f"Where is the {name} of the person? Give the position as [x, y] between 0 and 1.",
        f"Locate the {name} key point of the human body in [x, y] normalised coordinates.",
    ]


def caption_qs() -> list[str]:
    return [
        _p(_E2D, "CAPTION_QS"),
        _p(_E2D, "CAPTION_QS"),
        "Write a short caption for this image.",
        "Describe the image in one sentence.",
        "Give a brief caption of the picture.",
    ]


SMILE_QS = [
    "Is the person in the image smiling?",
    "Is the person smiling?",
    "Does the face in this image show a smile?",
    "Tell me whether the person in the picture is smiling.",
]
HAIR_QS = [
    "What is the hair color of the person in the image?",
    "What color is the person's hair?",
    "Which hair color does the person have?",
    "Describe the hair color of the person in the picture.",
]


def classification3d_qs() -> list[str]:
    return [
        "What is the category label for this point cloud?",
        "What object does this point cloud show?",
        "Classify the object in the point cloud.",
        "Which category does this 3D object belong to?",
    ]


def detection3d_qs() -> list[str]:
    qs, ins = _p(_E3D, "DETECTION3D_QS"), _p(_E3D, "DETECTION3D_INS")
    return [
        qs + ins,
        qs + ins,
        "Detect all objects in the scene and give each one's name and box [cx, cy, cz, length, width, "
        "height] in metres.",
        "Find every object in this point cloud. For each, give its category and its 3D bounding box.",
    ]


def grounding3d_qs(expression: str) -> list[str]:
    qs = _p(_E3D, "VG3D_QS")
    return [
        qs + expression,
        qs + expression,
        f"Find the object described as: {expression} Give its box [cx, cy, cz, length, width, height].",
        f"Where is {expression.rstrip('.')[:1].lower() + expression.rstrip('.')[1:]}? Answer with its 3D box.",
    ]
