"""``lamm data stats``: counts, turn and token distributions, histogram PNG, HTML with rendered examples."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from lamm.cli import main
from lamm.formats import InstructSample, write_instruct


def test_stats_counts_lengths_and_pages(tmp_path, capsys):
    root = tmp_path / "2D_Instruct"
    root.mkdir()
    Image.new("RGB", (40, 20), (200, 10, 10)).save(root / "a.png")
    conv1 = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A red box."}]
    conv2 = conv1 + [{"from": "human", "value": "Why?"}, {"from": "gpt", "value": "It is red, clearly."}]
    write_instruct(root / "meta_file" / "x.json", [
        InstructSample("1", "image", "a.png", conv1, "conversation", {"src_image": "coco2017"}),
        InstructSample("2", "image", "a.png", conv2, "detection", {"src_image": "voc2012"}),
        InstructSample("3", "image", "missing.png", conv1, "conversation", {"src_image": "coco2017"}),
    ])  # fmt: skip
    d3 = tmp_path / "3D_Instruct"
    (d3 / "pcls").mkdir(parents=True)
    np.save(d3 / "pcls/s.npy", np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32))
    write_instruct(d3 / "meta_file" / "y.json", [
        InstructSample("s", "pcl", "pcls/s.npy", [{"from": "human", "value": "What?"}, conv1[1]],
                       "classification3d", {"src_dataset": "ShapeNet"}),
    ])  # fmt: skip
    out = tmp_path / "stats"
    rc = main(["data", "stats", str(root / "meta_file/x.json"), str(d3 / "meta_file"), "--out", str(out)])
    assert rc == 0
    st = json.loads((out / "stats.json").read_text())
    assert st["samples"] == 4 and st["unique_media"] == 3
    assert st["by_task_type"] == {"classification3d": 1, "conversation": 2, "detection": 1}
    assert st["by_source"] == {"ShapeNet": 1, "coco2017": 2, "voc2012": 1}
    assert st["by_modality"] == {"image": 3, "pcl": 1}
    # word/punctuation pieces: "What is it ?" (4) + "A red box ." (4) = 8; sample 2 adds "Why ?" (2) + 6
    assert st["tokens"]["min"] == 6 and st["tokens"]["max"] == 16 and st["tokens"]["median"] == 8.0
    assert st["rounds_histogram"] == {"1": 3, "2": 1}
    assert (out / "lengths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "examples.html").read_text()
    assert page.count("class='ex'") == 4 and page.count("data:image/png;base64,") == 3  # 2x a.png + 3D view
    assert "missing.png (not readable)" in page and "A red box." in page
    assert "conversation" in capsys.readouterr().out
