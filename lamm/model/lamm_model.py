"""LAMMModel: modality encoder -> projector -> any HF causal LM (LoRA or full fine-tuning).

The LLM sees one embedding sequence: its own token embeddings, except at the ``<media>`` positions,
which are overwritten (row-major order) by ``projector(encoder(media))``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from lamm.model.config import ModelConfig
from lamm.model.encoders import MediaEncoder, build_encoder
from lamm.model.projector import build_projector
from lamm.model.template import IGNORE_INDEX

MEDIA_TOKEN = "<media>"
# causal LMs whose logits are exactly lm_head(last hidden state): the loss-only path may skip the rest
PLAIN_HEAD_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3"})


@dataclass
class LAMMOutput:
    loss: torch.Tensor | None  # mean token cross-entropy over labels != -100 (None without labels)
    logits: torch.Tensor | None  # [B, T, V]; None from forward(..., return_logits=False)
    num_loss_tokens: torch.Tensor | None  # how many tokens the mean is over (for exact grad-accum)


def add_media_token(tokenizer) -> int:
    """Add the ``<media>`` special token (if missing) and a pad token (= EOS) if none; return its id."""
    if MEDIA_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [MEDIA_TOKEN]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer.convert_tokens_to_ids(MEDIA_TOKEN)


def load_tokenizer(config: ModelConfig):
    """The LLM's tokenizer with ``<media>`` added; right padding for training."""
    kwargs = {"revision": config.llm_revision} if config.llm_revision and not config.tokenizer else {}
    tok = AutoTokenizer.from_pretrained(config.tokenizer or config.llm, **kwargs)
    add_media_token(tok)
    tok.padding_side = "right"
    return tok


def resolve_attn_implementation(name: str) -> str:
    """``auto`` -> flash_attention_2 when the package is installed (and CUDA is there), else sdpa."""
    if name != "auto":
        return name
    if importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available():
        return "flash_attention_2"
    return "sdpa"


def block_causal_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` segment ids (one id per packed sample) -> bool ``[B, 1, T, T]``, True = may attend.

    Tokens attend only to earlier tokens of the same segment (block-diagonal and causal).
    """
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    t = segment_ids.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=segment_ids.device).tril()
    return (same & causal).unsqueeze(1)


class LAMMModel(nn.Module):
    def __init__(
        self,
        config: ModelConfig,
        llm: nn.Module,
        encoder: MediaEncoder,
        projector: nn.Module,
        media_token_id: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.llm = llm  # a transformers causal LM, or a peft PeftModel wrapping one
        self.encoder = encoder
        self.projector = projector
        self.media_token_id = media_token_id
        if encoder.num_tokens != config.num_media_tokens:
            raise ValueError(
                f"encoder gives {encoder.num_tokens} tokens per item but num_media_tokens is "
                f"{config.num_media_tokens}"
            )

    # ---------------------------------------------------------------- properties
    @property
    def base_llm(self) -> nn.Module:
        """The transformers model itself (LoRA layers, if any, are injected into it)."""
        get = getattr(self.llm, "get_base_model", None)
        return get() if get is not None else self.llm

    @property
    def num_media_tokens(self) -> int:
        return self.config.num_media_tokens

    @property
    def modality(self) -> str:
        return self.encoder.modality

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.config.torch_dtype

    # ---------------------------------------------------------------- training helpers
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the parameters that train (projector, LoRA, unfrozen parts), keyed by module path, plus
        the persistent buffers of modules that train (BatchNorm running statistics change with training)."""
        out = {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
        for name, mod in self.named_modules():
            if any(p.requires_grad for p in mod.parameters(recurse=False)):
                for b, buf in mod.named_buffers(recurse=False):
                    if buf is not None and b not in mod._non_persistent_buffers_set:
                        out[f"{name}.{b}" if name else b] = buf.detach()
        return out

    def gradient_checkpointing_enable(self) -> None:
        """Activation checkpointing in the LLM (and in the encoder when it trains)."""
        mods = [self.base_llm]
        if getattr(self.encoder, "trainable", False) and hasattr(self.encoder, "model"):
            mods.append(self.encoder.model)
        for m in mods:
            if hasattr(m, "activation_checkpointing_enable"):  # transformers >= 5.x
                m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def compile_layers(self) -> int:
        """``torch.compile`` each LLM decoder layer in place (state-dict keys unchanged). Fuses the
        memory-bound norms, rotary and SiLU around the matmuls: 35.6% -> 51.9% MFU on the LAMM-7B shape
        (H200, ``bench/gpu_step.py``). Returns the number of layers compiled."""
        layers = [m for m in self.base_llm.modules() if type(m).__name__.endswith("DecoderLayer")]
        for layer in layers:
            layer.compile()
        return len(layers)

    def gradient_checkpointing_disable(self) -> None:
        for m in (self.base_llm, getattr(self.encoder, "model", None)):
            fn = getattr(m, "activation_checkpointing_disable", None) or getattr(
                m, "gradient_checkpointing_disable", None
            )
            if fn is not None:
                fn()

    # ---------------------------------------------------------------- forward
    def encode_media(self, media: torch.Tensor) -> torch.Tensor:
        """``[N, ...]`` preprocessed media -> ``[N, num_media_tokens, llm_hidden]``."""
        feats = self.encoder(media.to(self.device))
        return self.projector(feats.to(next(self.projector.parameters()).dtype))

    def embed(self, input_ids: torch.Tensor, media: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings with the ``<media>`` positions replaced by projected media features."""
        embeds = self.base_llm.get_input_embeddings()(input_ids)
        where = input_ids == self.media_token_id
        n_slots = int(where.sum())
        if media is None or len(media) == 0:
            if n_slots:
                raise ValueError(f"input has {n_slots} <media> tokens but no media was given")
            return embeds
        feats = self.encode_media(media)
        if feats.shape[0] * feats.shape[1] != n_slots:
            raise ValueError(
                f"{feats.shape[0]} media items x {feats.shape[1]} tokens != {n_slots} <media> tokens in input"
            )
        return embeds.masked_scatter(where.unsqueeze(-1), feats.to(embeds.dtype))

    def _prepare_mask(self, mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        """2D masks pass through; a 4D bool mask (True = may attend) is made causal, gets its diagonal
        (so padding rows never attend to nothing -> no NaN), and becomes additive for eager attention."""
        if mask is None or mask.dim() == 2:
            return mask
        if mask.dim() != 4:
            raise ValueError(f"attention_mask must be [B, T] or [B, 1, T, T], got {tuple(mask.shape)}")
        impl = self.base_llm.config._attn_implementation
        if impl.startswith("flash"):
            raise ValueError(
                "flash attention takes no 4D mask: for packed rows pass attention_mask=None and "
                "position_ids that restart at 0 for each sample"
            )
        if mask.dtype != torch.bool:
            return mask.to(dtype)  # already additive; used as given
        t = mask.shape[-1]
        causal = torch.ones(t, t, dtype=torch.bool, device=mask.device).tril()
        eye = torch.eye(t, dtype=torch.bool, device=mask.device)
        mask = (mask & causal) | eye
        if impl == "sdpa":
            return mask
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            ~mask, torch.finfo(dtype).min
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        media: torch.Tensor | None = None,
        return_logits: bool = True,
    ) -> LAMMOutput:
        """``return_logits=False`` (training): the LM head runs only on the positions that carry a label.
        Answers are a fraction of the tokens and the head (vocabulary x hidden) is a large part of a
        small LLM's step, so this is the same loss and gradients for much less work."""
        embeds = self.embed(input_ids, media)
        mask = self._prepare_mask(attention_mask, embeds.dtype)
        if labels is not None and not return_logits and self._plain_head():
            hidden = self.base_llm.get_decoder()(
                inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=False
            ).last_hidden_state
            shift_labels = labels[:, 1:].to(hidden.device)
            keep = shift_labels != IGNORE_INDEX
            logits = self.base_llm.get_output_embeddings()(hidden[:, :-1][keep]).float()
            n = keep.sum()
            loss_sum = F.cross_entropy(logits, shift_labels[keep], reduction="sum")
            return LAMMOutput(loss_sum / n.clamp(min=1), None, n)
        out = self.base_llm(
            inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=False
        )
        logits = out.logits
        if labels is None:
            return LAMMOutput(None, logits, None)
        shift_logits = logits[:, :-1].float()
        shift_labels = labels[:, 1:].to(logits.device)
        n = (shift_labels != IGNORE_INDEX).sum()
        loss_sum = F.cross_entropy(
            shift_logits.reshape(-1, shift_logits.shape[-1]),
            shift_labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return LAMMOutput(loss_sum / n.clamp(min=1), logits, n)

    def _plain_head(self) -> bool:
        """Logits = output embeddings(decoder's last hidden state), nothing else (no soft-capping or
        scaling in the causal-LM forward): true of the LLaMA family lamm trains."""
        llm = self.base_llm
        return llm.config.model_type in PLAIN_HEAD_MODELS and llm.get_output_embeddings() is not None


def _load_llm(config: ModelConfig) -> nn.Module:
    kwargs = {
        "dtype": config.torch_dtype,
        "attn_implementation": resolve_attn_implementation(config.attn_implementation),
    }
    if config.llm_revision:
        kwargs["revision"] = config.llm_revision
    return AutoModelForCausalLM.from_pretrained(config.llm, **kwargs)


def _fit_embeddings(llm: nn.Module, vocab: int) -> None:
    """Grow the embeddings for added tokens; new rows = mean of the old ones (deterministic, so a
    checkpoint that does not store them reloads to identical logits)."""
    old = llm.get_input_embeddings().weight.shape[0]
    if vocab <= old:
        return
    llm.resize_token_embeddings(vocab, mean_resizing=False)
    with torch.no_grad():
        for emb in (llm.get_input_embeddings(), llm.get_output_embeddings()):
            if emb is not None and emb.weight.shape[0] == vocab:
                emb.weight[old:] = emb.weight[:old].mean(0, keepdim=True)


def build_model(config: ModelConfig, *, tokenizer=None) -> tuple[LAMMModel, object]:
    """Load base LLM + encoder from their paths/hub ids, add projector (and LoRA); return (model, tokenizer).

    Trainable after this: projector; LoRA A/B (or the whole LLM for full FT unless ``freeze_llm``);
    the encoder only when ``freeze_encoder`` is False.
    """
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(config)
    media_id = add_media_token(tokenizer)
    llm = _load_llm(config)
    _fit_embeddings(llm, len(tokenizer))
    llm.config.use_cache = False
    enc_cfg = dict(config.encoder)
    enc_cfg.setdefault("num_tokens", config.num_media_tokens)
    encoder = build_encoder(enc_cfg).to(config.torch_dtype)
    trainable_enc = not config.freeze_encoder
    if hasattr(encoder, "set_trainable"):
        encoder.set_trainable(trainable_enc)
    else:
        encoder.requires_grad_(trainable_enc)
    projector = build_projector(config.projector, encoder.hidden_size, llm.config.hidden_size).to(
        config.torch_dtype
    )
    if config.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = config.lora
        peft_cfg = LoraConfig(
            task_type="CAUSAL_LM",
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            bias=lora.bias,
        )
        llm = get_peft_model(llm, peft_cfg)
    elif config.freeze_llm:
        llm.requires_grad_(False)
    model = LAMMModel(config, llm, encoder, projector, media_id)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model, tokenizer
