"""Bird's-eye view (BEV) of a point cloud: the scene as one image for image-only models.

docs/pointcloud.md ("Bird's-eye view for image-only models") fixes the picture: a top-down orthographic
view (camera looking down -z) of the axis-aligned cloud, each point in its own RGB (no colour: a height
colour map), the highest point of a pixel wins (z-buffer), white background, points more than
``ceiling_m`` above the lowest point removed (the ceiling), equal scale on x and y, tick labels in metres
along the left and bottom edges and a labelled scale bar, so that a model can read x/y coordinates off
the image; heights are given in text (``z_min``/``z_max``). No object ids or boxes are drawn.

Torch-free and deterministic: the same points give the same PNG bytes (with the same Pillow).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lamm.formats.jsonio import temp_path
from lamm.formats.media import check_points
from lamm.formats.pointcloud import load_points

BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
FRAME = (150, 150, 150)
# height colour map for clouds without colour: low = blue, then cyan, green, yellow, high = red
HEIGHT_COLOURS = np.array([[49, 54, 149], [69, 171, 201], [102, 189, 99], [253, 210, 60], [215, 48, 39]])
TICK_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


@dataclass(frozen=True)
class BevStyle:
    """How a cloud is drawn. ``size``: the longer side of the plot area in pixels (the scale follows from
    the scene's extent, the aspect is kept); ``point_m``: the side of the square drawn per point, metres."""

    size: int = 768
    point_m: float = 0.03
    ceiling_m: float | None = 2.5
    pad_m: float = 0.1
    margin: tuple[int, int, int, int] = (64, 28, 24, 56)  # left, top, right, bottom (pixels)
    font_px: int = 14
    max_ticks: int = 12


@dataclass(frozen=True)
class BevTransform:
    """Pixel <-> metre mapping of the image: pixel column ``left + (x - x0) * ppm``, row ``top + (y1 - y) *
    ppm`` (y up in the scene, down in the image). Pixel (c, r) covers [c, c+1) x [r, r+1)."""

    x0: float
    y1: float
    ppm: float  # pixels per metre, both axes
    left: int
    top: int

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        return self.left + (x - self.x0) * self.ppm, self.top + (self.y1 - y) * self.ppm

    def to_metre(self, col: float, row: float) -> tuple[float, float]:
        return self.x0 + (col - self.left) / self.ppm, self.y1 - (row - self.top) / self.ppm

    def as_dict(self) -> dict[str, float]:
        return {"x0": self.x0, "y1": self.y1, "ppm": self.ppm, "left": self.left, "top": self.top}


@dataclass(frozen=True)
class Bev:
    """A rendering: the image, the scan's height range (for the BEV system message) and its transform."""

    image: Image.Image
    z_min: float
    z_max: float
    transform: BevTransform
    n_drawn: int  # points left after the ceiling cut

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", optimize=False, compress_level=6)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the PNG atomically (a killed run never leaves half an image)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)
        tmp.write_bytes(self.png())
        tmp.replace(path)
        return path


def tick_step(extent_m: float, max_ticks: int) -> float:
    """The smallest of 0.5, 1, 2, 5 ... metres that keeps at most ``max_ticks`` ticks on the axis."""
    for step in TICK_STEPS:
        if extent_m / step <= max_ticks:
            return step
    return TICK_STEPS[-1] * math.ceil(extent_m / (TICK_STEPS[-1] * max_ticks))


def height_colours(z: np.ndarray, z_min: float, z_max: float) -> np.ndarray:
    """uint8 RGB per point from its height (linear through :data:`HEIGHT_COLOURS`)."""
    t = (z - z_min) / max(z_max - z_min, 1e-6) * (len(HEIGHT_COLOURS) - 1)
    t = np.clip(t, 0, len(HEIGHT_COLOURS) - 1)
    lo = np.minimum(np.floor(t).astype(np.int64), len(HEIGHT_COLOURS) - 2)
    w = (t - lo)[:, None]
    rgb = HEIGHT_COLOURS[lo] * (1 - w) + HEIGHT_COLOURS[lo + 1] * w
    return np.rint(rgb).astype(np.uint8)


def _label(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else f"{round(v):d}"


def render_bev(points: np.ndarray, style: BevStyle = BevStyle()) -> Bev:
    """Render (N, 3|6) points (x, y, z in metres, z up; rgb 0..255) as a bird's-eye view."""
    pts = check_points(np.asarray(points))
    xyz = pts[:, :3].astype(np.float64)
    z_min, z_max = float(xyz[:, 2].min()), float(xyz[:, 2].max())
    keep = np.ones(len(xyz), bool)
    if style.ceiling_m is not None:
        keep = xyz[:, 2] <= z_min + style.ceiling_m
    xyz = xyz[keep]
    if pts.shape[1] >= 6:
        rgb = np.clip(np.rint(pts[keep, 3:6].astype(np.float64)), 0, 255).astype(np.uint8)
    else:
        rgb = height_colours(xyz[:, 2], z_min, min(z_max, z_min + (style.ceiling_m or math.inf)))

    x0, x1 = float(xyz[:, 0].min()) - style.pad_m, float(xyz[:, 0].max()) + style.pad_m
    y0, y1 = float(xyz[:, 1].min()) - style.pad_m, float(xyz[:, 1].max()) + style.pad_m
    ppm = style.size / max(x1 - x0, y1 - y0)
    w, h = max(1, math.ceil((x1 - x0) * ppm)), max(1, math.ceil((y1 - y0) * ppm))
    left, top, right, bottom = style.margin
    tf = BevTransform(x0, y1, ppm, left, top)

    # z-buffer: every point covers a square of ``point_m``; per pixel the highest point is drawn last-wins
    # after a stable sort by (pixel, z), so ties keep the input order and the result is deterministic
    half = max(0, math.ceil(style.point_m * ppm) - 1) // 2
    col = np.floor((xyz[:, 0] - x0) * ppm).astype(np.int64)
    row = np.floor((y1 - xyz[:, 1]) * ppm).astype(np.int64)
    offs = np.arange(-half, half + 1)
    dc, dr = np.meshgrid(offs, offs, indexing="xy")
    cc = (col[:, None] + dc.ravel()[None, :]).ravel()
    rr = (row[:, None] + dr.ravel()[None, :]).ravel()
    src = np.repeat(np.arange(len(xyz)), dc.size)
    inside = (cc >= 0) & (cc < w) & (rr >= 0) & (rr < h)
    cc, rr, src = cc[inside], rr[inside], src[inside]
    # the point's own pixel must win over a neighbour's splat of equal height: centre first in the order
    centre = np.tile((dc.ravel() == 0) & (dr.ravel() == 0), len(xyz))[inside]
    pix = rr * w + cc
    order = np.lexsort((centre, xyz[src, 2], pix))
    pix_s = pix[order]
    last = np.r_[pix_s[1:] != pix_s[:-1], True]
    plot = np.full((h * w, 3), BACKGROUND, np.uint8)
    plot[pix_s[last]] = rgb[src[order[last]]]

    canvas = Image.new("RGB", (left + w + right, top + h + bottom), BACKGROUND)
    canvas.paste(Image.fromarray(plot.reshape(h, w, 3), "RGB"), (left, top))
    _draw_axes(canvas, tf, w, h, x0, x1, y0, y1, style)
    return Bev(canvas, z_min, z_max, tf, int(keep.sum()))


def _draw_axes(
    im: Image.Image,
    tf: BevTransform,
    w: int,
    h: int,
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    style: BevStyle,
) -> None:
    """Frame, metre ticks with labels (x along the bottom, y along the left), axis names, scale bar."""
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=style.font_px)
    left, top = tf.left, tf.top
    d.rectangle([left - 1, top - 1, left + w, top + h], outline=FRAME)
    step = tick_step(max(x1 - x0, y1 - y0), style.max_ticks)
    for v in np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step):
        c = round(tf.to_pixel(v, 0)[0])
        d.line([c, top + h, c, top + h + 5], fill=INK)
        d.text((c, top + h + 7), _label(v), fill=INK, font=font, anchor="mt")
    for v in np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step):
        r = round(tf.to_pixel(0, v)[1])
        d.line([left - 6, r, left - 1, r], fill=INK)
        d.text((left - 8, r), _label(v), fill=INK, font=font, anchor="rm")
    d.text((left + w // 2, top + h + 7 + style.font_px + 4), "x (m)", fill=INK, font=font, anchor="mt")
    d.text((4, top // 2), "y (m)", fill=INK, font=font, anchor="lm")
    bar = round(step * tf.ppm)  # scale bar: one tick step, top right, above the plot
    bx, by = left + w - bar, top // 2
    d.line([bx, by, bx + bar, by], fill=INK, width=3)
    d.text((bx - 6, by), f"{_label(step)} m", fill=INK, font=font, anchor="rm")


def render_bev_file(path: str | Path, style: BevStyle = BevStyle()) -> Bev:
    """:func:`render_bev` of a point-cloud file (``.npy``, ``.ply``, ``.pcd``, ``.xyz``, ``.txt``)."""
    return render_bev(load_points(path), style)
