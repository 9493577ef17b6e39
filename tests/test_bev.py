"""Bird's-eye views of point clouds (lamm/formats/bev.py) and ``lamm eval --pcl-view bev``, through which
image-only models answer 3D records (docs/pointcloud.md, "Bird's-eye view for image-only models")."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from bev_helpers import ink_pixels
from eval_helpers import make_tiny_llava

from lamm.bench.eval.views import BevView
from lamm.cli import main
from lamm.formats.bev import BACKGROUND, HEIGHT_COLOURS, BevStyle, render_bev
from lamm.formats.pointcloud import load_points
from lamm.protocol.bev import bev_paragraph, bev_system, suite3d_prompts
from lamm.tasks import datasets_3d

RED, GREEN, GREY = (220, 20, 30), (10, 200, 40), (120, 120, 120)


def _cloud(*rows: tuple[float, ...], n_floor: int = 400, seed: int = 0) -> np.ndarray:
    """A grey 4 m x 3 m floor of random points at z in [0, 0.02] plus the given (x, y, z, r, g, b) rows."""
    rng = np.random.default_rng(seed)
    floor = np.c_[rng.uniform([0, 0, 0], [4, 3, 0.02], size=(n_floor, 3)), np.tile(GREY, (n_floor, 1))]
    return np.concatenate([floor, np.array(rows, dtype=np.float64).reshape(-1, 6)]).astype(np.float32)


def _pixel(bev, x: float, y: float) -> tuple[int, ...]:
    c, r = bev.transform.to_pixel(x, y)
    return tuple(int(v) for v in np.asarray(bev.image)[int(r), int(c)])


def test_render_is_deterministic_and_fast() -> None:
    rng = np.random.default_rng(3)
    pts = np.c_[rng.uniform([0, 0, 0], [6, 5, 3], size=(40_000, 3)), rng.integers(0, 256, (40_000, 3))]
    pts = pts.astype(np.float32)
    render_bev(pts[:100])  # font loading etc. once
    t0 = time.perf_counter()
    first = render_bev(pts).png()
    took = time.perf_counter() - t0
    assert render_bev(pts.copy()).png() == first
    assert took < 2.0, f"40k points took {took:.2f} s"  # ~0.3 s measured on one shared core


def test_known_point_lands_at_its_pixel_and_the_highest_point_wins() -> None:
    # a red point above a green one at (1, 2), a green point above a red one at (3, 1)
    pts = _cloud(
        (1.0, 2.0, 1.0, *RED), (1.0, 2.0, 0.5, *GREEN), (3.0, 1.0, 0.4, *RED), (3.0, 1.0, 0.9, *GREEN)
    )
    bev = render_bev(pts)
    assert _pixel(bev, 1.0, 2.0) == RED and _pixel(bev, 3.0, 1.0) == GREEN
    tf = bev.transform
    assert tf.to_metre(*tf.to_pixel(1.25, 2.5)) == pytest.approx((1.25, 2.5))
    # equal scale on both axes, aspect kept: the plot is (4 + 2 pad) : (3 + 2 pad) metres
    w, h = bev.image.size
    left, top, right, bottom = BevStyle().margin
    assert (w - left - right) / (h - top - bottom) == pytest.approx(4.2 / 3.2, rel=0.01)
    assert max(w - left - right, h - top - bottom) == BevStyle().size
    assert not any(_pixel(bev, x, 3.05) != BACKGROUND for x in (0.5, 1.5, 2.5))  # padding strip is empty


def test_z_range_ceiling_cut_and_height_colours() -> None:
    # a ceiling point 2.8 m above the floor over (2, 1.5) is removed, but counts in the scan's z range
    pts = _cloud((2.0, 1.5, 2.8, 255, 255, 0), (2.0, 1.5, 0.7, *RED))
    bev = render_bev(pts)
    assert bev.z_min == pytest.approx(float(pts[:, 2].min())) and bev.z_max == pytest.approx(2.8)
    assert _pixel(bev, 2.0, 1.5) == RED and bev.n_drawn == len(pts) - 1
    # no colour: height colour map from the floor's colour to the top's
    xyz = np.array([[0, 0, 0.0], [1, 1, 2.0], [1, 0, 0.0], [0, 1, 0.0]], np.float32)
    plain = render_bev(xyz)
    assert _pixel(plain, 0, 0) == tuple(HEIGHT_COLOURS[0]) and _pixel(plain, 1, 1) == tuple(
        HEIGHT_COLOURS[-1]
    )


def test_axis_labels_and_scale_bar_are_drawn_in_the_margins() -> None:
    bev = render_bev(_cloud())
    a = np.asarray(bev.image)
    ink = (a != 255).any(axis=2)
    left, top, right, bottom = BevStyle().margin
    h, w = ink.shape
    assert ink[top : h - bottom, : left - 8].sum() > 100  # y tick labels 0 .. 3
    assert ink[h - bottom + 6 :, left : w - right].sum() > 100  # x tick labels 0 .. 4
    assert ink[: top - 4, w // 2 :].sum() > 50  # scale bar with its label
    # a tick (black) sits just below the frame at x = 0, 1, 2, 3, 4 metres and at y = 0 .. 3 left of it
    for x in range(5):
        c = round(bev.transform.to_pixel(x, 0)[0])
        assert tuple(a[h - bottom + 2, c]) == (0, 0, 0), x
    for y in range(4):
        r = round(bev.transform.to_pixel(0, y)[1])
        assert tuple(a[r, left - 4]) == (0, 0, 0), y


def test_bev_system_messages() -> None:
    suite = suite3d_prompts()
    for task, entry in suite.items():
        assert entry["bev"]["query_template"] == entry["query_template"], task  # queries stay as they are
        got = bev_system(task, "ignored", 0.0, 2.5)
        assert (
            got == entry["bev"]["system"].format(z_min=0.0, z_max=2.5) and "from 0.00 (floor) to 2.50" in got
        )
    for spec in datasets_3d():
        got = bev_system(None, spec.system_message, -0.1, 3.0)
        lines = spec.system_message.split("\n")
        assert got.split("\n") == [
            lines[0],
            lines[1],
            bev_paragraph().format(z_min=-0.1, z_max=3.0),
            *lines[2:],
        ]
        assert "spans z from -0.10 (floor) to 3.00" in got
    with pytest.raises(KeyError, match="no 3D-suite task 'Nope'"):
        bev_system("Nope", "", 0, 1)


def test_view_renders_once_and_again_when_the_cloud_changes(tmp_path: Path) -> None:
    bench = tmp_path / "3D"
    (bench / "pcls").mkdir(parents=True)
    src = bench / "pcls" / "a.npy"
    np.save(src, _cloud())
    view = BevView(tmp_path / "run", bench)
    png = view.render(src)
    assert png == tmp_path / "run" / "bev" / "pcls" / "a.npy.png"
    stamp = png.stat().st_mtime_ns
    time.sleep(0.01)
    assert view.render(src) == png and png.stat().st_mtime_ns == stamp  # reused
    np.save(src, _cloud(seed=1))
    os.utime(src, ns=(stamp + 10**9, stamp + 10**9))
    view.render(src)
    assert png.stat().st_mtime_ns != stamp


# ------------------------------------------------------------------------------------------ lamm eval


@pytest.fixture(scope="module")
def mini3d(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    args = ["data", "mini", "--out", str(out), "--train", "2", "--test", "2", "--pretrain", "0", "--quiet"]
    assert main(args) == 0
    return out / "3D_Benchmark"


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "answers.jsonl").read_text("utf-8").splitlines()]


def _cloud_of(bench: Path, row: dict) -> Path:
    meta = {"ScanNet": "Detection_ScanNet", "ScanRefer": "VG_ScanRefer"}.get(
        row["dataset"], "VQA_" + row["dataset"]
    )
    rec = json.loads((bench / "meta_file" / f"{meta}.json").read_text("utf-8"))[row["index"]]
    return bench / rec["pcl"]


def test_eval_pcl_view_bev_with_an_image_only_py_adapter(mini3d: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    cmd = [
        "eval",
        "--model",
        "py:bev_helpers:make_png_reader",
        "--benchmark-dir",
        str(mini3d),
        "--out",
        str(run),
    ]
    assert main([*cmd, "--pcl-view", "bev"]) == 0
    rows = _rows(run)
    assert sorted(r["dataset"] for r in rows) == sorted(["ScanNet", "ScanRefer", "ScanQA_multiplechoice"] * 2)
    for row in rows:
        pcl = _cloud_of(mini3d, row)
        png = run / "bev" / pcl.relative_to(mini3d).parent / f"{pcl.name}.png"
        info = json.loads(png.with_suffix(".json").read_text("utf-8"))
        first = f"(A) {ink_pixels(png)} ink pixels of {info['size'][0]}x{info['size'][1]}"
        two_pass = row["dataset"] == "ScanQA_multiplechoice"
        assert row["text"] == (f"{first}\n The answer is {first}" if two_pass else first)
        z = load_points(pcl)[:, 2]
        assert info["z_min"] == pytest.approx(float(z.min())) and info["z_max"] == pytest.approx(
            float(z.max())
        )
        assert f"the scan spans z from {z.min():.2f} (floor) to {z.max():.2f}" in row["prompt"][0]
    results = json.loads((run / "results.json").read_text("utf-8"))
    assert results["run"]["pcl_view"] == "bev"
    assert results["datasets"]["ScanQA_multiplechoice"]["value"] is not None
    assert json.loads((run / "run.json").read_text("utf-8"))["answer_options"] == {"pcl_view": "bev"}
    capsys.readouterr()
    # resuming the folder without the view (point clouds as they are) is refused
    assert main(cmd) == 2
    assert "pcl_view: 'bev' there, 'unset' now" in capsys.readouterr().err


def test_eval_hf_llava_answers_from_the_bev_and_says_so_without_it(
    mini3d: Path, tmp_path: Path, capsys
) -> None:
    llava = make_tiny_llava(tmp_path / "llava")
    cmd = ["eval", "--model", f"hf:{llava}", "--benchmark-dir", str(mini3d), "--datasets", "ScanRefer",
           "--max-new-tokens", "4", "--device", "cpu"]  # fmt: skip
    assert main([*cmd, "--out", str(tmp_path / "plain")]) == 2
    err = capsys.readouterr().err
    assert "image-text-to-text models cannot read point clouds" in err and "--pcl-view bev" in err
    assert main([*cmd, "--out", str(tmp_path / "bev"), "--pcl-view", "bev"]) == 0
    rows = _rows(tmp_path / "bev")
    assert [r["index"] for r in rows] == [0, 1] and all(isinstance(r["text"], str) for r in rows)
    assert all("bird's-eye" in r["prompt"][0] and "USER: <image>" in r["prompt"][0] for r in rows)
    assert all(
        (tmp_path / "bev" / "bev" / f"{_cloud_of(mini3d, r).relative_to(mini3d)}.png").is_file() for r in rows
    )
