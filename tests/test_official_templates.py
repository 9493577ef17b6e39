"""Golden tests of the official conversation layouts lamm renders for official deltas (issue 13 items 5
and 9) and of ``lamm chat``'s session commands (issue 14 item 12).

The expected strings are built with the official code's own expressions, copied from OpenGVLab/LAMM:

* commit af99e98 src/conversations.py ``conv_llama2``: ``sys_temp="[INST]<<SYS>>\\n{system_message}\\n<</SYS>>\\n\\n"``,
  ``system`` (default below), ``roles=("[INST]", "[/INST]")``, ``sep=" "``, ``sep2="<s></s>"``;
  ``conversation_dict`` (the training system messages; equal to lamm's ``latest`` table).
* commit af99e98 src/model/openlamm.py ``make_prompt_start``:
  ``PROMPT_START = f'{template.sep} {template.roles[0]}: {VISION_TAGS["sov"][vision_type]}'`` and, with
  ``use_system`` and a batch of task types, ``template.sys_temp.format(system_message=conversation_dict[task])
  + PROMPT_START``; ``build_one_instance``: first turn ``f"{eov} " + value + "\\n{} {}: ".format(template.sep,
  template.roles[1])``, later human turns ``"{}: {}\\n{} {}: ".format(template.roles[0], value, template.sep,
  template.roles[1])``, gpt turns ``value + "\\n{}".format(template.sep2)``;
  ``prepare_generation_embedding``: ``f"{eov} " + prompt + f"\\n{self.conv_template.sep} {self.conv_template.roles[1]}:"``.
* commit af99e98 src/inference_2d.py ``generate_conversation_text``: ``conv.system =
  conv.sys_temp.format(system_message=sys_msg)``; ``prompts += conv.system + '\\n\\n'``;
  ``prompts += "{}: {}\\n{}".format(conv.roles[0], input, conv.sep)``.
* commit 78fc728 (same text at af99e98) src/cli_demo.py ``SYS_MSG`` and ``generate_conversation_text``:
  ``prompts += SYS_MSG``; per earlier turn ``"{} {}: {}\\n{} {}: {}\\n".format(conv.sep, conv.roles[0],
  q.replace('<image>', '').replace('\\n', ''), conv.sep, conv.roles[1], a)``; then ``"{} {}: {}\\n".format(conv.sep,
  conv.roles[0], input)`` (conv ``simple``: sep "###", roles Human/Assistant), wrapped by 78fc728
  openlamm.py ``'### Human: <Img>'`` ... ``f"{eov} " + prompt + "\\n### Assistant:"``.
"""

# ruff: noqa: UP032 -- the expected strings use the official code's own .format() expressions, verbatim
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_helpers import tiny_config, tiny_dir, write_png
from transformers import AutoTokenizer

from lamm.model.generate import GenItem, generate
from lamm.model.lamm_model import build_model
from lamm.model.official_delta import export_official, load_official
from lamm.model.template import (
    IGNORE_INDEX,
    build_generation_prompt,
    cli_demo_system,
    encode_sample,
    get_template,
)
from lamm.protocol.prompts import prompt, train_system_message

N = 4
SYS_TEMP = "[INST]<<SYS>>\n{system_message}\n<</SYS>>\n\n"
LLAMA2_SYSTEM = (
    "[INST]<<SYS>>\nYou are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language.\n<</SYS>>\n\n"
)
ROLES, SEP, SEP2 = ("[INST]", "[/INST]"), " ", "<s></s>"
CLI_DEMO_SYS_MSG = """
You are an AI visual assistant that can analyze a single point cloud. A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions. 
As an AI assistant, you are performing a visual question answering task, and your goal is to generate natural language answers that accurately solve the question. In order to generate accurate answers to questions about visual content, you must be able to understand the content of point cloud, understand the meaning of questions, perform complex reasoning processes, and give out determined results.
"""  # noqa: W291 (verbatim, trailing space included)


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(str(tiny_dir() / "llm"))


def ids_of(tok, pieces):
    out = []
    for p in pieces:
        media = [tok.convert_tokens_to_ids("<media>")] * N
        out += media if p == "<media>" else tok(p, add_special_tokens=False)["input_ids"]
    return out


# ------------------------------------------------------------------------------------- llama2-chat


def test_llama2_chat_training_layout_golden(tok):
    conv = [
        {"from": "human", "value": "<image>\nWhat is in the image?"},
        {"from": "gpt", "value": "A cat sitting on a mat."},
        {"from": "human", "value": "How many dogs are there?"},
        {"from": "gpt", "value": "There are 3 dogs."},
    ]
    enc = encode_sample(conv, "classification", tok, num_media_tokens=N, template="llama2-chat",
                        system_version="latest")  # fmt: skip
    prompt_start = f"{SEP} {ROLES[0]}: <Img>"
    head = SYS_TEMP.format(system_message=train_system_message("classification", "latest")) + prompt_start
    turns = [
        ("</Img> " + "What is in the image?" + "\n{} {}: ".format(SEP, ROLES[1]), False),
        ("A cat sitting on a mat." + "\n{}".format(SEP2), True),
        ("{}: {}\n{} {}: ".format(ROLES[0], "How many dogs are there?", SEP, ROLES[1]), False),
        ("There are 3 dogs." + "\n{}".format(SEP2), True),
    ]
    media = tok.convert_tokens_to_ids("<media>")
    want = [tok.bos_token_id] + ids_of(tok, [head]) + [media] * N + ids_of(tok, [t for t, _ in turns])
    assert enc.input_ids == want
    sup = [i for i, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE_INDEX]
    assert sup == ids_of(tok, [t for t, s in turns if s])
    assert tok.eos_token_id in sup  # "<s></s>" is BOS+EOS: the model learns to end with EOS
    # without system messages the prefix is PROMPT_START alone
    bare = encode_sample(conv[:2], "classification", tok, num_media_tokens=N, template="llama2-chat",
                         use_system=False)  # fmt: skip
    assert bare.input_ids[: 1 + len(ids_of(tok, [prompt_start]))] == [tok.bos_token_id] + ids_of(
        tok, [prompt_start]
    )


def test_llama2_chat_inference_layout_golden(tok):
    tpl = get_template("llama2-chat")
    sys_msg, query = "\nYou are performing a classification task.\n", "What is the object in the image?"
    # inference_2d.py generate_conversation_text (conv_mode llama2) ...
    conv_system = SYS_TEMP.format(system_message=sys_msg)
    text = conv_system + "\n\n" + "{}: {}\n{}".format(ROLES[0], query, SEP)
    # ... wrapped by prepare_generation_embedding with conv_template=conv_llama2
    before = f"{SEP} {ROLES[0]}: <Img>"
    after = "</Img> " + text + f"\n{SEP} {ROLES[1]}:"
    assert tpl.gen_prefix("image") == before and tpl.gen_suffix(sys_msg, query, "image") == after
    ids = build_generation_prompt(sys_msg, query, tok, N, "image", "llama2-chat")
    assert ids == [tok.bos_token_id] + ids_of(tok, [before, "<media>", after])
    # no dataset system message: conv_llama2's own system stays (inference_2d only replaces it if given)
    assert (
        tpl.gen_suffix("", query, "image")
        == "</Img> " + LLAMA2_SYSTEM + "\n\n[INST]: " + query + "\n \n  [/INST]:"
    )
    assert tpl.gen_prefix("pcl") == "  [INST]: <Pcl>"


# ---------------------------------------------------------------------------------------- cli_demo


def test_cli_demo_system_message_is_verbatim():
    assert prompt("cli_demo_v1", "SYS_MSG") == CLI_DEMO_SYS_MSG


def official_cli_demo_text(history, query, sov="<Img>", eov="</Img>"):
    prompts = ""
    prompts += CLI_DEMO_SYS_MSG
    for q, a in history:
        prompts += "{} {}: {}\n{} {}: {}\n".format(
            "###", "Human", q.replace("<image>", "").replace("\n", ""), "###", "Assistant", a
        )
    prompts += "{} {}: {}\n".format("###", "Human", query)
    return f"### Human: {sov}", f"{eov} " + prompts + "\n### Assistant:"


def test_cli_demo_history_layout_golden(tok):
    history = [("<image>\nWhat is\nthis?", "A cat."), ("And the colour?", "Black.")]
    before, after = official_cli_demo_text(history, "Where is it?")
    ids = build_generation_prompt(cli_demo_system(CLI_DEMO_SYS_MSG, history), "Where is it?", tok, N)
    assert ids == [tok.bos_token_id] + ids_of(tok, [before, "<media>", after])
    assert (
        after.startswith("</Img> \nYou are an AI visual assistant") and "### Human: What isthis?\n" in after
    )


# -------------------------------------------------------------------------------------- lamm chat


@pytest.fixture(scope="module")
def official_delta(tmp_path_factory):
    root = tmp_path_factory.mktemp("delta")
    torch.manual_seed(0)
    model, _ = build_model(tiny_config(lora=True))
    with torch.no_grad():  # LoRA B starts at zero: a strong delta makes answers depend on the prompt
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0, 0.5)
    delta = export_official(model, root / "pytorch_model.pt")
    return delta, [write_png(root / f"img{i}.png", 30 + i) for i in range(2)]


def chat(args, stdin):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "lamm.cli", "chat", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=180)  # fmt: skip


def test_chat_on_official_delta_uses_cli_demo_layout_and_commands(official_delta, tmp_path):
    delta, images = official_delta
    root = tiny_dir()
    base = ["--checkpoint", str(delta), "--base-llm", str(root / "llm"), "--encoder", str(root / "clip"),
            "--num-media-tokens", "16", "--max-new-tokens", "8"]  # fmt: skip
    q1, q2 = "What is in the image?", "How many dogs are there?"
    stdin = (f"/help\n{q1}\n/image {tmp_path / 'missing.png'}\n{q2}\n/image {images[1]}\n{q1}\n"
             f"/reset\n{q2}\n/quit\n")  # fmt: skip
    proc = chat([*base, "--image", str(images[0])], stdin)
    assert proc.returncode == 0, proc.stderr
    # expected answers: the cli_demo layout with its default system message, history per image
    model, tok = load_official(
        delta, base_llm=str(root / "llm"), encoder=str(root / "clip"), num_media_tokens=16
    )
    pre = model.encoder.preprocessor()

    def answer(image, history, q):
        item = GenItem(pre(str(image)), cli_demo_system(CLI_DEMO_SYS_MSG, history), q)
        return generate(model, tok, [item], max_new_tokens=8)[0].strip()

    a1 = answer(images[0], [], q1)
    a2 = answer(images[0], [(q1, a1)], q2)  # the bad /image kept the image and the history
    a3 = answer(images[1], [], q1)  # a good /image clears the history
    a4 = answer(images[1], [], q2)  # so does /reset
    assert proc.stdout.splitlines() == [a1, a2, a3, a4]  # /help was never answered by the model
    # the layout matters: lamm's own history rendering (as trained) would have answered otherwise
    lamm_layout = GenItem(pre(str(images[0])), CLI_DEMO_SYS_MSG, q2, history=[(q1, a1)])
    assert generate(model, tok, [lamm_layout], max_new_tokens=8)[0].strip() != a2
    err = proc.stderr
    assert "/image PATH" in err and "/reset" in err  # the help text
    assert f"cannot read {tmp_path / 'missing.png'}" in err and "kept the previous media" in err
    assert f"now talking about {images[1]} (history cleared)" in err
    assert "history cleared" in err.split(str(images[1]))[-1]  # /reset confirmed too
    assert "Traceback" not in err


def test_chat_bad_start_image_and_template_are_clear_errors(official_delta, tmp_path, capsys):
    from lamm.cli import main

    delta, _ = official_delta
    root = tiny_dir()
    base = ["chat", "--checkpoint", str(delta), "--base-llm", str(root / "llm"), "--encoder", str(root / "clip"),
            "--num-media-tokens", "16"]  # fmt: skip
    assert main([*base, "--image", str(tmp_path / "nope.png")]) == 2
    assert f"cannot read {tmp_path / 'nope.png'}" in capsys.readouterr().err
    assert main([*base, "--template", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown template 'nope'" in err and "llama2-chat" in err
    with pytest.raises(SystemExit) as exc:  # was a raw ValueError traceback from the model config
        main([*base, "--dtype", "half"])
    assert exc.value.code == 2
    assert "argument --dtype: invalid choice: 'half'" in capsys.readouterr().err


def test_load_official_takes_the_template(official_delta):
    delta, _ = official_delta
    root = tiny_dir()
    model, _ = load_official(delta, base_llm=str(root / "llm"), encoder=str(root / "clip"), num_media_tokens=16,
                             template="llama2-chat")  # fmt: skip
    assert model.config.template == "llama2-chat"
