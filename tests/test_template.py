"""Golden tests of the official LAMM training/inference layout (LAMM_FORMATS §5.2, §5.4)."""

from __future__ import annotations

import pytest
from model_helpers import tiny_dir
from transformers import AutoTokenizer

from lamm.model.template import (
    IGNORE_INDEX,
    EmptySupervisionError,
    build_generation_prompt,
    encode_sample,
)
from lamm.protocol.prompts import train_system_message

N = 4  # media tokens


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(str(tiny_dir() / "llm"))


CONV_2D = [
    {"from": "human", "value": "<image>\nWhat is in the image?"},
    {"from": "gpt", "value": "A cat sitting on a mat."},
    {"from": "human", "value": "How many dogs are there?"},
    {"from": "gpt", "value": "There are 3 dogs."},
]
CONV_3D = [
    {"from": "human", "value": "Where is the chair?\n<pcl>"},
    {"from": "gpt", "value": "At the left."},
]


def pieces(tok, spec):
    """(text, supervised) pieces -> expected ids and labels, each piece tokenised on its own."""
    ids, labels = [], []
    for text, sup in spec:
        p = tok(text, add_special_tokens=False)["input_ids"]
        ids += p
        labels += p if sup else [IGNORE_INDEX] * len(p)
    return ids, labels


def test_multiturn_2d_golden(tok):
    media = tok.convert_tokens_to_ids("<media>")
    enc = encode_sample(CONV_2D, "classification", tok, num_media_tokens=N)
    sys = train_system_message("classification", "v1")
    head, _ = pieces(tok, [(sys + "\n\n### Human: <Img>", False)])
    head = [tok.bos_token_id] + head + [media] * N
    body, body_labels = pieces(
        tok,
        [
            ("</Img> What is in the image?\n### Assistant:", False),
            ("A cat sitting on a mat.\n###", True),
            ("Human: How many dogs are there?\n### Assistant:", False),
            ("There are 3 dogs.\n###", True),
        ],
    )
    assert enc.input_ids == head + body
    assert enc.labels == [IGNORE_INDEX] * len(head) + body_labels
    # The rendered text, exactly.
    text = tok.decode(enc.input_ids)
    assert text == (
        "<s>" + sys + "\n\n### Human: <Img>" + "<media>" * N + "</Img> What is in the image?\n### Assistant:"
        "A cat sitting on a mat.\n###Human: How many dogs are there?\n### Assistant:There are 3 dogs.\n###"
    )
    # The label mask, exactly: only the two assistant answers (with their "\n###") are supervised.
    supervised = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE_INDEX])
    assert supervised == "A cat sitting on a mat.\n###There are 3 dogs.\n###"


def test_3d_golden(tok):
    media = tok.convert_tokens_to_ids("<media>")
    enc = encode_sample(CONV_3D, "detection3d", tok, num_media_tokens=N, modality="pcl")
    sys = train_system_message("detection3d", "v1")
    text = tok.decode(enc.input_ids)
    assert text == (
        "<s>" + sys + "\n\n### Human: <Pcl>" + "<media>" * N + "</Pcl> Where is the chair?\n### Assistant:"
        "At the left.\n###"
    )
    assert enc.input_ids.count(media) == N
    ids, labels = pieces(
        tok, [("</Pcl> Where is the chair?\n### Assistant:", False), ("At the left.\n###", True)]
    )
    assert enc.input_ids[-len(ids) :] == ids
    assert enc.labels[-len(ids) :] == labels
    assert all(lab == IGNORE_INDEX for lab in enc.labels[: -len(ids)])


def test_no_system_prefix(tok):
    enc = encode_sample(CONV_3D, "detection3d", tok, num_media_tokens=2, modality="pcl", use_system=False)
    assert tok.decode(enc.input_ids).startswith("<s>### Human: <Pcl><media><media></Pcl> Where")


def test_truncation_keeps_media_and_cuts_turns_from_the_end(tok):
    full = encode_sample(CONV_2D, "normal", tok, num_media_tokens=N, use_system=False)
    head = full.input_ids.index(tok.convert_tokens_to_ids("<media>")) + N
    first_two, _ = pieces(tok, [("</Img> What is in the image?\n### Assistant:", False), ("A cat", True)])
    limit = len(first_two)
    enc = encode_sample(CONV_2D, "normal", tok, num_media_tokens=N, use_system=False, max_length=limit)
    assert len(enc) == head + limit
    assert enc.input_ids == full.input_ids[: head + limit]
    assert enc.input_ids.count(tok.convert_tokens_to_ids("<media>")) == N
    # max_total_length bounds the whole sequence, still never cutting the media
    enc2 = encode_sample(
        CONV_2D, "normal", tok, num_media_tokens=N, use_system=False, max_total_length=head + limit
    )
    assert enc2.input_ids == enc.input_ids


def test_empty_supervision_names_sample(tok):
    n_human = len(tok("</Img> What is in the image?\n### Assistant:", add_special_tokens=False)["input_ids"])
    with pytest.raises(EmptySupervisionError, match="'s-17'"):
        encode_sample(CONV_2D, "normal", tok, num_media_tokens=N, max_length=n_human, sample_id="s-17")
    with pytest.raises(EmptySupervisionError):
        encode_sample(CONV_2D[:1], "normal", tok, num_media_tokens=N, sample_id="x")


def test_bad_roles(tok):
    with pytest.raises(ValueError, match="first turn"):
        encode_sample(CONV_2D[1:], "normal", tok, num_media_tokens=N)
    bad = [CONV_2D[0], {"from": "system", "value": "x"}]
    with pytest.raises(ValueError, match="role 'system'"):
        encode_sample(bad, "normal", tok, num_media_tokens=N)


def test_vicuna_template(tok):
    enc = encode_sample(
        CONV_2D[:2], "normal", tok, num_media_tokens=2, template="vicuna-v1", use_system=False
    )
    assert tok.decode(enc.input_ids) == (
        "<s>USER:<media><media>\nWhat is in the image? ASSISTANT: A cat sitting on a mat.</s>"
    )
    sup = [t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE_INDEX]
    assert tok.decode(sup) == " A cat sitting on a mat.</s>"


def test_generation_prompt_official_layout(tok):
    sys = "\nYou are a helpful assistant.\n"
    ids = build_generation_prompt(sys, "What is in the image?", tok, N, "image", "lamm-v1")
    assert tok.decode(ids) == (
        "<s>### Human: <Img>" + "<media>" * N + "</Img> \nYou are a helpful assistant.\n### Human: "
        "What is in the image?\n\n### Assistant:"
    )
    # multi-turn: earlier turns rendered as in training
    ids = build_generation_prompt(sys, "How many?", tok, N, history=[("What is it?", "A cat.")])
    assert tok.decode(ids).endswith(
        "What is it?\n\n### Assistant:A cat.\n###Human: How many?\n### Assistant:"
    )


def test_tiny_tokenizer_special_tokens(tok):
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
    media = tok.convert_tokens_to_ids("<media>")
    assert tok("a<media>b", add_special_tokens=False)["input_ids"].count(media) == 1  # one atomic token
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id, media}) == 5


def test_media_token_in_text_is_refused(tok):
    conv = [{"from": "human", "value": "look: <media>"}, {"from": "gpt", "value": "ok"}]
    with pytest.raises(ValueError, match="'m1'.*media token"):
        encode_sample(conv, "normal", tok, num_media_tokens=N, sample_id="m1")


def test_vicuna_generation_prompt(tok):
    ids = build_generation_prompt("", "What is it?", tok, 2, template="vicuna-v1")
    assert tok.decode(ids) == (
        "<s>A chat between a curious user and an artificial intelligence assistant. The assistant gives "
        "helpful, detailed, and polite answers to the user's questions. USER:<media><media>\nWhat is it? ASSISTANT:"
    )
