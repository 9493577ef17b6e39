"""Test helpers for the benchmark runner: a small generated benchmark and a deterministic adapter.

The adapter is a real :class:`Adapter` (usable as ``--model py:eval_helpers:make_echo:ARGS`` in a
subprocess with ``tests/`` on ``PYTHONPATH``): its answer is a pure function of one request, so any
dependence of the runner's output on batch size, process count or resumption shows up as a diff.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest
from lamm.protocol.prompts import prompt

LABELS = ["cat", "dog", "ship", "truck"]


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(path)


def make_benchmark_2d(root: Path, n: int = 6) -> Path:
    """CIFAR10 (single pass), SQAimage (two passes) and LSP keypoints (14 questions) with n records each."""
    meta = root / "meta_file"
    meta.mkdir(parents=True, exist_ok=True)
    cifar, sqa, lsp = [], [], []
    for i in range(n):
        _png(root / "cifar10_images" / f"{i}.png", i)
        cifar.append(
            {"id": f"c{i}", "image": f"cifar10_images/{i}.png", "query": "What is the object in the image?",
             "label": LABELS[i % len(LABELS)]}
        )  # fmt: skip
        _png(root / "sqaimage_images" / f"{i}.png", 100 + i)
        sqa.append(
            {"id": f"q{i}", "image": f"sqaimage_images/{i}.png",
             "query": f"Which colour is thing {i}? \nOptions: (A) red (B) blue\n",
             "gt_choice": i % 2, "gt_choices": ["red", "blue"]}
        )  # fmt: skip
        _png(root / "lsp_images" / f"{i}.png", 200 + i)
        lsp.append(
            {"id": f"l{i}", "image": f"lsp_images/{i}.png",
             "query": prompt("eval_2d_v1_constants", "KEYPOINTS_DET_QS"),
             "gt_joints": [[float(j), float(j), 1] for j in range(14)]}
        )  # fmt: skip
    for name, rows in [
        ("Classification_CIFAR10.json", cifar),
        ("VQA_SQAimage.json", sqa),
        ("Keypoints_Detection_LSP.json", lsp),
    ]:
        (meta / name).write_text(json.dumps(rows, indent=1), "utf-8")
    return root


def make_benchmark_3d(root: Path, n: int = 4) -> Path:
    """ScanQA multiple choice (two passes) over small .npy point clouds."""
    (root / "meta_file").mkdir(parents=True, exist_ok=True)
    (root / "scannet_pcls").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        pts = np.random.default_rng(i).normal(size=(64, 6)).astype(np.float32)
        np.save(root / "scannet_pcls" / f"scene{i:04d}_00.npy", pts)
        rows.append(
            {"id": f"s{i}", "pcl": f"./scannet_pcls/scene{i:04d}_00.npy",
             "query": "What is next to the bed? \nOptions: (A) chair (B) table (C) lamp\n",
             "gt_choice": i % 3, "gt_choices": ["chair", "table", "lamp"]}
        )  # fmt: skip
    (root / "meta_file" / "VQA_ScanQA_multiplechoice.json").write_text(json.dumps(rows), "utf-8")
    return root


def media_name(request: GenRequest) -> str:
    return f"{request.media.parent.name}/{request.media.name}" if request.media else ""


def echo_answer(request: GenRequest) -> str:
    """Deterministic answer of one request (depends on nothing else)."""
    digest = hashlib.sha256(f"{media_name(request)}|{request.query}".encode()).digest()
    word = LABELS[digest[0] % len(LABELS)]
    if request.query.endswith("ANSWER:"):
        return "(A)" if digest[1] % 2 else "(B)"
    return f"It is a {word} [{digest[2] / 255:.2f}, {digest[3] / 255:.2f}] {digest[4]}"


class EchoAdapter(Adapter):
    """Answers with :func:`echo_answer`; optionally sleeps per batch, logs each request, fails some."""

    kind = "echo"

    def __init__(self, delay: float = 0.0, log: str | None = None, fail: str | None = None) -> None:
        super().__init__("py:eval_helpers:make_echo")
        self.delay, self.log, self.fail = delay, log, fail
        self.calls: list[int] = []

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        self.calls.append(len(requests))
        hold = os.environ.get("ECHO_HOLD")  # after the first batch, wait while this file exists
        deadline = time.time() + 120
        while hold and len(self.calls) > 1 and os.path.exists(hold) and time.time() < deadline:
            time.sleep(0.02)
        if self.delay:
            time.sleep(self.delay)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as fh:
                for r in requests:
                    fh.write(f"{os.getpid()}\t{media_name(r)}\t{r.query[:40]!r}\n")
        return [
            GenFailure("injected failure") if self.fail and media_name(r) == self.fail
            else echo_answer(r)
            for r in requests
        ]  # fmt: skip

    def decoding(self) -> dict:
        return {"greedy": True}


def make_echo(arg: str = "", **_options) -> EchoAdapter:
    """``py:eval_helpers:make_echo[:delay=0.05,log=/tmp/x]``; also ``ECHO_DELAY``/``ECHO_LOG`` from the env."""
    kw = {"delay": os.environ.get("ECHO_DELAY", "0"), "log": os.environ.get("ECHO_LOG")}
    kw.update(p.split("=", 1) for p in arg.split(",") if p)
    return EchoAdapter(float(kw.get("delay", 0)), kw.get("log"), kw.get("fail"))


LLAVA_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'][0]['text'] }} "
    "{% elif m['role'] == 'user' %}USER: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {{ m['content'][0]['text'] }}</s>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def make_tiny_llava(out: Path, seed: int = 0) -> Path:
    """A random LlavaForConditionalGeneration (CLIP 32 px / 8 px patches + 2-layer LLaMA) with a
    LLaVA-1.5-style processor and chat template, saved with ``save_pretrained``."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )  # fmt: skip

    from lamm.model.tiny import train_tokenizer

    corpus = [
        "USER: what is it? ASSISTANT: a cat on a mat.",
        "It is a dog. It is a ship. Options: (A) red",
    ] * 30
    tok = train_tokenizer(corpus, 300, out / "tok")
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    images = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True
    )
    proc = LlavaProcessor(
        image_processor=images, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
        chat_template=LLAVA_TEMPLATE, image_token="<image>", num_additional_image_tokens=1,
    )  # fmt: skip
    torch.manual_seed(seed)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8, projection_dim=32,
        ),
        text_config=LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        ),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2, vision_feature_select_strategy="default",
    )  # fmt: skip
    model = LlavaForConditionalGeneration(cfg)
    model.save_pretrained(out / "llava")
    proc.save_pretrained(out / "llava")
    return out / "llava"
