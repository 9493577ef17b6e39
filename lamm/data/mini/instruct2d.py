"""LAMM-Mini 2D instruction data: C1 daily dialogue, C2 factual knowledge, C3 detailed description and
C4 vision-task dialogue for every benchmark task, in the official 2D instruction schema (LAMM_FORMATS §1.1).

Files (``<n>`` = samples per task, e.g. ``2k``): ``daily_dialogue_<n>.json`` (task_type conversation),
``factual_knowledge_dialogue_<n>.json`` (commomsenseqa), ``detailed_description_<n>.json`` (description),
``vision_task_dialogue_<n>.json`` (C4, task types from ``lamm.data.c4.TASK_TYPES``) and the shuffled
union ``LAMM_instruct_<total>.json``. Images live under ``2D_Instruct/<task>_images/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lamm.data.c4 import c4_conversation, task_type
from lamm.data.c4.builders import article
from lamm.data.mini import world2d as W
from lamm.data.mini.common import Stats, count_label, pixels_hash, record_rng, save_png
from lamm.formats.jsonio import write_json_official
from lamm.progress import progress_bar

Conv = list[dict[str, str]]

# ----------------------------------------------------------------------------- C1: daily dialogue
_OVERVIEW_QS = [
    "What can you see in this picture?",
    "What is in this image?",
    "Can you tell me what this image shows?",
]


def _listed(shapes: list[W.Shape]) -> str:
    names = [W.np_(s) for s in shapes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _daily_qa(info: dict, rng: np.random.Generator) -> list[tuple[str, str]]:
    shapes = sorted(info["shapes"], key=lambda s: s.cx)
    size, bg = info["size"], info["background"]
    pool: list[tuple[str, str]] = []
    for s in shapes:
        pool.append((f"What color is the {s.label}?", f"The {s.label} is {s.color}."))
        pool.append(
            (
                f"Where is the {s.label}?",
                f"The {s.label} is {W.where(s, size)} of the image.",
            )
        )
    present = {s.label for s in shapes}
    absent = [x for x in W.R.SHAPES if x not in present]
    x = str(rng.choice(absent))
    pool.append((f"Is there {article(x)} {x} in the image?", f"No, there is no {x} in the image."))
    s = shapes[int(rng.integers(len(shapes)))]
    pool.append(
        (
            f"Is there {article(s.label)} {s.label} in the image?",
            f"Yes, there is {W.np_(s)} {W.where(s, size)}.",
        )
    )
    n = len(shapes)
    pool.append(("How many shapes are there?", "There is 1 shape." if n == 1 else f"There are {n} shapes."))
    pool.append(("What color is the background?", f"The background is {bg}."))
    if n > 1:
        a, b = shapes[0], shapes[1]
        pool.append(
            (
                f"Where is the {a.label} relative to the {b.label}?",
                f"The {a.label} is {W.relation(a, b)} the {b.label}.",
            )
        )
    k = int(rng.integers(1, 4))
    picked = [pool[i] for i in rng.choice(len(pool), size=min(k, len(pool)), replace=False)]
    first = (str(rng.choice(_OVERVIEW_QS)), f"I can see {_listed(shapes)} on a {bg} background.")
    return [first] + picked if rng.random() < 0.6 else picked + [first]


def conversation(item: W.Item, rng: np.random.Generator) -> Conv:
    return _turns(_daily_qa(item.info, rng))


# ----------------------------------------------------------------------------- C2: factual knowledge
SHAPE_FACTS = {
    "circle": ("A circle has no straight sides and no corners.", "Every point of a circle is the same distance from its centre, like a wheel or a coin."),
    "square": ("A square has 4 equal sides and 4 right angles.", "Squares appear on chessboards, tiles and window panes."),
    "triangle": ("A triangle has 3 sides and 3 corners.", "The angles of a triangle always add up to 180 degrees; warning road signs are often triangles."),
    "star": ("This star shape has 5 points and 10 straight sides.", "Stars like this one are used on flags and as symbols of excellence."),
    "heart": ("A heart shape has 2 rounded lobes on top and a point at the bottom.", "The heart shape is a common symbol of love and affection."),
    "cross": ("This cross has 12 straight sides, with 2 bars meeting at right angles.", "A cross like this one is used as the symbol for first aid and for adding numbers."),
}  # fmt: skip
COLOR_FACTS = {
    "red": "Red is a warm color; it is used for stop signs and fire engines.",
    "green": "Green is the color of grass and leaves, and it often means go.",
    "blue": "Blue is the color of a clear sky and of the sea.",
    "yellow": "Yellow is the color of the sun and of ripe bananas.",
    "purple": "Purple is a mix of red and blue, and it was once a royal color.",
    "orange": "Orange is a mix of red and yellow, the color of oranges and carrots.",
}
SCENE_FACTS = {
    "agricultural": ("agricultural land", "Fields like these are used to grow crops such as wheat and corn; the stripes are plots of different crops."),
    "beach": ("a beach", "A beach is a sandy strip of land next to the sea, where waves wash onto the shore."),
    "buildings": ("buildings", "Buildings seen from above show their roofs; dense buildings usually mean a town or a city."),
    "forest": ("a forest", "A forest is a large area covered mostly with trees; seen from above the tree crowns look like green blobs."),
    "freeway": ("a freeway", "A freeway is a wide road with several lanes for fast traffic and no crossings."),
    "river": ("a river", "A river is a natural stream of fresh water flowing towards a lake or the sea."),
}  # fmt: skip


def commonsense(item: W.Item, rng: np.random.Generator) -> Conv:
    if item.kind == "scene":
        name, fact = SCENE_FACTS[item.info["label"]]
        q1 = str(
            rng.choice(
                ["What kind of place is shown in this aerial image?", "What does this aerial photo show?"]
            )
        )
        return _turns([(q1, f"This aerial image shows {name}."), (f"Tell me something about {name}.", fact)])
    s = item.info["shapes"][0]
    sides, use = SHAPE_FACTS[s.label]
    q1 = str(rng.choice(["What shape is this?", "What is shown in the image?", "Which shape do you see?"]))
    pool = [
        (f"How many sides does a {s.label} have?", sides),
        (f"Where can we see shapes like this {s.label}?", use),
        (f"What do you know about the color {s.color}?", COLOR_FACTS[s.color]),
    ]
    k = int(rng.integers(1, 3))
    picked = [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]
    return _turns([(q1, f"It is {W.np_(s)}.")] + picked)


# ----------------------------------------------------------------------------- C3: detailed description
_DESC_QS = [
    "Describe this image in detail.",
    "Give a detailed description of the image.",
    "Can you describe everything you see in this picture?",
    "Explain what is in the image in detail.",
]


def detailed(item: W.Item, rng: np.random.Generator) -> Conv:
    return _turns([(str(rng.choice(_DESC_QS)), W.description(item.info, rng))])


# ----------------------------------------------------------------------------- C4: vision tasks
def _c4_ann(task: str, item: W.Item, rng: np.random.Generator) -> dict:
    info = item.info
    if task == "classification":
        return {"label": info["shapes"][0].label}
    if task == "fine_grained":
        return {"label": info["label"]}
    if task == "detection":
        return {"objects": W.shape_objects(info)}
    if task == "locating":
        return {"objects": W.shape_points(info)}
    if task == "counting":
        return W.count_ann(info)
    if task == "ocr":
        return {"words": info["words"]}
    if task == "keypoints":
        if rng.random() < 0.25:  # Locating_LSP asks for "the hip"
            return {"joints": {"hip": W.hip_point(info, info["size"])}}
        return {"joints": W.norm_joints(info)}
    if task in ("vqa", "vqa_answer"):
        return W.ai2d_question(info, rng) if item.kind == "diagram" else W.sqa_question(info, rng)
    if task == "caption":
        return {"captions": W.captions(info)}
    if task == "facial":
        return {"smile": info["smile"], "hair": info["hair"]}
    raise KeyError(task)


# task -> (file group, [(scene kind, probability)], builder)
TASKS: dict[str, tuple[str, list[tuple[str, float]], Callable | None]] = {
    "conversation": ("daily_dialogue", [("shapes", 1.0)], conversation),
    "commonsense": ("factual_knowledge_dialogue", [("single", 0.7), ("scene", 0.3)], commonsense),
    "description": ("detailed_description", [("shapes", 1.0)], detailed),
    "classification": ("vision_task_dialogue", [("single", 1.0)], None),
    "fine_grained": ("vision_task_dialogue", [("scene", 1.0)], None),
    "detection": ("vision_task_dialogue", [("shapes", 1.0)], None),
    "locating": ("vision_task_dialogue", [("shapes", 0.5), ("counting", 0.5)], None),
    "counting": ("vision_task_dialogue", [("counting", 1.0)], None),
    "ocr": ("vision_task_dialogue", [("word", 1.0)], None),
    "keypoints": ("vision_task_dialogue", [("figure", 1.0)], None),
    "vqa": ("vision_task_dialogue", [("shapes", 0.5), ("diagram", 0.5)], None),
    "vqa_answer": ("vision_task_dialogue", [("shapes", 0.5), ("diagram", 0.5)], None),  # 2nd VQA pass
    "caption": ("vision_task_dialogue", [("shapes", 1.0)], None),
    "facial": ("vision_task_dialogue", [("face", 1.0)], None),
}
GROUP_TYPES = {
    "daily_dialogue": "conversation",
    "factual_knowledge_dialogue": "commomsenseqa",
    "detailed_description": "description",
}


def _turns(qa: list[tuple[str, str]]) -> Conv:
    conv: Conv = []
    for i, (q, a) in enumerate(qa):
        conv.append({"from": "human", "value": ("<image>\n" if i == 0 else "") + q})
        conv.append({"from": "gpt", "value": a})
    return conv


def instruct_sample(
    task: str, index: int, seed: int, size: int, avoid: set[str] = frozenset()
) -> tuple[dict, W.Item]:
    """Sample ``index`` of one instruction task (train split); re-drawn if its pixels equal a test image."""
    group, kinds, builder = TASKS[task]
    for attempt in range(100):
        rng = record_rng(seed, "train", f"instruct/{task}", index, attempt)
        kind = (
            kinds[0][0]
            if len(kinds) == 1
            else str(rng.choice([k for k, _ in kinds], p=[p for _, p in kinds]))
        )
        item = W.MAKERS[kind](rng, size)
        if pixels_hash(item.image) not in avoid:
            break
    else:  # pragma: no cover
        raise RuntimeError(f"instruct {task} #{index}: every attempt collided with a test image")
    if builder is None:
        conv, ttype = c4_conversation(task, _c4_ann(task, item, rng), rng), task_type(task)
    else:
        conv, ttype = builder(item, rng), GROUP_TYPES[group]
    sid = f"{task}_{index:06d}"
    rec = {
        "id": sid,
        "image": f"{task}_images/{sid}.png",
        "conversations": conv,
        "task_type": ttype,
        "src_image": "lamm-mini",
    }
    return rec, item


def write_instruct_2d(
    out: str | Path, *, seed: int, n: int, size: int, avoid: set[str] = frozenset(), progress: bool = True
) -> Stats:
    """Write ``out/2D_Instruct``: images + the per-type files + the shuffled union."""
    root = Path(out) / "2D_Instruct"
    stats = Stats()
    groups: dict[str, list[dict]] = {}
    with progress_bar(
        total=n * len(TASKS), desc="2D instruct", unit="sample", disable=not progress, leave=False
    ) as bar:
        for task, (group, _, _) in TASKS.items():
            for i in range(n):
                rec, item = instruct_sample(task, i, seed, size, avoid)
                save_png(item.image, root / rec["image"])
                groups.setdefault(group, []).append(rec)
                stats.records[f"2D_Instruct/{rec['task_type']}"] += 1
                stats.media += 1
                bar.update()
    union: list[dict] = []
    for group, recs in groups.items():
        path = root / "meta_file" / f"{group}_{count_label(len(recs))}.json"
        write_json_official(path, recs)
        stats.files.append(str(path))
        union += recs
    order = np.random.default_rng([seed, 7]).permutation(len(union))
    path = root / "meta_file" / f"LAMM_instruct_{count_label(len(union))}.json"
    write_json_official(path, [union[i] for i in order])
    stats.files.append(str(path))
    return stats


def union_file(out: str | Path) -> Path:
    """The union instruction file of a LAMM-Mini build (what ``lamm train`` should read)."""
    files = sorted((Path(out) / "2D_Instruct" / "meta_file").glob("LAMM_instruct_*.json"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"expected one LAMM_instruct_*.json under {out}/2D_Instruct/meta_file, found {len(files)}"
        )
    return files[0]
