"""``lamm:CHECKPOINT``: our checkpoints (``lamm train`` output, or an imported official LAMM delta).

The model runs the official inference layout (LAMM_FORMATS §5.4) through :func:`lamm.model.generate`:
batched, left-padded, greedy by default, cut at the template separator. Media go through the encoder's
own picklable preprocessor, so evaluation sees exactly what training saw.
"""

from __future__ import annotations

import os
from typing import Any

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, register_adapter


def default_device(device: str | None) -> str:
    """``cuda:<LOCAL_RANK>`` when a GPU is there (one per torchrun rank), else CPU."""
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


class LammAdapter(Adapter):
    kind = "lamm"

    def __init__(
        self,
        checkpoint: str,
        *,
        max_new_tokens: int = 256,
        device: str | None = None,
        do_sample: bool = False,
        force: bool = False,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__(f"lamm:{checkpoint}")
        from lamm.model.checkpoint import load_checkpoint

        self.checkpoint = checkpoint
        self.max_new_tokens = max_new_tokens
        self.do_sample = do_sample
        self.device = default_device(device)
        if model is None:
            model, tokenizer = load_checkpoint(checkpoint, device=self.device, force=force)
        self.model, self.tokenizer = model, tokenizer
        self.preprocess = model.encoder.preprocessor()

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        from lamm.model.generate import GenItem, generate

        items = []
        for r in requests:
            if r.media is not None and r.modality != self.model.modality:
                raise ValueError(
                    f"{self.spec} is a {self.model.modality} model and cannot answer {r.modality} records"
                )
            media = self.preprocess(str(r.media)) if r.media is not None else None
            items.append(GenItem(media, r.system, r.query))
        return list(
            generate(
                self.model,
                self.tokenizer,
                items,
                max_new_tokens=self.max_new_tokens,
                do_sample=self.do_sample,
                batch_size=len(items),
            )
        )

    def context_length(self) -> int | None:
        return getattr(self.model.base_llm.config, "max_position_embeddings", None)

    def prompt_tokens(self, request: GenRequest) -> int | None:
        from lamm.model.template import build_generation_prompt

        media = self.model.num_media_tokens if request.media is not None else 0
        cfg = self.model.config
        ids = build_generation_prompt(
            request.system, request.query, self.tokenizer, media, self.model.modality, cfg.template,
            media_token_id=self.model.media_token_id,
        )  # fmt: skip
        return len(ids)

    def render(self, request: GenRequest) -> str:
        from lamm.model.template import get_template

        tpl = get_template(self.model.config.template)
        media = "<media>" if request.media is not None else ""
        return (
            tpl.gen_prefix(self.model.modality)
            + media
            + tpl.gen_suffix(request.system, request.query, self.model.modality)
        )

    def decoding(self) -> dict[str, Any]:
        return {
            "do_sample": self.do_sample,
            "max_new_tokens": self.max_new_tokens,
            "template": self.model.config.template,
            "device": self.device,
            "dtype": str(self.model.dtype),
        }

    @property
    def delta_path(self) -> str:
        return self.checkpoint


@register_adapter("lamm")
def build(arg: str, *, max_new_tokens: int = 256, device: str | None = None, **_: Any) -> LammAdapter:
    return LammAdapter(arg, max_new_tokens=max_new_tokens, device=device)
