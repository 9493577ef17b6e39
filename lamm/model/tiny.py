"""Tiny random models for tests and the ``tiny`` preset: saved to local folders so the real
``from_pretrained`` loading path is what runs (no hub access)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from lamm.model.config import LoraSettings, ModelConfig
from lamm.model.encoders.clip import CLIP_MEAN, CLIP_STD

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<media>"]
# Template text the tokenizer should see even when the data is tiny.
_TEMPLATE_TEXT = "### Human: <Img> </Img> ### Assistant: ### Human: <Pcl> </Pcl> \n###\n\n"


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on ``texts`` (plus the template pieces), saved as a transformers tokenizer
    with ``<s>``/``</s>``/``<pad>``/``<unk>`` and the ``<media>`` special token."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_with_template(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens=["<media>"],
    )
    fast.padding_side = "right"
    fast.save_pretrained(str(out_dir))
    return fast


def _with_template(texts: Iterable[str]) -> Iterable[str]:
    yield _TEMPLATE_TEXT * 20
    yield from texts


def build_tiny(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    image_size: int = 64,
    patch_size: int = 8,
    vision_layers: int = 2,
    vision_hidden: int = 128,
    llm_layers: int = 2,
    llm_hidden: int = 256,
    heads: int = 4,
    vocab_size: int = 2000,
    num_media_tokens: int | None = None,
    max_positions: int = 2048,
    seed: int = 0,
    lora: LoraSettings | None = None,
) -> ModelConfig:
    """Random CLIP vision tower + LLaMA + BPE tokenizer under ``out_dir/{clip,llm}``.

    Returns a ModelConfig pointing at them: full fine-tuning, encoder trainable (random weights must
    learn), linear projector, ``num_media_tokens`` = all patches unless given.
    """
    out = Path(out_dir).resolve()  # absolute paths in the config: checkpoints load from any directory
    llm_dir, clip_dir = out / "llm", out / "clip"
    tokenizer = train_tokenizer(texts, vocab_size, llm_dir)
    torch.manual_seed(seed)
    vision_cfg = CLIPVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=vision_hidden * 4,
        num_hidden_layers=vision_layers,
        num_attention_heads=heads,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=vision_hidden,
    )
    CLIPVisionModel(vision_cfg).save_pretrained(str(clip_dir))
    (clip_dir / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD), "crop_size": image_size}),
        "utf-8",
    )
    llm_cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=llm_hidden,
        intermediate_size=llm_hidden * 3,
        num_hidden_layers=llm_layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(llm_cfg).save_pretrained(str(llm_dir))
    patches = (image_size // patch_size) ** 2
    return ModelConfig(
        llm=str(llm_dir),
        encoder={"type": "clip", "path": str(clip_dir), "feature": "local"},
        projector="linear",
        num_media_tokens=num_media_tokens or patches,
        lora=lora,
        dtype="float32",
        attn_implementation="sdpa",
        freeze_encoder=False,
    )
