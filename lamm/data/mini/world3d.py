"""LAMM-Mini 3D scenes: primitive objects on a floor, as point clouds in the official ScanNet layout.

Axes (as ``lamm.formats.pointcloud``): metres, z up, floor at z = 0; seen from the viewer, +x is right and
+y is away (so "left of" = smaller x, "behind" = larger y). Objects are axis-aligned; their boxes are
``[cx, cy, cz, dx, dy, dz]`` (centre, full extents), the official 3D box layout. Points are sampled
uniformly on each primitive's surface (area-weighted), with Gaussian noise of ``NOISE`` metres, and
stored as float32 N x 6 rows ``x, y, z, r, g, b`` with colours in 0..255.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lamm.data.c4.builders import article
from lamm.protocol.prompts import plural

PRIMITIVES: tuple[str, ...] = ("box", "sphere", "cylinder", "cone", "pyramid")
COLORS3D: dict[str, tuple[int, int, int]] = {
    "red": (210, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220),
    "yellow": (235, 210, 40), "purple": (140, 50, 180), "orange": (240, 130, 30),
}  # fmt: skip
FLOOR_RGB = (128, 118, 105)
ROOM = 1.6  # floor spans [-ROOM, ROOM] in x and y
GRID = (-1.0, 0.0, 1.0)  # objects stand on a 3 x 3 grid of cells (x and y), jittered by up to JITTER m
JITTER = 0.0
SCENE_OBJECTS = (2, 3)  # objects per scene (min, max)
NOISE = 0.004


@dataclass
class Obj3D:
    label: str
    color: str
    center: tuple[float, float, float]
    extent: tuple[float, float, float]  # full sizes along x, y, z

    def bbox(self) -> list[float]:
        return [round(float(v), 3) for v in (*self.center, *self.extent)]

    @property
    def height(self) -> float:
        return self.extent[2]

    @property
    def volume(self) -> float:
        return self.extent[0] * self.extent[1] * self.extent[2]

    def name(self) -> str:
        return f"{self.color} {self.label}"


# --------------------------------------------------------------------------- surface sampling
def _triangles(rng: np.random.Generator, tris: np.ndarray, n: int) -> np.ndarray:
    """n points uniformly on triangles ``tris`` [T, 3, 3] (area-weighted)."""
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    idx = rng.choice(len(tris), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return a[idx] + u[:, None] * (b[idx] - a[idx]) + v[:, None] * (c[idx] - a[idx])


def _box_tris(dx: float, dy: float, dz: float) -> np.ndarray:
    x, y, z = dx / 2, dy / 2, dz
    p = np.array(
        [[-x, -y, 0], [x, -y, 0], [x, y, 0], [-x, y, 0], [-x, -y, z], [x, -y, z], [x, y, z], [-x, y, z]]
    )
    faces = [(0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    return np.array(
        [[p[a], p[b], p[c]] for a, b, c, d in faces] + [[p[a], p[c], p[d]] for a, b, c, d in faces]
    )


def sample_surface(
    rng: np.random.Generator, label: str, extent: tuple[float, float, float], n: int
) -> np.ndarray:
    """n points on the surface of a primitive standing on z = 0, centred on x = y = 0."""
    dx, dy, dz = extent
    if label == "box":
        return _triangles(rng, _box_tris(dx, dy, dz), n)
    if label == "pyramid":
        x, y = dx / 2, dy / 2
        base = np.array([[-x, -y, 0], [x, -y, 0], [x, y, 0], [-x, y, 0]])
        apex = np.array([0, 0, dz])
        tris = [[base[i], base[(i + 1) % 4], apex] for i in range(4)] + [
            [base[0], base[1], base[2]],
            [base[0], base[2], base[3]],
        ]
        return _triangles(rng, np.array(tris), n)
    if label == "sphere":
        v = rng.normal(size=(n, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v * [dx / 2, dy / 2, dz / 2] + [0, 0, dz / 2]
    r, h = dx / 2, dz
    t = rng.uniform(0, 2 * math.pi, n)
    if label == "cylinder":
        side, top = 2 * math.pi * r * h, math.pi * r * r
        on_side = rng.random(n) < side / (side + top)
        rad = np.where(on_side, r, r * np.sqrt(rng.random(n)))
        z = np.where(on_side, rng.uniform(0, h, n), h)
        return np.stack([rad * np.cos(t), rad * np.sin(t), z], 1)
    if label == "cone":
        slant = math.hypot(r, h)
        side, base = math.pi * r * slant, math.pi * r * r
        on_side = rng.random(n) < side / (side + base)
        s = np.sqrt(rng.random(n))  # area-uniform along the cone: radius grows linearly from the apex
        rad = np.where(on_side, r * s, r * np.sqrt(rng.random(n)))
        z = np.where(on_side, h * (1 - s), 0.0)
        return np.stack([rad * np.cos(t), rad * np.sin(t), z], 1)
    raise ValueError(f"unknown primitive {label!r}; known: {PRIMITIVES}")


def _surface_area(label: str, extent: tuple[float, float, float]) -> float:
    dx, dy, dz = extent
    if label == "box":
        return 2 * (dx * dy + dx * dz + dy * dz)
    if label == "sphere":
        return math.pi * dx * dx
    r = dx / 2
    if label == "cylinder":
        return 2 * math.pi * r * dz + math.pi * r * r
    if label == "cone":
        return math.pi * r * math.hypot(r, dz) + math.pi * r * r
    return dx * dy + 2 * dx * math.hypot(dy / 2, dz)  # pyramid (approx.)


def _colored(
    rng: np.random.Generator, xyz: np.ndarray, rgb: tuple[int, int, int], jitter: float = 12.0
) -> np.ndarray:
    col = np.clip(np.array(rgb, np.float64) + rng.normal(0, jitter, size=(len(xyz), 3)), 0, 255)
    return np.concatenate([xyz, np.round(col)], 1)


# --------------------------------------------------------------------------- objects and scenes
def random_extent(rng: np.random.Generator, label: str) -> tuple[float, float, float]:
    """Sizes in metres (large enough to hold several FPS groups); round primitives have equal x/y extents."""
    w = float(rng.uniform(0.6, 0.85))
    if label == "box":
        return (w, float(rng.uniform(0.6, 0.85)), float(rng.uniform(0.5, 0.9)))
    if label == "sphere":
        return (w, w, w)
    return (w, w, float(rng.uniform(0.5, 1.0)))  # cylinder, cone, pyramid


def place_objects(rng: np.random.Generator, specs: list[tuple[str, str]]) -> list[Obj3D] | None:
    """Put objects (label, color) on distinct cells of the 3 x 3 floor grid, jittered; None if > 9."""
    cells = [(x, y) for x in GRID for y in GRID]
    if len(specs) > len(cells):
        return None
    picks = rng.choice(len(cells), size=len(specs), replace=False)
    objs: list[Obj3D] = []
    for (label, color), c in zip(specs, picks):
        ext = random_extent(rng, label)
        cx, cy = (float(v + rng.uniform(-JITTER, JITTER)) for v in cells[int(c)])
        objs.append(Obj3D(label, color, (cx, cy, ext[2] / 2), ext))
    return objs


def random_specs(rng: np.random.Generator, k: int) -> list[tuple[str, str]]:
    """k objects with pairwise distinct shapes and pairwise distinct colours (each names one object)."""
    labels = rng.choice(len(PRIMITIVES), size=k, replace=False)
    colors = rng.choice(len(COLORS3D), size=k, replace=False)
    names = list(COLORS3D)
    return [(PRIMITIVES[int(i)], names[int(j)]) for i, j in zip(labels, colors)]


def scene_points(
    rng: np.random.Generator, objs: list[Obj3D], n: int, *, return_owner: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """float32 [n, 6]: floor (about 25 %) + every object's surface, area-weighted, with noise.

    With ``return_owner`` also the index of the object each point belongs to (-1 = floor).
    """
    n_floor = max(16, n // 4)
    areas = np.array([_surface_area(o.label, o.extent) for o in objs])
    rest = n - n_floor
    counts = np.maximum(32, np.floor(rest * areas / areas.sum()).astype(int))
    n_floor = n - int(counts.sum())
    if n_floor < 0:
        raise ValueError(f"{n} points are too few for {len(objs)} objects (need >= {int(counts.sum()) + 16})")
    floor = np.concatenate([rng.uniform(-ROOM, ROOM, size=(n_floor, 2)), np.zeros((n_floor, 1))], 1)
    parts = [_colored(rng, floor, FLOOR_RGB, 8.0)]
    for o, c in zip(objs, counts):
        xyz = sample_surface(rng, o.label, o.extent, int(c)) + [o.center[0], o.center[1], 0.0]
        parts.append(_colored(rng, xyz, COLORS3D[o.color]))
    pts = np.concatenate(parts, 0)
    pts[:, :3] += rng.normal(0, NOISE, size=(len(pts), 3))
    owner = np.repeat(np.arange(-1, len(objs)), [n_floor, *counts])
    perm = rng.permutation(len(pts))
    pts = pts[perm].astype(np.float32)
    return (pts, owner[perm]) if return_owner else pts


def object_points(rng: np.random.Generator, label: str, color: str, n: int) -> np.ndarray:
    """A single object (ShapeNet-like classification sample), centred at the origin, z up."""
    ext = random_extent(rng, label)
    xyz = sample_surface(rng, label, ext, n) - [0, 0, ext[2] / 2]
    xyz = xyz + rng.normal(0, NOISE, size=xyz.shape)
    return _colored(rng, xyz, COLORS3D[color]).astype(np.float32)


def make_scene(rng: np.random.Generator, k: tuple[int, int] | None = None) -> list[Obj3D]:
    k = k or SCENE_OBJECTS
    for _ in range(50):
        objs = place_objects(rng, random_specs(rng, int(rng.integers(k[0], k[1] + 1))))
        if objs is not None:
            return objs
    raise RuntimeError("could not place the objects of a 3D scene")  # pragma: no cover


# --------------------------------------------------------------------------- language
def relation3d(a: Obj3D, b: Obj3D) -> str:
    """Dominant horizontal relation of a to b from the viewer: left of / right of / in front of / behind."""
    dx, dy = a.center[0] - b.center[0], a.center[1] - b.center[1]
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "in front of" if dy < 0 else "behind"


def unique(objs: list[Obj3D]) -> list[Obj3D]:
    """Objects whose colour + shape name is not shared with another object (safe to refer to by name)."""
    names = [o.name() for o in objs]
    return [o for o in objs if names.count(o.name()) == 1]


def the(o: Obj3D) -> str:
    return f"the {o.color} {o.label}"


def grounding_scene(rng: np.random.Generator) -> tuple[list[Obj3D], Obj3D, str]:
    """A scene, a target and a referring expression with a spatial relation that picks it out.

    Every object of a scene has its own colour and shape, so the target's name already identifies it;
    the relation to another object is true and adds a spatial cue.
    """
    objs = make_scene(rng)
    return objs, objs[0], refer(objs[0], objs[1])


def refer(target: Obj3D, anchor: Obj3D) -> str:
    """A referring expression such as "The red sphere left of the blue box."."""
    expr = f"{the(target)} {relation3d(target, anchor)} {the(anchor)}."
    return expr[0].upper() + expr[1:]


def scanqa_question(objs: list[Obj3D], rng: np.random.Generator) -> dict:
    """Multiple choice (5-6 options, letters A-F) about one scene: ``{question, choices, answer, rationale}``.

    Questions are answerable from the cloud: the colour of a named shape, the shape of a named colour
    (both unique in a scene, see ``random_specs``) or the number of objects. The options are the whole
    vocabulary of the question type in a fixed order (``COLORS3D``, ``PRIMITIVES``, 1-6), so the letter
    follows from the answer alone: a tiny model has to read the cloud, not also match option texts.
    The ``rationale`` (the first-pass training answer) is the short answer itself, as ScanQA's answers are
    short phrases: the whole first answer is the cloud-dependent word, and the second pass repeats it.
    """
    kind = str(rng.choice(["color", "shape", "count"], p=[0.4, 0.4, 0.2]))
    o = objs[int(rng.integers(len(objs)))]
    if kind == "color":
        q, correct, choices = f"What color is the {o.label}?", o.color, list(COLORS3D)
    elif kind == "shape":
        q, correct, choices = f"What shape is the {o.color} object?", o.label, list(PRIMITIVES)
    else:
        q, correct, choices = (
            "How many objects are on the floor?",
            str(len(objs)),
            [str(i) for i in range(1, 7)],
        )
    return {"question": q, "choices": choices, "answer": choices.index(correct), "rationale": correct}


def describe3d(objs: list[Obj3D]) -> str:
    """A detailed description of a scene (description3d)."""
    by_x = sorted(objs, key=lambda o: o.center[0])
    parts = [f"The point cloud shows {len(objs)} objects standing on a flat floor."]
    for o in by_x:
        parts.append(
            f"There is {article(o.color)} {o.color} {o.label} about {o.height:.1f} meters tall at "
            f"x = {o.center[0]:.1f}, y = {o.center[1]:.1f}."
        )
    tall = max(objs, key=lambda o: o.height)
    parts.append(f"From left to right: {', '.join(the(o) for o in by_x)}. The tallest one is {the(tall)}.")
    return " ".join(parts)


def conversation3d(objs: list[Obj3D], rng: np.random.Generator) -> list[tuple[str, str]]:
    """2-4 question/answer pairs about the scene."""
    names = ", ".join(f"{article(o.color)} {o.color} {o.label}" for o in objs)
    pool = [("What objects are in this scene?", f"The scene contains {names}."),
            ("How many objects are on the floor?", f"There are {len(objs)} objects on the floor.")]  # fmt: skip
    for o in unique(objs):
        pool.append((f"How tall is {the(o)}?", f"{the(o).capitalize()} is about {o.height:.1f} meters tall."))
    if len(unique(objs)) >= 2:
        a, b = unique(objs)[:2]
        pool.append((f"Where is {the(a)}?", f"{the(a).capitalize()} is {relation3d(a, b)} {the(b)}."))
    k = int(rng.integers(2, min(4, len(pool)) + 1))
    return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]


# --------------------------------------------------------------------------- the 3D-LLM suite (bench3d_suite)
SUITE_COLORS = ("red", "green", "blue")  # few colours, so "all the red objects" often names several
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def suite_scene(rng: np.random.Generator, k: tuple[int, int] = (3, 5)) -> list[Obj3D]:
    """3-5 objects whose colour + shape pairs are distinct but whose colours and shapes repeat, so a
    description can name 0..n objects ("all the red objects") while "the red cone" still names one."""
    n = int(rng.integers(k[0], k[1] + 1))
    pairs = [(lab, col) for lab in PRIMITIVES for col in SUITE_COLORS]
    picks = rng.choice(len(pairs), size=n, replace=False)
    objs = place_objects(rng, [pairs[int(i)] for i in picks])
    assert objs is not None  # n <= 5 < 9 cells
    return objs


def count_words(n: int) -> list[str]:
    """Accepted answers for a count: ``["2", "two"]``."""
    return [str(n), NUMBER_WORDS[n]] if n < len(NUMBER_WORDS) else [str(n)]


def open_question(objs: list[Obj3D], rng: np.random.Generator) -> dict:
    """ScanQA-style open-ended question: ``{question, answers, object_ids}`` (several accepted answers;
    the ids of the objects the question is about, as ScanQA's ``object_ids``)."""
    labels, colors = [o.label for o in objs], [o.color for o in objs]
    pool: list[dict] = [{"question": "How many objects are on the floor?", "answers": count_words(len(objs)),
                         "object_ids": list(range(len(objs)))}]  # fmt: skip
    for i, o in enumerate(objs):
        if labels.count(o.label) == 1:
            pool.append({"question": f"What color is the {o.label}?", "answers": [o.color, f"{o.color} color"],
                         "object_ids": [i]})  # fmt: skip
        if colors.count(o.color) == 1:
            pool.append({"question": f"What shape is the {o.color} object?",
                         "answers": [o.label, f"{o.color} {o.label}", f"{article(o.label)} {o.label}"],
                         "object_ids": [i]})  # fmt: skip
    for c in SUITE_COLORS:
        ids = [i for i, o in enumerate(objs) if o.color == c]
        pool.append({"question": f"How many {c} objects are there?", "answers": count_words(len(ids)),
                     "object_ids": ids})  # fmt: skip
    return pool[int(rng.integers(len(pool)))]


def _side(facing: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(sin, cos) of the angle from ``facing`` to ``v`` (z up: sin > 0 is on the left)."""
    f, v = facing / np.linalg.norm(facing), v / np.linalg.norm(v)
    return float(f[0] * v[1] - f[1] * v[0]), float(f @ v)


def situated_question(objs: list[Obj3D], rng: np.random.Generator) -> dict | None:
    """SQA3D-style: standing by one object, facing another, a question whose answer depends on that pose:
    ``{situation, question, answers, position, rotation, object_ids}`` or None when this scene has no
    unambiguous one (the caller draws another). ``rotation`` is the yaw quaternion ``[x, y, z, w]``."""
    if len(objs) < 3:
        return None
    a, b = (int(i) for i in rng.choice(len(objs), size=2, replace=False))
    here = np.array(objs[a].center[:2])
    facing = np.array(objs[b].center[:2]) - here
    sides = {}
    for i, o in enumerate(objs):
        if i in (a, b):
            continue
        s, c = _side(facing, np.array(o.center[:2]) - here)
        if abs(s) < 0.35 and c > 0:  # nearly straight ahead: neither left nor right
            return None
        sides[i] = "behind" if c < -0.8 else ("left" if s > 0 else "right")
    kinds = ["side", "count"]
    on = {k: [i for i, v in sides.items() if v == k] for k in ("left", "right", "behind")}
    if len(on["left"]) == 1:
        kinds.append("left")
    if len(on["right"]) == 1:
        kinds.append("right")
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "side":
        i = list(sides)[int(rng.integers(len(sides)))]
        if sides[i] == "behind":
            q, ans = f"Is {the(objs[i])} in front of me or behind me?", ["behind", "behind me"]
        else:
            q, ans = f"Is {the(objs[i])} on my left or on my right?", [sides[i], f"on my {sides[i]}"]
        ids = [i]
    elif kind == "count":
        side = str(rng.choice(["left", "right"]))
        ids = on[side]
        q, ans = f"How many objects are on my {side}?", count_words(len(ids))
    else:
        i = on[kind][0]
        q, ans, ids = f"What is on my {kind}?", [objs[i].name(), objs[i].label, the(objs[i])], [i]
    yaw = math.atan2(facing[1], facing[0])
    return {"situation": f"I am standing by {the(objs[a])} facing {the(objs[b])}.", "question": q,
            "answers": ans, "position": [round(float(here[0]), 3), round(float(here[1]), 3), 0.0],
            "rotation": [0.0, 0.0, round(math.sin(yaw / 2), 6), round(math.cos(yaw / 2), 6)],
            "object_ids": ids}  # fmt: skip


def nearest(objs: list[Obj3D], i: int) -> int:
    """Index of the object nearest to ``objs[i]`` (horizontally)."""
    d = [math.dist(o.center[:2], objs[i].center[:2]) if j != i else math.inf for j, o in enumerate(objs)]
    return int(np.argmin(d))


def dense_captions(objs: list[Obj3D], i: int) -> list[str]:
    """Scan2Cap-style reference descriptions of ``objs[i]``: shape, colour and its relation to the
    nearest object, in several annotator-like phrasings (all are references)."""
    t, n = objs[i], objs[nearest(objs, i)]
    rel = relation3d(t, n)
    return [f"this is {article(t.color)} {t.color} {t.label}. it is {rel} {the(n)}.",
            f"the {t.color} {t.label} is {rel} {the(n)}.",
            f"{article(t.color)} {t.color} {t.label} standing on the floor {rel} {the(n)}.",
            f"it is a {t.label} in {t.color}, {rel} {the(n)}."]  # fmt: skip


def multi_refer(objs: list[Obj3D], rng: np.random.Generator) -> dict:
    """Multi3DRefer-style description naming 0..n objects: ``{description, object_ids, eval_type}``.

    ``eval_type`` as Multi3DRefer: zero / single / multiple targets (``zt``, ``st``, ``mt``); for zero and
    single targets ``w_d`` when another object of a named or targeted shape is in the scene (a distractor
    of the same class), else ``wo_d``.
    """
    kind = str(rng.choice(["color", "shape", "both"]))
    c, lab = str(rng.choice(SUITE_COLORS)), str(rng.choice(PRIMITIVES))
    if kind == "color":
        ids, text = [i for i, o in enumerate(objs) if o.color == c], f"all the {c} objects"
    elif kind == "shape":
        ids, text = [i for i, o in enumerate(objs) if o.label == lab], f"all the {plural(lab)}"
    else:
        ids, text = (
            [i for i, o in enumerate(objs) if o.color == c and o.label == lab],
            f"all the {c} {plural(lab)}",
        )
    classes = {objs[i].label for i in ids} | ({lab} if kind != "color" else set())
    distract = any(o.label in classes for j, o in enumerate(objs) if j not in ids)
    et = "mt" if len(ids) > 1 else ("st" if ids else "zt") + ("_w_d" if distract else "_wo_d")
    return {"description": f"Find {text} in the room.", "object_ids": ids, "eval_type": et}
