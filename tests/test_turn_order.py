"""Instruction turn order as the official trainer takes it: any human/gpt sequence that starts with a
human turn, every gpt turn supervised, every human turn prompt.

Golden: OpenGVLab/LAMM src/model/openlamm.py ``build_one_instance`` at 78fc728 (the v1 trainer):
``if i == 0: assert role == "human"; text = f"{eov} " + value + "\\n### Assistant:"`` (label -100);
later ``human``: ``"Human: " + value + "\\n### Assistant:"`` (label -100); ``gpt``: ``value + "\\n###"``
(labels = ids); any other role: ``raise Exception("Wrong Role!!!")``. No alternation check."""

from __future__ import annotations

import json

import pytest
from train_helpers import make_instruct, texts_of

from lamm.cli import main
from lamm.formats.errors import FormatError
from lamm.formats.instruct import check_conversation
from lamm.model.template import IGNORE_INDEX
from lamm.train.config import DataConfig, DataFile
from lamm.train.data import SkipLog, load_items

H0 = {"from": "human", "value": "<image>\nWhat colour is the image?"}
G1 = {"from": "gpt", "value": "The image is red."}
G2 = {"from": "gpt", "value": "It is a bright red."}
H1 = {"from": "human", "value": "Look again, please."}
ORDERS = {"h,g,g": [H0, G1, G2], "h,h,g": [H0, H1, G1], "h,g,h,g": [H0, G1, H1, G2]}


def official_pieces(conv):
    """(text, supervised) per turn, as build_one_instance@78fc728 builds them (2D: eov '</Img>')."""
    out = []
    for i, turn in enumerate(conv):
        if i == 0:
            value = turn["value"].replace("<image>\n", "").replace("\n<image>", "")
            out.append(("</Img> " + value + "\n### Assistant:", False))
        elif turn["from"] == "human":
            out.append(("Human: " + turn["value"] + "\n### Assistant:", False))
        else:
            out.append((turn["value"] + "\n###", True))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = make_instruct(tmp_path_factory.mktemp("turns"), n=len(ORDERS))
    recs = json.loads(path.read_text("utf-8"))
    for rec, conv in zip(recs, ORDERS.values()):
        rec["conversations"] = conv
    path.write_text(json.dumps(recs), "utf-8")
    return path


def test_non_alternating_turns_train_exactly_the_gpt_turns(data, tmp_path_factory):
    from lamm.model.tiny import train_tokenizer

    tok = train_tokenizer(texts_of(data), 300, tmp_path_factory.mktemp("tok"))
    items, _ = load_items(
        DataConfig(files=[DataFile(str(data))]), tok, num_media_tokens=4, modality="image", skip_log=SkipLog()
    )
    assert len(items) == len(ORDERS)  # none refused (strict on_error="raise" is the default)
    for item, (name, conv) in zip(items, ORDERS.items()):
        ids, labels = item.input_ids.tolist(), item.labels.tolist()
        body_ids, body_labels = [], []
        for text, supervised in official_pieces(conv):
            piece = tok(text, add_special_tokens=False)["input_ids"]
            body_ids += piece
            body_labels += piece if supervised else [IGNORE_INDEX] * len(piece)
        n = len(body_ids)
        assert ids[-n:] == body_ids and labels[-n:] == body_labels, name
        assert all(lab == IGNORE_INDEX for lab in labels[:-n]), name  # BOS, prefix, media
        gpt_text = "".join(t["value"] + "\n###" for t in conv if t["from"] == "gpt")
        assert tok.decode([i for i, lab in zip(ids, labels) if lab != IGNORE_INDEX]) == gpt_text, name


def test_validate_accepts_with_a_warning(data, capsys):
    assert main(["data", "validate", str(data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ok"] and summary["problem_count"] == 0
    assert [(w["index"], w["field"]) for w in summary["warnings"]] == [
        (0, "conversations"),
        (1, "conversations"),
    ]
    assert "turns do not alternate (human, gpt, gpt)" in summary["warnings"][0]["message"]
    assert main(["data", "validate", str(data)]) == 0
    assert "warnings (2):" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("conv", "message"),
    [
        ([G1, H1], "first turn must be 'human'"),  # the official assert
        ([H0, H1], "no gpt turn"),  # the official trainer takes it and learns nothing: refused
        ([H0, {"from": "system", "value": "x"}], "only 'human' and 'gpt'"),  # "Wrong Role!!!"
    ],
)
def test_still_refused(conv, message):
    with pytest.raises(FormatError, match=message):
        check_conversation(conv)
