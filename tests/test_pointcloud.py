"""Point-cloud readers, seeded sampling, colour/height features, the worker preprocessor, convert-pcl."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from lamm.cli import main
from lamm.formats import FormatError
from lamm.formats.pointcloud import (
    PointCloudPreprocessor,
    height_feature,
    load_points,
    normalize_color,
    sample_points,
)

XYZ = np.array([[0.0, 0.5, 1.0], [1.25, -2.0, 0.0], [3.0, 4.0, 5.5]])
RGB = np.array([[255, 0, 10], [1, 2, 3], [128, 64, 32]], dtype=np.uint8)
EXPECTED = np.concatenate([XYZ, RGB], axis=1).astype(np.float32)


def _ply(path, xyz=XYZ, rgb=RGB, text=False, colour_names=("red", "green", "blue")):
    dt = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if rgb is not None:
        dt += [(c, rgb.dtype.str) for c in colour_names]
    v = np.empty(len(xyz), dtype=dt)
    for k, c in enumerate("xyz"):
        v[c] = xyz[:, k]
    if rgb is not None:
        for k, c in enumerate(colour_names):
            v[c] = rgb[:, k]
    PlyData([PlyElement.describe(v, "vertex")], text=text).write(str(path))
    return path


class _Clouds:
    """A map-style dataset (module level, so workers can unpickle it) running the preprocessor."""

    def __init__(self, paths, pre):
        self.paths, self.pre = paths, pre

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.pre(self.paths[i])


def test_npy_layouts(tmp_path):
    np.save(tmp_path / "a.npy", EXPECTED.astype(np.float64))
    got = load_points(tmp_path / "a.npy")
    assert got.dtype == np.float32 and np.array_equal(got, EXPECTED)
    extra = np.concatenate([EXPECTED, np.ones((3, 3))], axis=1)  # e.g. normals after rgb
    np.save(tmp_path / "b.npy", extra)
    assert np.array_equal(load_points(tmp_path / "b.npy"), EXPECTED)
    np.save(tmp_path / "c.npy", np.concatenate([XYZ, np.ones((3, 1))], axis=1))  # xyz + intensity
    assert np.array_equal(load_points(tmp_path / "c.npy"), XYZ.astype(np.float32))


def test_ply_binary_and_ascii(tmp_path):
    assert np.array_equal(load_points(_ply(tmp_path / "a.ply")), EXPECTED)
    assert np.array_equal(load_points(_ply(tmp_path / "b.ply", text=True)), EXPECTED)
    assert np.array_equal(load_points(_ply(tmp_path / "c.ply", rgb=None)), XYZ.astype(np.float32))
    # float colours in [0, 1] (a common PLY convention) come out in 0..255
    unit = np.array([[1.0, 0.0, 0.5], [0.2, 0.4, 0.6], [0.0, 0.0, 0.0]], dtype=np.float32)
    got = load_points(_ply(tmp_path / "d.ply", rgb=unit, colour_names=("r", "g", "b")))
    np.testing.assert_allclose(got[:, 3:], [[255, 0, 127.5], [51, 102, 153], [0, 0, 0]], rtol=1e-6)
    PlyData([PlyElement.describe(np.zeros(2, dtype=[("a", "f4")]), "face")]).write(str(tmp_path / "e.ply"))
    with pytest.raises(FormatError, match="no 'vertex' element"):
        load_points(tmp_path / "e.ply")
    (tmp_path / "f.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 5\n")
    with pytest.raises(FormatError, match="f.ply.*unreadable PLY"):
        load_points(tmp_path / "f.ply")


def _pcd_header(fields, size, typ, count, n, data):
    return (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {fields}\nSIZE {size}\nTYPE {typ}\nCOUNT {count}\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    )


def test_pcd_ascii_packed_rgb_and_binary(tmp_path):
    packed = ((RGB[:, 0].astype(np.uint32) << 16) | (RGB[:, 1].astype(np.uint32) << 8) | RGB[:, 2]).view(
        np.float32
    )
    rows = "".join(f"{x:.9g} {y:.9g} {z:.9g} {p:.9g}\n" for (x, y, z), p in zip(XYZ, packed))
    path = tmp_path / "a.pcd"
    path.write_text(_pcd_header("x y z rgb", "4 4 4 4", "F F F F", "1 1 1 1", 3, "ascii") + rows)
    assert np.array_equal(load_points(path), EXPECTED)

    # binary with separate uchar colour fields and a padding field of count 2
    dt = np.dtype(
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("_", "<f4", (2,)), ("r", "u1"), ("g", "u1"), ("b", "u1")]
    )
    rec = np.zeros(3, dtype=dt)
    for k, c in enumerate("xyz"):
        rec[c] = XYZ[:, k]
    for k, c in enumerate("rgb"):
        rec[c] = RGB[:, k]
    head = _pcd_header("x y z _ r g b", "4 4 4 4 1 1 1", "F F F F U U U", "1 1 1 2 1 1 1", 3, "binary")
    path = tmp_path / "b.pcd"
    path.write_bytes(head.encode() + rec.tobytes())
    assert np.array_equal(load_points(path), EXPECTED)
    path.write_bytes(head.encode() + rec.tobytes()[:-5])
    with pytest.raises(FormatError, match="b.pcd.*truncated"):
        load_points(path)
    path.write_text(_pcd_header("x y z", "4 4 4", "F F F", "1 1 1", 3, "binary_compressed"))
    with pytest.raises(FormatError, match="binary_compressed' is not supported"):
        load_points(path)
    path.write_text(_pcd_header("x y z", "4 4 4", "F F F", "1 1 1", 3, "ascii") + "1 2 3\n4 5 6\n")
    with pytest.raises(FormatError, match="3 rows of 3 values"):
        load_points(path)


def test_xyz_text(tmp_path):
    path = tmp_path / "a.xyz"
    path.write_text(
        "# scan\nx,y,z,r,g,b\n" + "".join(",".join(f"{v:g}" for v in row) + "\n" for row in EXPECTED)
    )
    assert np.array_equal(load_points(path), EXPECTED)
    path = tmp_path / "b.txt"
    path.write_text("0 0.5 1\n1.25 -2 0\n// note\n3 4 5.5\n")
    assert np.array_equal(load_points(path), XYZ.astype(np.float32))
    path.write_text("0 0.5 1\n1.25 -2\n")
    with pytest.raises(FormatError, match="b.txt.*line 2 has 2 values"):
        load_points(path)
    path.write_text("0 0.5 1\n1 two 3\n")
    with pytest.raises(FormatError, match="line 2 is not numeric"):
        load_points(path)


@pytest.mark.parametrize(
    ("make", "msg"),
    [
        (lambda p: np.save(p / "x.npy", np.array([[0, 0, 0], [0, np.inf, 0]], np.float32)), "NaN/inf"),
        (lambda p: np.save(p / "x.npy", np.zeros((4, 2), np.float32)), r"shape \(N, C>=3\)"),
        (lambda p: np.save(p / "x.npy", np.zeros((0, 3), np.float32)), "empty"),
        (lambda p: _ply(p / "x.ply", xyz=np.array([[0, 0, np.nan]] * 3)), "NaN/inf"),
        (lambda p: (p / "x.xyz").write_text("# nothing\n"), "empty"),
    ],
)
def test_bad_clouds_rejected_naming_the_file(tmp_path, make, msg):
    make(tmp_path)
    [path] = list(tmp_path.iterdir())
    with pytest.raises(FormatError, match=msg) as err:
        load_points(path)
    assert err.value.path == str(path)


def test_unknown_suffix_and_missing(tmp_path):
    with pytest.raises(FormatError, match="unknown point-cloud file type '.obj'"):
        load_points(tmp_path / "a.obj")
    with pytest.raises(FormatError, match="not found"):
        load_points(tmp_path / "a.ply")


def test_seeded_sampling_rules():
    pts = np.arange(100, dtype=np.float32).repeat(3).reshape(100, 3)
    a = sample_points(pts, 40, seed=1, key="scene0.npy")
    assert np.array_equal(a, sample_points(pts, 40, seed=1, key="scene0.npy"))
    assert not np.array_equal(a, sample_points(pts, 40, seed=2, key="scene0.npy"))
    assert not np.array_equal(a, sample_points(pts, 40, seed=1, key="scene1.npy"))
    assert len(np.unique(a[:, 0])) == 40  # N >= n: without replacement (official "auto")
    up = sample_points(pts, 250, seed=1)  # N < n: with replacement
    assert up.shape == (250, 3) and len(np.unique(up[:, 0])) <= 100
    with pytest.raises(FormatError, match="s.npy.*100 points, fewer than the 250 asked"):
        sample_points(pts, 250, seed=1, replace=False, path="s.npy")
    full = sample_points(pts, 100, seed=0, replace=True)
    assert len(np.unique(full[:, 0])) < 100  # P(no repeat in 100 draws of 100) ~ 1e-42
    perm = sample_points(pts, 100, seed=0)
    assert sorted(perm[:, 0]) == list(range(100))
    with pytest.raises(ValueError, match="positive"):
        sample_points(pts, 0, seed=0)


def test_sampling_is_stable_across_processes_without_torch():
    code = (
        "import sys, numpy as np; from lamm.formats.pointcloud import sample_points;"
        "print(sample_points(np.arange(1000)[:, None].repeat(3, 1), 5, seed=7, key='a.npy')[:, 0].tolist());"
        "assert 'torch' not in sys.modules  # reading/sampling never needs torch"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": h},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for h in ("1", "2")
    }
    here = sample_points(np.arange(1000)[:, None].repeat(3, 1), 5, seed=7, key="a.npy")[:, 0].tolist()
    assert outs == {f"{here}\n"}


def test_colour_normalisation_values():
    pts = np.array([[1, 2, 3, 0, 0, 0], [0, 0, 0, 135.4, 97.2, 83.8], [0, 0, 0, 255, 51, 0]], np.float32)
    off = normalize_color(pts)  # (rgb - (109.8, 97.2, 83.8)) / 256
    np.testing.assert_allclose(off[0], [1, 2, 3, -0.42890625, -0.3796875, -0.32734375], atol=1e-6)
    np.testing.assert_allclose(off[1, 3:], [0.1, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(normalize_color(pts, "unit")[2, 3:], [1.0, 0.2, 0.0], atol=1e-7)
    assert np.array_equal(normalize_color(pts, "none"), pts)
    assert pts[1, 3] == np.float32(135.4)  # input untouched
    with pytest.raises(ValueError, match="needs \\(N, 6\\)"):
        normalize_color(pts[:, :3])


def test_height_feature():
    pts = np.zeros((100, 3), np.float32)
    pts[:, 2] = np.arange(100)
    h = height_feature(pts)  # floor = np.percentile(z, 0.99) = 0.0099 * 99 = 0.9801
    assert h.shape == (100, 1)
    np.testing.assert_allclose(h[[0, 1, 99], 0], [-0.9801, 0.0199, 98.0199], atol=1e-5)


def test_preprocessor(tmp_path):
    import torch

    rng = np.random.default_rng(0)
    xyz = rng.uniform(-1, 1, (500, 3))
    rgb = np.floor((xyz[:, :1] + 1) * 100).repeat(3, axis=1)  # colour is a function of x
    np.save(tmp_path / "s.npy", np.concatenate([xyz, rgb], axis=1).astype(np.float32))
    pre = PointCloudPreprocessor(num_points=64, use_color=True, use_height=True, seed=3)
    out = pre(tmp_path / "s.npy")
    assert (
        isinstance(out, torch.Tensor)
        and out.dtype == torch.float32
        and out.shape == (64, 7) == (64, pre.channels)
    )
    assert torch.equal(out, pickle.loads(pickle.dumps(pre))(tmp_path / "s.npy"))
    x = out[:, 0].numpy()
    expected_rgb = (np.floor((x.astype(np.float64) + 1) * 100) - 109.8) / 256
    np.testing.assert_allclose(out[:, 3].numpy(), expected_rgb, atol=1e-5)
    floor = np.percentile(xyz[:, 2].astype(np.float32), 0.99)
    np.testing.assert_allclose(out[:, 6].numpy(), out[:, 2].numpy() - floor, atol=1e-5)
    assert not torch.equal(
        out,
        PointCloudPreprocessor(num_points=64, use_color=True, use_height=True, seed=4)(tmp_path / "s.npy"),
    )
    assert PointCloudPreprocessor(num_points=1000)(tmp_path / "s.npy").shape == (
        1000,
        3,
    )  # official: up-sample
    with pytest.raises(FormatError, match="fewer than the 1000 asked"):
        PointCloudPreprocessor(num_points=1000, replace=False)(tmp_path / "s.npy")
    np.save(tmp_path / "xyz.npy", xyz.astype(np.float32))
    with pytest.raises(FormatError, match="xyz.npy.*no rgb columns"):
        pre(tmp_path / "xyz.npy")

    # DataLoader workers receive the preprocessor pickled and give the same tensors as the main process
    ds = _Clouds([tmp_path / "s.npy"] * 4, pre)
    for batch in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2):
        assert torch.equal(batch[0], out) and torch.equal(batch[1], out)


def test_convert_pcl_cli(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    _ply(src / "a.ply")
    (src / "b.xyz").write_text("0 0.5 1\n1.25 -2 0\n3 4 5.5\n")
    out = tmp_path / "out"
    assert main(["data", "convert-pcl", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "a.npy: 3 points, xyz+rgb" in text and "b.npy: 3 points, xyz" in text
    a = np.load(out / "a.npy", allow_pickle=False)
    assert a.dtype == np.float32 and np.array_equal(a, EXPECTED)
    assert np.load(out / "b.npy").shape == (3, 3)
    assert main(["data", "convert-pcl", str(src / "a.ply"), "--out", str(out)]) == 0
    assert "exists, kept" in capsys.readouterr().out
    assert (
        main(["data", "convert-pcl", str(src / "a.ply"), "--out", str(out), "--overwrite", "--xyz-only"]) == 0
    )
    assert np.load(out / "a.npy").shape == (3, 3)

    (src / "c.pcd").write_text("VERSION 0.7\nFIELDS x y z\n")
    assert main(["data", "convert-pcl", str(src / "c.pcd"), "--out", str(out)]) == 2  # FormatError -> exit 2
    assert "c.pcd" in capsys.readouterr().err
    assert main(["data", "convert-pcl", str(src), "--out", str(tmp_path / "o2"), "--on-error", "skip"]) == 0
    text = capsys.readouterr().out
    assert (
        "c.pcd: skipped: PCD header has no DATA line" in text
        and "converted 2, kept 0, skipped 1 of 3" in text
    )
