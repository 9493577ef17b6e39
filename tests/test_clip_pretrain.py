"""2D tiny vision-tower pre-training: answer-word targets and a short run that saves a loadable tower."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from lamm.train.pretrain.clip import answer_words, pretrain, word_targets


def _rec(i: int, answer: str, task_type: str = "classification") -> dict:
    return {
        "id": str(i),
        "image": f"imgs/{i}.png",
        "task_type": task_type,
        "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": answer}],
    }


def test_answer_words_and_targets():
    assert answer_words(_rec(0, "The category is Circle.")) == {"circle"}
    recs = [_rec(0, "It is a circle."), _rec(1, "It is a square."), _rec(2, "It is a circle."),
            _rec(3, "There are 3 circles.")]  # fmt: skip
    # "circle" in 2/4 records (kept at max_fraction 0.5), "square" and "3"/"circles" in 1/4, "it" is a stop word
    vocab, y = word_targets(recs, min_count=1, max_fraction=0.5)
    assert vocab == ["3", "circle", "circles", "square"]
    assert y.tolist() == [[0, 1, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0], [1, 0, 1, 0]]
    vocab, _ = word_targets(recs, min_count=2, max_fraction=0.5)
    assert vocab == ["circle"]


def test_pretrain_saves_a_clip_tower_that_loads(tmp_path):
    from lamm.model.encoders import build_encoder

    meta = tmp_path / "2D_Instruct" / "meta_file"
    meta.mkdir(parents=True)
    (tmp_path / "2D_Instruct" / "imgs").mkdir()
    recs = []
    for i in range(8):
        color = (255, 0, 0) if i % 2 else (0, 0, 255)
        Image.fromarray(np.full((32, 32, 3), color, np.uint8)).save(
            tmp_path / "2D_Instruct" / "imgs" / f"{i}.png"
        )
        recs.append(_rec(i, "It is red." if i % 2 else "It is blue."))
    recs.append(_rec(8, "Not used.", task_type="detection"))
    (meta / "x.json").write_text(json.dumps(recs), "utf-8")
    tiny = {"image_size": 16, "patch_size": 8, "vision_layers": 1, "vision_hidden": 32, "heads": 2}
    out = tmp_path / "enc"
    summary = pretrain(
        [(meta / "x.json", ["classification"], None)],
        tiny,
        out,
        steps=30,
        batch_size=8,
        lr=1e-2,
        min_count=1,
        log=False,
    )
    assert summary["images"] == 8 and summary["vocab"] == ["blue", "red"]
    assert summary["loss_ema"] < 0.5  # two colours: separable within a few steps (starts near ln 2)
    enc = build_encoder({"type": "clip", "path": str(out), "feature": "local"})
    assert enc.num_tokens == 4 and enc.hidden_size == 32
    with torch.no_grad():
        feats = enc(torch.zeros(1, 3, 16, 16))
    assert feats.shape == (1, 4, 32)
    assert json.loads((out / "pretrain.json").read_text())["steps"] == 30
    # the same file through two data.files entries (e.g. one with ids and a weight): each record once
    again = pretrain([(meta / "x.json", ["classification"], None), (meta / "x.json", ["classification"], None)], tiny,
                     tmp_path / "enc2", steps=1, batch_size=8, min_count=1, log=False)  # fmt: skip
    assert again["images"] == 8  # not 16


def test_box_word_targets_mark_the_patches_of_the_smallest_box():
    from lamm.train.pretrain.clip import box_word_targets

    rec = _rec(0, "The objects are: red circle [0.0, 0.0, 1.0, 0.5], blue star [0.5, 0.0, 1.0, 0.5].")
    index = {"red": 0, "circle": 1, "blue": 2, "star": 3}
    words, noun = box_word_targets(rec, index, grid=2)  # patch centres at 0.25 and 0.75
    words = words.view(2, 2, 4).int()
    assert words[0, 0].tolist() == [1, 1, 0, 0]  # top left: only the big red circle box
    assert words[0, 1].tolist() == [0, 0, 1, 1]  # top right: both boxes, the smaller star wins
    assert words[1].sum() == 0  # bottom row: outside every box
    assert noun.tolist() == [1, 3, -1, -1]  # the last word of each box's name: circle, star, none
    assert box_word_targets(_rec(1, "It is a circle."), index, grid=2) is None


def test_missing_tower_corpus_is_a_clear_error_only_when_pretraining(tmp_path):
    import pytest

    from lamm.train.cli import resolve_config_paths
    from lamm.train.config import ConfigError, load_config, preset_path

    meta = tmp_path / "2D_Instruct" / "meta_file"
    meta.mkdir(parents=True)
    (meta / "vision_task_dialogue_1.json").write_text(json.dumps([_rec(0, "It is a circle.")]), "utf-8")
    cfg = load_config(preset_path("tiny"))
    with pytest.raises(ConfigError, match="2D_Pretrain/meta_file/tower_pretrain.json does not exist"):
        resolve_config_paths(cfg, str(tmp_path))
    cfg = load_config(preset_path("tiny"), ["tiny.encoder_pretrain_steps=0"])  # tower given elsewhere
    resolve_config_paths(cfg, str(tmp_path))
    assert [f.path for f in cfg.data.files] == [str(meta / "vision_task_dialogue_1.json")] * 2
