"""Tiny random image-text-to-text checkpoints of real transformers families, for ``hf:`` tests.

Each builder makes the family's real model and processor classes with tiny sizes, a BPE tokenizer trained
here with ``tokenizers`` (its special tokens named as the family's processor expects, BOS added by the
tokenizer where the family's tokenizer adds it), and a chat template of the family's own shape (shortened
from the published one: same turn markers, same image placeholder, BOS rendered where the original renders
it). Saved with ``save_pretrained`` so the adapter loads them by path like a downloaded model.

Without torchvision, processors that carry a video processor are built without it
(:func:`lamm.bench.eval.adapters.hf_load.without_video`), as the adapter loads them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_helpers import LLAVA_TEMPLATE

CORPUS = [
    "USER: what is it? ASSISTANT: a cat on a mat. user assistant system model",
    "It is a dog. It is a ship. Options: (A) red (B) blue ANSWER: The answer is",
] * 20

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def tokenizer(
    out: Path, *, bos: str | None, eos: str, pad: str, add_bos: bool, named: dict[str, str], extra=()
) -> Any:
    """BPE tokenizer; ``named`` special tokens become attributes (``tok.image_token``), ``extra`` plain
    special tokens; ``add_bos``: a post-processor prepends BOS, as Llama/Gemma tokenizers do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [t for t in (bos, eos, pad, "<unk>") if t] + list(named.values()) + list(extra)
    specials = list(dict.fromkeys(specials))
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(CORPUS, trainer=trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token="<unk>",
        extra_special_tokens=named or None,
    )  # fmt: skip
    if extra:
        fast.add_special_tokens(
            {"additional_special_tokens": list(extra)}, replace_extra_special_tokens=False
        )
    fast.save_pretrained(out / "tok")
    return fast


def processor(cls: type, **parts: Any) -> Any:
    from lamm.bench.eval.adapters.hf_load import without_video

    if not HAS_TORCHVISION and "video_processor" in cls.get_attributes():
        cls = without_video(cls)
    return cls(**parts)


def save(out: Path, model_cls: type, cfg: Any, proc: Any, seed: int = 0) -> Path:
    """Seeded random weights (the same checkpoint every run), saved with the processor."""
    import torch

    torch.manual_seed(seed)
    model = model_cls(cfg)
    model.save_pretrained(out / "model")
    proc.save_pretrained(out / "model")
    return out / "model"


def llama(tok: Any, **kw: Any) -> dict[str, Any]:
    """A 2-layer text config (Llama/Qwen2/Gemma field names)."""
    cfg = dict(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=4096, head_dim=16, tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    cfg.update(kw)
    return cfg


VIT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def _user_turns(image: str, *, user: str, end: str, sys: str | None, assistant: str, bos: str = "") -> str:
    """An im_start-like template: optional system turn, user turn with the image first, generation prompt."""
    system = (
        "{% if m['role'] == 'system' %}" + sys + "{{ m['content'][0]['text'] }}" + end + "{% endif %}"
        if sys
        else ""
    )
    return (
        bos + "{% for m in messages %}" + system + "{% if m['role'] == 'user' %}" + user
        + "{% for c in m['content'] %}{% if c['type'] == 'image' %}" + image + "{% endif %}{% endfor %}"
        + "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
        + end + "{% endif %}{% endfor %}{% if add_generation_prompt %}" + assistant + "{% endif %}"
    )  # fmt: skip


CHATML = dict(user="<|im_start|>user\n", end="<|im_end|>\n", sys="<|im_start|>system\n",
              assistant="<|im_start|>assistant\n")  # fmt: skip


# ------------------------------------------------------------------------------------------- families


def llava(out: Path) -> Path:
    """LLaVA-1.5: CLIP + Llama; ``USER: <image>\\n...``; the Llama tokenizer adds BOS."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = tokenizer(out, bos="<s>", eos="</s>", pad="<pad>", add_bos=True, named={"image_token": "<image>"})
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = processor(LlavaProcessor, image_processor=ip, tokenizer=tok, patch_size=8, chat_template=LLAVA_TEMPLATE,
                     vision_feature_select_strategy="default", num_additional_image_tokens=1)  # fmt: skip
    cfg = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", **VIT, image_size=32, patch_size=8),
        text_config=dict(model_type="llama", **llama(tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-2,
    )  # fmt: skip
    return save(out, LlavaForConditionalGeneration, cfg, proc)


def llava_next(out: Path) -> Path:
    """LLaVA-NeXT (anyres tiles); Mistral-style ``[INST] <image>\\n... [/INST]``; BOS rendered by the template."""
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tok = tokenizer(out, bos="<s>", eos="</s>", pad="<pad>", add_bos=True, named={"image_token": "<image>"})
    template = _user_turns(
        "<image>\n", user="[INST] ", end=" [/INST]", sys=None, assistant="", bos="{{ bos_token }}"
    )
    pins = [[32, 32], [32, 64], [64, 32]]
    ip = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                    image_grid_pinpoints=pins)  # fmt: skip
    proc = processor(LlavaNextProcessor, image_processor=ip, tokenizer=tok, patch_size=8, chat_template=template,
                     vision_feature_select_strategy="default", num_additional_image_tokens=1)  # fmt: skip
    cfg = LlavaNextConfig(
        vision_config=dict(model_type="clip_vision_model", **VIT, image_size=32, patch_size=8),
        text_config=dict(model_type="mistral", **llama(tok)), image_grid_pinpoints=pins,
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-2,
    )  # fmt: skip
    return save(out, LlavaNextForConditionalGeneration, cfg, proc)


def llava_onevision(out: Path) -> Path:
    """LLaVA-OneVision: SigLIP + Qwen2, ChatML; no BOS."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionProcessor,
    )
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    tok = tokenizer(out, bos=None, eos="<|im_end|>", pad="<|endoftext|>", add_bos=False,
                    named={"image_token": "<image>", "video_token": "<video>"}, extra=["<|im_start|>"])  # fmt: skip
    pins = [[32, 32], [32, 64], [64, 32]]
    ip = LlavaOnevisionImageProcessorPil(size={"height": 32, "width": 32}, image_grid_pinpoints=pins)
    template = _user_turns("<image>\n", **CHATML)
    proc = processor(LlavaOnevisionProcessor, image_processor=ip, tokenizer=tok, num_image_tokens=16,
                     vision_feature_select_strategy="full", chat_template=template)  # fmt: skip
    cfg = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", **VIT, image_size=32, patch_size=8),
        text_config=dict(model_type="qwen2", **llama(tok)), image_grid_pinpoints=pins,
        image_token_index=tok.convert_tokens_to_ids("<image>"), video_token_index=tok.convert_tokens_to_ids("<video>"),
        vision_feature_layer=-1, vision_feature_select_strategy="full",
    )  # fmt: skip
    return save(out, LlavaOnevisionForConditionalGeneration, cfg, proc)


QWEN_TOKENS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
               "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}  # fmt: skip
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


def _qwen(out: Path, family: str) -> Path:
    import transformers as T

    tok = tokenizer(out, bos=None, eos="<|im_end|>", pad="<|endoftext|>", add_bos=False, named=QWEN_TOKENS,
                    extra=["<|im_start|>"])  # fmt: skip
    patch = 16 if family == "qwen3_vl" else 14
    ip = T.models.qwen2_vl.image_processing_pil_qwen2_vl.Qwen2VLImageProcessorPil(
        min_pixels=(2 * patch) ** 2, max_pixels=(4 * patch) ** 2, patch_size=patch, merge_size=2
    )
    cls = {"qwen2_vl": "Qwen2VL", "qwen2_5_vl": "Qwen2_5_VL", "qwen3_vl": "Qwen3VL"}[family]
    proc = processor(getattr(T, f"{cls}Processor"), image_processor=ip, tokenizer=tok,
                     chat_template=_user_turns(QWEN_IMAGE, **CHATML))  # fmt: skip
    vision = dict(depth=2, hidden_size=32, num_heads=2, patch_size=patch, spatial_merge_size=2, in_channels=3)
    if family == "qwen2_vl":
        vision.update(embed_dim=32, mlp_ratio=2)
    else:
        vision.update(intermediate_size=64, out_hidden_size=32)
    if family == "qwen2_5_vl":
        vision.update(fullatt_block_indexes=[1], window_size=4 * patch)
    if family == "qwen3_vl":
        vision.update(deepstack_visual_indexes=[1], num_position_embeddings=64)
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    if family == "qwen3_vl":
        rope["mrope_interleaved"] = True
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in QWEN_TOKENS.items()}
    cfg = getattr(T, f"{cls}Config")(
        vision_config=vision, text_config=dict(**llama(tok), rope_parameters=rope),
        image_token_id=ids["image_token"], video_token_id=ids["video_token"],
        vision_start_token_id=ids["vision_start_token"], vision_end_token_id=ids["vision_end_token"],
    )  # fmt: skip
    return save(out, getattr(T, f"{cls}ForConditionalGeneration"), cfg, proc)


def qwen2_vl(out: Path) -> Path:
    """Qwen2-VL: dynamic resolution, ChatML with ``<|vision_start|><|image_pad|><|vision_end|>``; no BOS."""
    return _qwen(out, "qwen2_vl")


def qwen2_5_vl(out: Path) -> Path:
    """Qwen2.5-VL: windowed-attention ViT, same prompt as Qwen2-VL."""
    return _qwen(out, "qwen2_5_vl")


def qwen3_vl(out: Path) -> Path:
    """Qwen3-VL: deepstack ViT, interleaved M-RoPE, same prompt as Qwen2-VL."""
    return _qwen(out, "qwen3_vl")


def internvl(out: Path) -> Path:
    """InternVL3 (transformers-native): InternViT + Qwen2, ChatML with ``<IMG_CONTEXT>``; no BOS."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    named = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}  # fmt: skip
    tok = tokenizer(out, bos=None, eos="<|im_end|>", pad="<|endoftext|>", add_bos=False, named=named,
                    extra=["<|im_start|>"])  # fmt: skip
    ip = GotOcr2ImageProcessorPil(size={"height": 32, "width": 32}, crop_to_patches=False)
    proc = processor(InternVLProcessor, image_processor=ip, tokenizer=tok, image_seq_length=4,
                     chat_template=_user_turns("<IMG_CONTEXT>\n", **CHATML))  # fmt: skip
    cfg = InternVLConfig(
        vision_config=dict(**VIT, image_size=[32, 32], patch_size=[8, 8]),
        text_config=dict(model_type="qwen2", **llama(tok)),
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), downsample_ratio=0.5, tie_word_embeddings=False,
    )  # fmt: skip
    return save(out, InternVLForConditionalGeneration, cfg, proc)


IDEFICS_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]


def _idefics(out: Path, family: str) -> Path:
    import transformers as T

    smol = family == "smolvlm"
    tok = tokenizer(out, bos="<|begin_of_text|>" if not smol else "<|im_start|>", eos="<end_of_utterance>",
                    pad="<|finetune_right_pad_id|>", add_bos=not smol, named={"image_token": "<image>"},
                    extra=IDEFICS_TOKENS + [f"<row_{r}_col_{c}>" for r in (1, 2) for c in (1, 2)])  # fmt: skip
    cls = "SmolVLM" if smol else "Idefics3"
    module = getattr(T.models, family)
    ip = getattr(getattr(module, f"image_processing_pil_{family}"), f"{cls}ImageProcessorPil")(
        size={"longest_edge": 32}, max_image_size={"longest_edge": 16}, do_image_splitting=True
    )
    # Idefics3 (Llama-3 shape): "<|begin_of_text|>User:<image>...<end_of_utterance>\nAssistant:"
    template = _user_turns("<image>", user="User:", end="<end_of_utterance>\n", sys="System: ",
                           assistant="Assistant:", bos="{{ bos_token }}" if not smol else "<|im_start|>")  # fmt: skip
    proc = processor(getattr(T, f"{cls}Processor"), image_processor=ip, tokenizer=tok, image_seq_len=4,
                     chat_template=template)  # fmt: skip
    cfg = getattr(T, f"{cls}Config")(
        vision_config=dict(**VIT, image_size=16, patch_size=4),
        text_config=dict(model_type="llama", **llama(tok)), scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
    )  # fmt: skip
    return save(out, getattr(T, f"{cls}ForConditionalGeneration"), cfg, proc)


def idefics3(out: Path) -> Path:
    """Idefics3: SigLIP + Llama-3, image split into tiles plus a global view; BOS rendered by the template."""
    return _idefics(out, "idefics3")


def smolvlm(out: Path) -> Path:
    """SmolVLM: Idefics3 architecture, SmolLM2 tokenizer (``<|im_start|>User:...``); needs num2words."""
    return _idefics(out, "smolvlm")


def gemma3(out: Path) -> Path:
    """Gemma 3: SigLIP + Gemma 3; ``<bos><start_of_turn>user\\n<start_of_image>...``; system folded into the
    user turn by the template itself."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    named = {
        "image_token": "<image_soft_token>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
    }
    tok = tokenizer(out, bos="<bos>", eos="<eos>", pad="<pad>", add_bos=True, named=named,
                    extra=["<start_of_turn>", "<end_of_turn>"])  # fmt: skip
    template = (
        "{{ bos_token }}{% set ns = namespace(sys='') %}{% for m in messages %}"
        "{% if m['role'] == 'system' %}{% set ns.sys = m['content'][0]['text'] + '\n\n' %}"
        "{% else %}<start_of_turn>user\n{{ ns.sys }}"
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}<start_of_image>{% endif %}{% endfor %}"
        "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
        "<end_of_turn>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    ip = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    proc = processor(
        Gemma3Processor, image_processor=ip, tokenizer=tok, image_seq_length=4, chat_template=template
    )
    cfg = Gemma3Config(
        vision_config=dict(model_type="siglip_vision_model", **VIT, image_size=32, patch_size=8),
        text_config=dict(model_type="gemma3_text", **llama(tok), sliding_window=64),
        mm_tokens_per_image=4, image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"),
        boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
    )  # fmt: skip
    return save(out, Gemma3ForConditionalGeneration, cfg, proc)


def mllama(out: Path) -> Path:
    """Llama-3.2-Vision (Mllama): cross-attention to tiles; ``<|begin_of_text|>...<|image|>``."""
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    hdr = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok = tokenizer(out, bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|finetune_right_pad_id|>", add_bos=True,
                    named={"image_token": "<|image|>"}, extra=hdr)  # fmt: skip
    template = _user_turns(
        "<|image|>", user="<|start_header_id|>user<|end_header_id|>\n\n", end="<|eot_id|>",
        sys="<|start_header_id|>system<|end_header_id|>\n\n",
        assistant="<|start_header_id|>assistant<|end_header_id|>\n\n", bos="{{ bos_token }}",
    )  # fmt: skip
    ip = MllamaImageProcessorPil(size={"height": 16, "width": 16}, max_image_tiles=4)
    proc = processor(MllamaProcessor, image_processor=ip, tokenizer=tok, chat_template=template)
    text = llama(
        tok, cross_attention_layers=[1], rope_parameters={"rope_type": "default", "rope_theta": 10000.0}
    )
    text["vocab_size"] += 8  # Mllama keeps a few extra embedding rows
    cfg = MllamaConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
                           attention_heads=2, image_size=16, patch_size=8, max_num_tiles=4,
                           intermediate_layers_indices=[0], vision_output_dim=64),
        text_config=text, image_token_index=tok.convert_tokens_to_ids("<|image|>"),
    )  # fmt: skip
    return save(out, MllamaForConditionalGeneration, cfg, proc)


def paligemma(out: Path) -> Path:
    """PaliGemma: no chat template; the processor writes ``<image>*n<bos>prompt\\n`` itself."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
    )

    tok = tokenizer(
        out, bos="<bos>", eos="<eos>", pad="<pad>", add_bos=True, named={"image_token": "<image>"}
    )
    ip = SiglipImageProcessor(size={"height": 32, "width": 32})
    ip.image_seq_length = 16
    proc = processor(PaliGemmaProcessor, image_processor=ip, tokenizer=tok)
    cfg = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", **VIT, image_size=32, patch_size=8,
                           projection_dim=32),
        text_config=dict(model_type="gemma", **llama(tok)), projection_dim=32, tie_word_embeddings=False,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )  # fmt: skip
    return save(out, PaliGemmaForConditionalGeneration, cfg, proc)


def florence2(out: Path) -> Path:
    """Florence-2 (transformers-native): DaViT + BART encoder-decoder; no chat template, the processor puts
    the image tokens before the prompt; generate returns decoder tokens only."""
    from transformers import (
        CLIPImageProcessor,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )

    tok = tokenizer(out, bos="<s>", eos="</s>", pad="<pad>", add_bos=True, named={"image_token": "<image>"})
    ip = CLIPImageProcessor(size={"height": 64, "width": 64}, do_center_crop=False)
    ip.image_seq_length = 5  # (64 / 32)^2 cells + the pooled token
    proc = processor(Florence2Processor, image_processor=ip, tokenizer=tok)
    cfg = Florence2Config(
        vision_config=dict(depths=[1, 1, 1, 1], embed_dim=[8, 16, 16, 32], num_heads=[1, 1, 1, 2],
                           num_groups=[1, 1, 1, 2], window_size=2, projection_dim=32, drop_path_rate=0.0),
        text_config=dict(model_type="bart", vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1,
                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                         decoder_ffn_dim=64, max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=None),
        image_token_id=tok.convert_tokens_to_ids("<image>"), tie_word_embeddings=False,
    )  # fmt: skip
    return save(out, Florence2ForConditionalGeneration, cfg, proc)


def glm4v(out: Path) -> Path:
    """GLM-4.1V: dynamic-resolution ViT + GLM-4; ``[gMASK]<sop><|system|>\n...<|user|>\n<|begin_of_image|>
    <|image|><|end_of_image|>...<|assistant|>\n``; no BOS."""
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration, Glm4vProcessor
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    named = {"image_token": "<|image|>", "video_token": "<|video|>"}
    marks = ["[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|begin_of_image|>",
             "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>"]  # fmt: skip
    tok = tokenizer(
        out, bos=None, eos="<|endoftext|>", pad="<|pad|>", add_bos=False, named=named, extra=marks
    )
    template = _user_turns("<|begin_of_image|><|image|><|end_of_image|>", user="<|user|>\n", end="",
                           sys="<|system|>\n", assistant="<|assistant|>\n", bos="[gMASK]<sop>")  # fmt: skip
    ip = Glm4vImageProcessorPil(size={"shortest_edge": 28 * 28, "longest_edge": 56 * 56}, patch_size=14)
    proc = processor(Glm4vProcessor, image_processor=ip, tokenizer=tok, chat_template=template)
    rope = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [1, 1, 2],
        "partial_rotary_factor": 0.5,
    }
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in [
        ("image_token_id", "<|image|>"), ("video_token_id", "<|video|>"), ("image_start_token_id", "<|begin_of_image|>"),
        ("image_end_token_id", "<|end_of_image|>"), ("video_start_token_id", "<|begin_of_video|>"),
        ("video_end_token_id", "<|end_of_video|>")]}  # fmt: skip
    cfg = Glm4vConfig(
        vision_config=dict(depth=2, hidden_size=32, num_heads=2, image_size=56, patch_size=14, spatial_merge_size=2,
                           out_hidden_size=32, intermediate_size=64),
        text_config=dict(**llama(tok), rope_parameters=rope), **ids,
    )  # fmt: skip
    return save(out, Glm4vForConditionalGeneration, cfg, proc)


def aya_vision(out: Path) -> Path:
    """Aya Vision: SigLIP (pixel-shuffled) + Cohere2; Cohere turn tokens, BOS rendered by the template."""
    from transformers import AyaVisionConfig, AyaVisionForConditionalGeneration, AyaVisionProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    marks = [
        "<|START_OF_TURN_TOKEN|>",
        "<|END_OF_TURN_TOKEN|>",
        "<|SYSTEM_TOKEN|>",
        "<|USER_TOKEN|>",
        "<|CHATBOT_TOKEN|>",
        "<|START_OF_IMG|>",
        "<|END_OF_IMG|>",
        "<|IMG_PATCH|>",
        "<|IMG_LINE_BREAK|>",
    ]
    tok = tokenizer(out, bos="<BOS_TOKEN>", eos="<|END_OF_TURN_TOKEN|>", pad="<PAD>", add_bos=True,
                    named={"image_token": "<image>"}, extra=marks)  # fmt: skip
    template = _user_turns(
        "<image>", user="<|START_OF_TURN_TOKEN|><|USER_TOKEN|>", end="<|END_OF_TURN_TOKEN|>",
        sys="<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>", assistant="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
        bos="{{ bos_token }}",
    )  # fmt: skip
    ip = GotOcr2ImageProcessorPil(size={"height": 32, "width": 32}, crop_to_patches=True, max_patches=3)
    proc = processor(AyaVisionProcessor, image_processor=ip, tokenizer=tok, patch_size=8, img_size=32,
                     downsample_factor=2, chat_template=template)  # fmt: skip
    cfg = AyaVisionConfig(
        vision_config=dict(model_type="siglip_vision_model", **VIT, image_size=32, patch_size=8),
        text_config=dict(model_type="cohere2", **llama(tok), sliding_window=64, layer_types=["sliding_attention", "full_attention"]),
        downsample_factor=2, image_token_index=tok.convert_tokens_to_ids("<|IMG_PATCH|>"), tie_word_embeddings=False,
    )  # fmt: skip
    return save(out, AyaVisionForConditionalGeneration, cfg, proc)


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[Path], Path]
    image: str  # the image placeholder the rendered prompt holds exactly once ...
    before: str  # ... right after this text (the user-turn opener)
    bos: str | None  # the BOS token (exactly one in the model's input ids), None: the family has none
    needs: tuple[str, ...] = ()  # optional packages its processor needs


FAMILIES = [
    Family("llava-1.5", llava, "<image>\n", "USER: ", "<s>"),
    Family("llava-next", llava_next, "<image>\n", "[INST] ", "<s>"),
    Family("llava-onevision", llava_onevision, "<image>\n", "<|im_start|>user\n", None),
    Family("qwen2-vl", qwen2_vl, QWEN_IMAGE, "<|im_start|>user\n", None),
    Family("qwen2.5-vl", qwen2_5_vl, QWEN_IMAGE, "<|im_start|>user\n", None),
    Family("qwen3-vl", qwen3_vl, QWEN_IMAGE, "<|im_start|>user\n", None),
    Family("internvl", internvl, "<IMG_CONTEXT>\n", "<|im_start|>user\n", None),
    Family("idefics3", idefics3, "<image>", "User:", "<|begin_of_text|>"),
    Family("smolvlm", smolvlm, "<image>", "User:", "<|im_start|>", needs=("num2words",)),
    Family("gemma3", gemma3, "<start_of_image>", "\n\n", "<bos>"),
    Family(
        "mllama", mllama, "<|image|>", "<|start_header_id|>user<|end_header_id|>\n\n", "<|begin_of_text|>"
    ),
    Family("paligemma", paligemma, "", "", "<bos>"),  # plain prompt: the processor adds image tokens + BOS
    Family("florence-2", florence2, "", "", "<s>"),  # plain prompt; encoder-decoder
    Family("glm-4.1v", glm4v, "<|begin_of_image|><|image|><|end_of_image|>", "<|user|>\n", None),
    Family("aya-vision", aya_vision, "<image>", "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>", "<BOS_TOKEN>"),
]
