"""LAMM-Mini 2D scenes: each generator draws one image and returns its full annotation.

Scene kinds: ``single`` (one large shape), ``shapes`` (1-3 shapes of distinct classes), ``diagram``
(AI2D-like, outlined shapes of distinct sizes), ``counting`` (1-6 small shapes of one class), ``word``
(1-2 words in a built-in font), ``scene`` (aerial textures), ``face`` (smile + hair colour) and
``figure`` (stick figure with the 14 LSP joints). Sizes follow the learnability calibration of the
tiny model (issue 2): large shapes for classification, few well-separated ones for counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from lamm.data.c4.builders import article
from lamm.data.mini import render2d as R
from lamm.protocol.prompts import plural
from lamm.tasks.lsp import LSP_JOINTS

WORDS: tuple[str, ...] = (
    "open", "exit", "stop", "cafe", "bank", "hotel", "park", "shop", "sale", "taxi", "bus", "bar", "inn",
    "gym", "food", "pizza", "books", "music", "toys", "shoes", "fish", "milk", "bread", "tea", "wine",
    "gift", "hair", "golf", "zoo", "bike", "post", "mall", "club", "jazz", "art", "lab", "box", "city",
)  # fmt: skip


@dataclass
class Shape:
    label: str
    color: str
    cx: float  # pixels
    cy: float
    r: float
    box: tuple[int, int, int, int]  # exact pixel bbox, x2/y2 exclusive

    def bbox(self, size: int) -> list[float]:
        """Normalised [x1, y1, x2, y2] (LAMM VOC convention)."""
        return [round(v / size, 4) for v in self.box]

    def point(self, size: int) -> list[float]:
        """Normalised centre of the bbox (strictly inside it)."""
        x1, y1, x2, y2 = self.box
        return [round((x1 + x2) / 2 / size, 4), round((y1 + y2) / 2 / size, 4)]

    def center_px(self) -> list[float]:
        x1, y1, x2, y2 = self.box
        return [round((x1 + x2) / 2, 2), round((y1 + y2) / 2, 2)]


@dataclass
class Item:
    """One rendered image and everything known about it."""

    kind: str
    image: Image.Image
    info: dict[str, Any] = field(default_factory=dict)

    # what the benchmark task files (lamm.tasks) read of an item, so they need no world import
    def shape_objects(self) -> list[dict]:
        return shape_objects(self.info)

    def captions(self) -> list[str]:
        return captions(self.info)

    def sqa_question(self, rng: np.random.Generator) -> dict:
        return sqa_question(self.info, rng)

    def ai2d_question(self, rng: np.random.Generator) -> dict:
        return ai2d_question(self.info, rng)


def _shapes_image(
    rng: np.random.Generator,
    size: int,
    labels: list[str],
    radii: list[float],
    *,
    gap: float,
    background: str | None = None,
    colors: list[str] | None = None,
    outline: bool = False,
    rotate: float = 0.26,
) -> tuple[Image.Image, str, list[Shape]] | None:
    bg = background or str(rng.choice(list(R.BACKGROUNDS)))
    centres = R.place_circles(rng, size, radii, margin=1.12, gap=gap)
    if centres is None:
        return None
    img = Image.new("RGB", (size, size), R.background_rgb(rng, bg))
    palette = R.colors_for(bg)
    if colors is None:
        colors = [str(c) for c in rng.choice(palette, size=len(labels), replace=len(labels) > len(palette))]
    shapes = []
    for lab, col, r, (cx, cy) in zip(labels, colors, radii, centres):
        angle = 0.0 if lab == "circle" else float(rng.uniform(-rotate, rotate))
        box = R.draw_shape(
            img, lab, cx, cy, r, angle, R.jitter(rng, R.COLORS[col]), (20, 20, 20) if outline else None
        )
        shapes.append(Shape(lab, col, cx, cy, r, box))
    return img, bg, shapes


def _retry(fn, rng: np.random.Generator, what: str):
    for _ in range(50):
        out = fn()
        if out is not None:
            return out
    raise RuntimeError(f"could not place the shapes of a {what} scene")  # pragma: no cover


def make_single(rng: np.random.Generator, size: int) -> Item:
    """One large shape (radius 0.25-0.375 of the image: 16-24 px at 64 px)."""
    label = str(rng.choice(R.SHAPES))
    r = float(rng.uniform(0.25, 0.375)) * size
    img, bg, shapes = _retry(lambda: _shapes_image(rng, size, [label], [r], gap=0), rng, "single")
    return Item("single", img, {"background": bg, "shapes": shapes, "size": size})


_MULTI_R = {1: (0.2, 0.3), 2: (0.15, 0.23), 3: (0.13, 0.18)}


def make_shapes(rng: np.random.Generator, size: int, n: tuple[int, int] = (1, 3)) -> Item:
    """1-3 shapes of distinct classes, not touching; radius 0.2-0.3 of the image for one shape,
    0.15-0.23 for two and 0.13-0.18 for three."""
    k = int(rng.integers(n[0], n[1] + 1))
    labels = [str(x) for x in rng.choice(R.SHAPES, size=k, replace=False)]

    def attempt():
        radii = list(rng.uniform(*_MULTI_R[k], size=k) * size)
        return _shapes_image(rng, size, labels, radii, gap=0.04 * size)

    img, bg, shapes = _retry(attempt, rng, "shapes")
    return Item("shapes", img, {"background": bg, "shapes": shapes, "size": size})


def make_diagram(rng: np.random.Generator, size: int) -> Item:
    """AI2D-like: 2-3 outlined shapes of clearly different sizes on white."""
    k = int(rng.integers(2, 4))
    labels = [str(x) for x in rng.choice(R.SHAPES, size=k, replace=False)]
    base = [0.10, 0.14, 0.19] if k == 3 else [0.13, 0.22]
    order = rng.permutation(k)

    def attempt():
        radii = [base[i] * size * rng.uniform(0.95, 1.05) for i in order]
        return _shapes_image(rng, size, labels, radii, gap=0.05 * size, background="white", outline=True)

    img, bg, shapes = _retry(attempt, rng, "diagram")
    return Item("diagram", img, {"background": bg, "shapes": shapes, "size": size})


def make_counting(rng: np.random.Generator, size: int, max_count: int = 6) -> Item:
    """1-``max_count`` small shapes of one class and colour, well separated."""
    n = int(rng.integers(1, max_count + 1))
    label = str(rng.choice(R.SHAPES))
    bg = str(rng.choice(list(R.BACKGROUNDS)))
    color = str(rng.choice(R.colors_for(bg)))

    def attempt():
        radii = list(rng.uniform(0.08, 0.11, size=n) * size)
        return _shapes_image(
            rng, size, [label] * n, radii, gap=0.05 * size, background=bg, colors=[color] * n
        )

    img, bg, shapes = _retry(attempt, rng, "counting")
    return Item("counting", img, {"background": bg, "shapes": shapes, "size": size, "label": label})


def make_word(rng: np.random.Generator, size: int) -> Item:
    """1-2 words from a small sign vocabulary, one per line, dark on light or light on dark."""
    n = 1 if rng.random() < 0.6 else 2
    words = [str(w) for w in rng.choice(WORDS, size=n, replace=False)]
    scale = max(1, size // 32)
    masks = [R.text_mask(w, scale) for w in words]
    while max(m.shape[1] for m in masks) > size - 2 and scale > 1:
        scale -= 1
        masks = [R.text_mask(w, scale) for w in words]
    dark = rng.random() < 0.5
    bgv, fgv = (int(rng.integers(210, 250)), int(rng.integers(10, 60)))
    if dark:
        bgv, fgv = fgv, bgv
    arr = np.empty((size, size, 3), np.uint8)
    arr[:] = R.jitter(rng, (bgv,) * 3, 8)
    fg = np.array(R.jitter(rng, (fgv,) * 3, 8), np.uint8)
    line_h = masks[0].shape[0]
    gap = 2 * scale
    total_h = n * line_h + (n - 1) * gap
    y = int(rng.integers(1, max(2, size - total_h)))
    for m in masks:
        x = int(rng.integers(1, max(2, size - m.shape[1])))
        region = arr[y : y + m.shape[0], x : x + m.shape[1]]
        region[m[: region.shape[0], : region.shape[1]]] = fg
        y += line_h + gap
    return Item("word", Image.fromarray(arr), {"words": words, "size": size})


def make_scene(rng: np.random.Generator, size: int) -> Item:
    label = str(rng.choice(R.SCENES))
    return Item("scene", Image.fromarray(R.render_scene(rng, label, size)), {"label": label, "size": size})


def make_face(rng: np.random.Generator, size: int) -> Item:
    smile = bool(rng.random() < 0.5)
    hair = str(rng.choice(list(R.HAIR)))
    parts: dict = {}
    img = R.render_face(rng, size, smile, hair, parts)
    return Item("face", img, {"smile": smile, "hair": hair, "size": size, "parts": parts})


def make_figure(rng: np.random.Generator, size: int) -> Item:
    """A stick figure whose 14 joints all lie inside the image (pixels, LSP order)."""
    for _ in range(50):
        joints = R.figure_joints(rng, size)
        if all(1 <= x <= size - 2 and 1 <= y <= size - 2 for x, y in joints.values()):
            break
    else:  # pragma: no cover
        raise RuntimeError("could not fit a figure into the image")
    img = R.render_figure(rng, size, joints)
    rows = [[round(joints[n][0], 2), round(joints[n][1], 2), 1] for n in LSP_JOINTS]
    return Item("figure", img, {"joints": joints, "gt_joints": rows, "size": size})


MAKERS = {
    "single": make_single,
    "shapes": make_shapes,
    "diagram": make_diagram,
    "counting": make_counting,
    "word": make_word,
    "scene": make_scene,
    "face": make_face,
    "figure": make_figure,
}


# --------------------------------------------------------------------------- language about scenes
def position_phrase(s: Shape, size: int) -> str:
    """Where a shape is: 'upper left', 'center', 'right', ... (thirds of the image)."""
    col = ("left", "", "right")[min(2, int(3 * s.cx / size))]
    row = ("upper", "", "lower")[min(2, int(3 * s.cy / size))]
    if not col and not row:
        return "center"
    if not row:
        return col
    if not col:
        return {"upper": "top", "lower": "bottom"}[row]
    return f"{row} {col}"


def where(s: Shape, size: int) -> str:
    """'on the left', 'at the top', 'in the center', 'in the upper left'."""
    pos = position_phrase(s, size)
    if pos in ("left", "right"):
        return f"on the {pos}"
    if pos in ("top", "bottom"):
        return f"at the {pos}"
    return f"in the {pos}"


def relation(a: Shape, b: Shape) -> str:
    """Dominant spatial relation of a to b."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


def np_(s: Shape) -> str:
    """'a red circle'."""
    return f"{article(s.color)} {s.color} {s.label}"


def hip_point(info: dict, size: int) -> list[float]:
    j = info["joints"]
    return [
        round((j["right hip"][0] + j["left hip"][0]) / 2 / size, 4),
        round((j["right hip"][1] + j["left hip"][1]) / 2 / size, 4),
    ]


def captions(info: dict) -> list[str]:
    """Five reference captions for a 1-3 shape scene (left-to-right order)."""
    shapes = sorted(info["shapes"], key=lambda s: s.cx)
    bg = info["background"]
    size = info["size"]
    if len(shapes) == 1:
        s = shapes[0]
        return [
            f"A {s.color} {s.label} on a {bg} background.",
            f"{np_(s).capitalize()} {where(s, size)} of the image.",
            f"There is {np_(s)} on a {bg} background.",
            f"A picture of {np_(s)}.",
            f"A single {s.color} {s.label} against a {bg} background.",
        ]
    listed = ", ".join(np_(s) for s in shapes[:-1]) + " and " + np_(shapes[-1])
    a, b = shapes[0], shapes[1]
    return [
        f"{listed[0].upper() + listed[1:]} on a {bg} background.",
        f"{np_(a).capitalize()} {relation(a, b)} {np_(b)}.",
        f"{len(shapes)} shapes: {listed}.".replace("2 shapes", "Two shapes").replace(
            "3 shapes", "Three shapes"
        ),
        f"A {bg} picture with {listed}.",
        f"{np_(b).capitalize()} {relation(b, a)} {np_(a)} on a {bg} background.",
    ]


def description(info: dict, rng: np.random.Generator) -> str:
    """A detailed multi-sentence description (C3)."""
    shapes = sorted(info["shapes"], key=lambda s: s.cx)
    size = info["size"]
    n = len(shapes)
    head = "one shape" if n == 1 else f"{n} shapes"
    parts = [f"The image shows {head} on a plain {info['background']} background."]
    for s in shapes:
        big = "large" if s.r > 0.22 * size else "small" if s.r < 0.16 * size else "medium-sized"
        w = where(s, size)
        parts.append(f"{w[0].upper() + w[1:]} there is {article(big)} {big} {s.color} {s.label}.")
    if n > 1:
        a, b = shapes[0], shapes[-1]
        parts.append(f"The {a.color} {a.label} is {relation(a, b)} the {b.color} {b.label}.")
    if n == 1 and rng.random() < 0.5:
        parts.append(f"Nothing else is in the picture besides the {shapes[0].label}.")
    return " ".join(parts)


def sqa_question(info: dict, rng: np.random.Generator) -> dict:
    """A ScienceQA-like multiple-choice question about a 1-3 shape scene: ``{question, choices, answer,
    rationale}`` (a sentence ending with the answer's option text: what LAMM-Mini training answers say)."""
    shapes = info["shapes"]
    kind = str(rng.choice(["shape", "color", "count", "background"], p=[0.35, 0.35, 0.15, 0.15]))
    k = int(rng.integers(2, 6))  # number of options (A-B .. A-E)
    if kind == "shape":
        s = shapes[int(rng.integers(len(shapes)))]
        others = [x for x in R.SHAPES if x not in {t.label for t in shapes}]
        question = (
            "Which shape is in the image?" if len(shapes) == 1 else "Which of these shapes is in the image?"
        )
        correct, pool = s.label, others
        why = f"The image shows {article(s.label)} {s.label}."
    elif kind == "color":
        s = shapes[int(rng.integers(len(shapes)))]
        question, correct = f"What color is the {s.label}?", s.color
        pool = [c for c in R.COLORS if c != s.color]
        why = f"The {s.label} is {s.color}."
    elif kind == "count":
        question, correct = "How many shapes are in the image?", str(len(shapes))
        pool = [str(i) for i in range(1, 6) if i != len(shapes)]
        why = f"The number of shapes is {len(shapes)}."
    else:
        question, correct = "What color is the background?", info["background"]
        pool = [b for b in R.BACKGROUNDS if b != correct]
        why = f"The background is {correct}."
    return {**_mcq(rng, question, correct, pool, k), "rationale": why}


def _mcq(rng: np.random.Generator, question: str, correct: str, pool: list[str], k: int) -> dict:
    wrong = [str(x) for x in rng.choice(pool, size=min(k - 1, len(pool)), replace=False)]
    choices = wrong + [correct]
    choices = [choices[i] for i in rng.permutation(len(choices))]
    return {"question": question, "choices": choices, "answer": choices.index(correct)}


def ai2d_question(info: dict, rng: np.random.Generator) -> dict:
    """A diagram question about size or position with a clear margin."""
    shapes = info["shapes"]
    size = info["size"]
    asks = [
        ("Which shape is the largest?", max(shapes, key=lambda s: s.r), "The largest shape is"),
        ("Which shape is the smallest?", min(shapes, key=lambda s: s.r), "The smallest shape is"),
    ]
    for q, key, pick, says in (
        ("Which shape is furthest to the left?", lambda s: s.cx, min, "The shape furthest to the left is"),
        ("Which shape is furthest to the right?", lambda s: s.cx, max, "The shape furthest to the right is"),
        ("Which shape is at the top?", lambda s: s.cy, min, "The shape at the top is"),
        ("Which shape is at the bottom?", lambda s: s.cy, max, "The shape at the bottom is"),
    ):
        vals = sorted(key(s) for s in shapes)
        margin = vals[1] - vals[0] if pick is min else vals[-1] - vals[-2]
        if margin > 0.15 * size:
            asks.append((q, pick(shapes, key=key), says))
    question, target, says = asks[int(rng.integers(len(asks)))]
    present = [s.label for s in shapes]
    absent = [x for x in R.SHAPES if x not in present]
    extra = [str(x) for x in rng.choice(absent, size=int(rng.integers(0, 2)), replace=False)]
    choices = present + extra
    choices = [choices[i] for i in rng.permutation(len(choices))]
    return {
        "question": question, "choices": choices, "answer": choices.index(target.label),
        "rationale": f"{says} the {target.label}.",
    }  # fmt: skip


def shape_objects(info: dict) -> list[dict]:
    size = info["size"]
    return [{"label": s.label, "bbox": s.bbox(size)} for s in info["shapes"]]


def shape_points(info: dict) -> list[dict]:
    size = info["size"]
    return [{"label": s.label, "point": s.point(size)} for s in info["shapes"]]


def count_ann(info: dict) -> dict:
    return {"label": info["label"], "count": len(info["shapes"]), "plural": plural(info["label"])}


def norm_joints(info: dict) -> dict[str, list[float]]:
    size = info["size"]
    return {
        n: [round(info["joints"][n][0] / size, 4), round(info["joints"][n][1] / size, 4)] for n in LSP_JOINTS
    }
