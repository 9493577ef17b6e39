"""Drawing primitives of the LAMM-Mini 2D world: shapes, a built-in bitmap font, textures, faces, figures.

Everything is drawn with Pillow/NumPy from the caller's ``numpy.random.Generator`` only, so a record's
pixels depend on nothing but its seed. Geometry is relative to the image size ``S``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "heart", "cross")
COLORS: dict[str, RGB] = {
    "red": (220, 30, 30),
    "green": (30, 160, 40),
    "blue": (30, 60, 225),
    "yellow": (245, 215, 20),
    "purple": (150, 40, 190),
    "orange": (245, 125, 20),
}
# backgrounds: name -> (grey range); colours kept off a background they would not stand out on
BACKGROUNDS: dict[str, tuple[int, int]] = {"white": (225, 250), "black": (8, 40)}
_BAD_ON = {"white": {"yellow"}, "black": {"blue", "purple"}}


def colors_for(background: str) -> list[str]:
    """Colour names with high contrast on ``background``."""
    return [c for c in COLORS if c not in _BAD_ON[background]]


def background_rgb(rng: np.random.Generator, name: str) -> RGB:
    lo, hi = BACKGROUNDS[name]
    g = int(rng.integers(lo, hi + 1))
    tint = rng.integers(-6, 7, size=3)
    return tuple(int(np.clip(g + t, 0, 255)) for t in tint)  # type: ignore[return-value]


def jitter(rng: np.random.Generator, rgb: RGB, amount: int = 18) -> RGB:
    """A nearby shade, so colour names cover a small range rather than one exact value."""
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + v, 0, 255)) for c, v in zip(rgb, d))  # type: ignore[return-value]


# --------------------------------------------------------------------------- shapes
def _rotate(pts: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Outline of ``kind`` centred at (cx, cy) with "radius" r (about half its extent), rotated by angle."""
    if kind == "circle":
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif kind == "square":
        h = 0.85 * r
        pts = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    elif kind == "triangle":
        t = -math.pi / 2 + np.arange(3) * 2 * math.pi / 3
        pts = np.stack([np.cos(t), np.sin(t)], 1) * (1.15 * r) + [0, 0.15 * r]
    elif kind == "star":
        t = -math.pi / 2 + np.arange(10) * math.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, 1.1 * r, 0.45 * r)
        pts = np.stack([np.cos(t) * rad, np.sin(t) * rad], 1)
    elif kind == "heart":
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y + 2.5], 1) * (r / 16.0)
    elif kind == "cross":
        a, w = r, 0.36 * r
        pts = np.array(
            [
                [-w, -a],
                [w, -a],
                [w, -w],
                [a, -w],
                [a, w],
                [w, w],
                [w, a],
                [-w, a],
                [-w, w],
                [-a, w],
                [-a, -w],
                [-w, -w],
            ]
        )
    else:
        raise ValueError(f"unknown shape {kind!r}; known: {SHAPES}")
    pts = _rotate(pts, angle) + [cx, cy]
    return [(float(x), float(y)) for x, y in pts]


def draw_shape(
    img: Image.Image,
    kind: str,
    cx: float,
    cy: float,
    r: float,
    angle: float,
    fill: RGB,
    outline: RGB | None = None,
) -> tuple[int, int, int, int]:
    """Draw a filled shape; return its exact pixel bbox (x1, y1, x2, y2), x2/y2 exclusive."""
    poly = shape_polygon(kind, cx, cy, r, angle)
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).polygon(poly, fill=255, outline=255 if outline else None)
    img.paste(fill, (0, 0), mask)
    if outline:
        ImageDraw.Draw(img).polygon(poly, outline=outline)
    box = mask.getbbox()
    if box is None:
        raise ValueError(f"shape {kind} at ({cx:.1f}, {cy:.1f}) r={r:.1f} draws no pixels")
    return box


def place_circles(
    rng: np.random.Generator, size: int, radii: list[float], margin: float, gap: float, tries: int = 100
) -> list[tuple[float, float]] | None:
    """Centres for discs of the given radii inside the image, pairwise ``gap`` apart; None if it fails.

    Larger discs are placed first (far fewer failures); the result follows the order of ``radii``.
    """
    order = sorted(range(len(radii)), key=lambda i: -radii[i])
    placed: dict[int, tuple[float, float]] = {}
    for i in order:
        r = radii[i]
        lo, hi = r * margin, size - r * margin
        for _ in range(tries):
            x, y = (float(v) for v in rng.uniform(lo, hi, size=2))
            if all(math.hypot(x - a, y - b) > r + radii[j] + gap for j, (a, b) in placed.items()):
                placed[i] = (x, y)
                break
        else:
            return None
    return [placed[i] for i in range(len(radii))]


# --------------------------------------------------------------------------- bitmap font (5x7, A-Z)
_FONT = {
    "A": ".###.#...##...#######...##...##...#",
    "B": "####.#...#####.#...##...##...#####.",
    "C": ".####....#....#....#....#.....####.",
    "D": "####.#...##...##...##...##...#####.",
    "E": "######....####.#....#....#....#####",
    "F": "######....####.#....#....#....#....",
    "G": ".####....#....#..####...##...#.###.",
    "H": "#...##...#######...##...##...##...#",
    "I": "#####..#....#....#....#....#..#####",
    "J": "..###...#....#....#....##...#.###..",
    "K": "#...##..#.###..#.#..#..#.#...##...#",
    "L": "#....#....#....#....#....#....#####",
    "M": "#...###.###.#.##...##...##...##...#",
    "N": "#...###..##.#.##..###...##...##...#",
    "O": ".###.#...##...##...##...##...#.###.",
    "P": "####.#...##...#####.#....#....#....",
    "Q": ".###.#...##...##...##.#.##..#..##.#",
    "R": "####.#...##...#####.#.#..#..#.#...#",
    "S": ".#####....#.....###.....#....#####.",
    "T": "#####..#....#....#....#....#....#..",
    "U": "#...##...##...##...##...##...#.###.",
    "V": "#...##...##...##...#.#.#..#.#...#..",
    "W": "#...##...##...##.#.##.#.###.###...#",
    "X": "#...##...#.#.#...#...#.#.#...##...#",
    "Y": "#...##...#.#.#...#....#....#....#..",
    "Z": "#####....#...#...#...#...#....#####",
}
GLYPHS: dict[str, np.ndarray] = {
    ch: np.array([c == "#" for c in bits], dtype=bool).reshape(7, 5) for ch, bits in _FONT.items()
}


def text_mask(word: str, scale: int) -> np.ndarray:
    """Boolean mask of ``word`` (letters only, drawn upper-case) in the built-in 5x7 font."""
    cols = []
    for i, ch in enumerate(word.upper()):
        if ch not in GLYPHS:
            raise ValueError(f"the built-in font has no glyph for {ch!r}")
        if i:
            cols.append(np.zeros((7, 1), dtype=bool))
        cols.append(GLYPHS[ch])
    m = np.concatenate(cols, 1)
    return np.kron(m, np.ones((scale, scale), dtype=bool))


# --------------------------------------------------------------------------- scene textures
SCENES: tuple[str, ...] = ("agricultural", "beach", "buildings", "forest", "freeway", "river")


def _noise(rng: np.random.Generator, size: int, amp: float) -> np.ndarray:
    return rng.normal(0, amp, size=(size, size, 1))


def render_scene(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """An aerial-view texture of scene ``kind`` (UCMerced-like), HxWx3 uint8."""
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    theta = rng.uniform(0, math.pi)
    u = xx * math.cos(theta) + yy * math.sin(theta)  # coordinate across a random direction
    v = -xx * math.sin(theta) + yy * math.cos(theta)
    if kind == "agricultural":
        period = rng.uniform(0.14, 0.22) * s
        band = np.floor((u + rng.uniform(0, period)) / period).astype(int) % 3
        pal = np.array([[110, 160, 60], [200, 180, 90], [80, 120, 40]], np.float32)
        img = pal[band] + _noise(rng, s, 6)
    elif kind == "beach":
        c = u.mean() + rng.uniform(-0.15, 0.15) * s
        c = c + 0.05 * s * np.sin(v / s * 2 * math.pi * rng.uniform(1, 2) + rng.uniform(0, 6.3))
        water = (u > c)[..., None]
        img = np.where(water, np.array([40, 110, 190], np.float32), np.array([225, 205, 150], np.float32))
        img[np.abs(u - c) < 1.0] = (245, 245, 245)
        img = img + _noise(rng, s, 5)
    elif kind == "buildings":
        img = np.full((s, s, 3), 150, np.float32) + _noise(rng, s, 4)
        n = int(rng.integers(5, 9))
        for _ in range(n):
            w, h = rng.uniform(0.12, 0.28, size=2) * s
            x0, y0 = rng.uniform(0, s - w), rng.uniform(0, s - h)
            roof = rng.choice([[90, 90, 95], [170, 70, 60], [210, 210, 215], [60, 60, 70]])
            img[int(y0) : int(y0 + h), int(x0) : int(x0 + w)] = roof
    elif kind == "forest":
        img = np.full((s, s, 3), (25, 70, 25), np.float32)
        n = int(s * s / 40)
        cx, cy = rng.uniform(0, s, size=(2, n))
        rad = rng.uniform(0.03, 0.07, size=n) * s
        shade = rng.uniform(0.6, 1.3, size=n)
        for x, y, r, k in zip(cx, cy, rad, shade):
            m = (xx - x) ** 2 + (yy - y) ** 2 < r * r
            img[m] = np.array([40, 110, 40]) * k
        img = img + _noise(rng, s, 5)
    elif kind == "freeway":
        img = np.full((s, s, 3), (120, 150, 90), np.float32) + _noise(rng, s, 8)
        c = u.mean() + rng.uniform(-0.1, 0.1) * s
        half = rng.uniform(0.16, 0.22) * s
        road = np.abs(u - c) < half
        img[road] = (95, 95, 100)
        dash = (np.abs(u - c) < 0.8) & ((v // (0.08 * s)) % 2 == 0)
        img[dash] = (240, 240, 240)
        for side in (-1, 1):
            img[np.abs(u - (c + side * half * 0.55)) < 0.6] = (200, 200, 200)
    elif kind == "river":
        img = np.full((s, s, 3), (90, 140, 60), np.float32) + _noise(rng, s, 10)
        c = u.mean() + s * 0.12 * np.sin(v / s * 2 * math.pi * rng.uniform(0.8, 1.6) + rng.uniform(0, 6.3))
        width = rng.uniform(0.08, 0.14) * s
        img[np.abs(u - c) < width] = (50, 90, 160)
    else:
        raise ValueError(f"unknown scene {kind!r}; known: {SCENES}")
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- faces
HAIR: dict[str, RGB] = {
    "black": (25, 22, 20),
    "blond": (240, 215, 120),
    "brown": (115, 65, 25),
    "gray": (160, 160, 160),
}
SKIN: tuple[RGB, ...] = ((250, 215, 180), (230, 185, 140), (200, 150, 110), (150, 100, 70))


def render_face(
    rng: np.random.Generator, size: int, smile: bool, hair: str, parts: dict | None = None
) -> Image.Image:
    """A cartoon face: hair colour ``hair`` and an open smile or a closed straight mouth. ``parts``, when
    given, receives the pixel boxes ``hair``, ``face`` and ``mouth`` (same drawing either way)."""
    s = size
    bg = tuple(int(v) for v in rng.integers(60, 200, size=3)) if rng.random() < 0.5 else (70, 130, 180)
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    cx, cy = s / 2 + rng.uniform(-0.05, 0.05) * s, s * 0.55 + rng.uniform(-0.04, 0.04) * s
    fw, fh = rng.uniform(0.26, 0.32) * s, rng.uniform(0.32, 0.38) * s
    hcol = jitter(rng, HAIR[hair], 10)
    d.ellipse([cx - fw * 1.18, cy - fh * 1.25, cx + fw * 1.18, cy + fh * 0.55], fill=hcol)
    d.ellipse([cx - fw, cy - fh * 0.85, cx + fw, cy + fh], fill=SKIN[int(rng.integers(len(SKIN)))])
    ey, ex, er = cy - fh * 0.15, fw * 0.42, max(1.5, 0.045 * s)
    for sx in (-1, 1):
        d.ellipse([cx + sx * ex - er, ey - er, cx + sx * ex + er, ey + er], fill=(30, 30, 30))
    my, mw = cy + fh * 0.45, fw * rng.uniform(0.5, 0.65)
    if parts is not None:  # the mouth box spans the smile's chord whether it is drawn or not
        parts["hair"] = (cx - fw * 1.18, cy - fh * 1.25, cx + fw * 1.18, cy + fh * 0.55)
        parts["face"] = (cx - fw, cy - fh * 0.85, cx + fw, cy + fh)
        parts["mouth"] = (cx - mw, my - fh * 0.3, cx + mw, my + fh * 0.3)
    if smile:
        d.chord([cx - mw, my - fh * 0.3, cx + mw, my + fh * 0.3], 0, 180, fill=(150, 20, 30))
    else:
        lw = max(1, round(0.03 * s))
        d.line([cx - mw * 0.8, my + fh * 0.05, cx + mw * 0.8, my + fh * 0.05], fill=(120, 40, 40), width=lw)
    return img


# --------------------------------------------------------------------------- stick figures
LIMBS = (  # (joint a, joint b, side) using LSP joint names
    ("right ankle", "right knee", "r"), ("right knee", "right hip", "r"), ("left ankle", "left knee", "l"),
    ("left knee", "left hip", "l"), ("right wrist", "right elbow", "r"), ("right elbow", "right shoulder", "r"),
    ("left wrist", "left elbow", "l"), ("left elbow", "left shoulder", "l"), ("right hip", "left hip", "t"),
    ("right shoulder", "left shoulder", "t"), ("neck", "head top", "t"),
)  # fmt: skip
LIMB_COLORS: dict[str, RGB] = {"r": (220, 40, 40), "l": (40, 80, 230), "t": (30, 30, 30)}


def figure_joints(rng: np.random.Generator, size: int) -> dict[str, tuple[float, float]]:
    """A random standing/gesturing pose facing the viewer (its right side on the image's left)."""
    h = rng.uniform(0.72, 0.86) * size
    cx = size / 2 + rng.uniform(-0.08, 0.08) * size
    top = (size - h) / 2 + rng.uniform(-0.04, 0.04) * size
    j: dict[str, tuple[float, float]] = {"head top": (cx, top), "neck": (cx, top + 0.2 * h)}
    sw, hw = 0.12 * h, 0.075 * h
    pelvis_y = top + 0.55 * h
    j["right shoulder"], j["left shoulder"] = (cx - sw, top + 0.23 * h), (cx + sw, top + 0.23 * h)
    j["right hip"], j["left hip"] = (cx - hw, pelvis_y), (cx + hw, pelvis_y)

    def chain(start: tuple[float, float], a1: float, l1: float, a2: float, l2: float) -> tuple:
        p1 = (start[0] + l1 * math.cos(a1), start[1] + l1 * math.sin(a1))
        return p1, (p1[0] + l2 * math.cos(a2), p1[1] + l2 * math.sin(a2))

    down = math.pi / 2
    for side, sgn in (("right", -1), ("left", 1)):
        # arms: angle measured from straight down, swinging outwards up to near horizontal-up
        a_up = down - sgn * rng.uniform(0.15, 2.2)
        a_lo = a_up - sgn * rng.uniform(-0.4, 1.2)
        j[f"{side} elbow"], j[f"{side} wrist"] = chain(j[f"{side} shoulder"], a_up, 0.17 * h, a_lo, 0.15 * h)
        t_up = down - sgn * rng.uniform(0.0, 0.45)
        t_lo = t_up + sgn * rng.uniform(-0.1, 0.35)
        j[f"{side} knee"], j[f"{side} ankle"] = chain(j[f"{side} hip"], t_up, 0.22 * h, t_lo, 0.22 * h)
    return j


def render_figure(rng: np.random.Generator, size: int, joints: dict[str, tuple[float, float]]) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(200, 250, size=3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    lw = max(2, round(size / 24))
    neck, top = joints["neck"], joints["head top"]
    mid_hip = tuple((a + b) / 2 for a, b in zip(joints["right hip"], joints["left hip"]))
    d.line([neck, mid_hip], fill=LIMB_COLORS["t"], width=lw)
    for a, b, side in LIMBS:
        if (a, b) == ("neck", "head top"):
            continue
        d.line([joints[a], joints[b]], fill=LIMB_COLORS[side], width=lw)
    hr = (neck[1] - top[1]) / 2
    hc = (top[0], top[1] + hr)
    d.ellipse(
        [hc[0] - hr * 0.8, hc[1] - hr, hc[0] + hr * 0.8, hc[1] + hr],
        fill=(240, 200, 160),
        outline=(30, 30, 30),
    )
    dot = lw * 0.75  # a dot on every joint, so line ends and the head top are drawn exactly there
    for name, (x, y) in joints.items():
        side = "r" if name.startswith("right") else "l" if name.startswith("left") else "t"
        d.ellipse([x - dot, y - dot, x + dot, y + dot], fill=LIMB_COLORS[side])
    return img
