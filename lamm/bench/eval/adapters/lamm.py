"""``lamm:CHECKPOINT``: our checkpoints (``lamm train`` output, an imported official LAMM delta), or an
official ``pytorch_model.pt`` run directly on the bases given (``base_llm``, ``encoder``, ``modality``).

The model runs the official inference layout (LAMM_FORMATS §5.4) through :func:`lamm.model.generate`:
batched, left-padded, greedy by default (``do_sample`` with top_p/top_k/temperature samples), cut at the
template separator with the whitespace kept. Media go through the encoder's own picklable preprocessor,
so evaluation sees exactly what training saw.

Vision tags follow ``protocol`` (set by the runner from ``--protocol``): ``lamm`` renders a point cloud
as ``<Pcl>…</Pcl>``, as the 3D models were trained (official ``scripts/train_lamm3d.sh`` passes
``--vision_type pcl``); ``lamm-v1`` renders ``<Img>…</Img>`` for point clouds too, as official
``inference_3d.py`` did (it never passes ``--vision_type``, so ``LAMMPEFTModel`` falls back to "image").
"""

from __future__ import annotations

import os
from typing import Any

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, register_adapter
from lamm.bench.eval.views import PCL_VIEW_HINT


def default_device(device: str | None) -> str:
    """``cuda:<LOCAL_RANK>`` when a GPU is there (one per torchrun rank), else CPU."""
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


OFFICIAL_ONLY = ("encoder", "modality", "num_media_tokens", "encoder_options")


def load_model(
    checkpoint: str, device: str, *, force: bool = False, dtype: str | None = None, **official: Any
):
    """A lamm checkpoint folder (``base_llm`` replaces the recorded base), or an official ``.pt`` delta
    on ``base_llm`` + ``encoder`` as ``modality`` (default image: a 3D delta must say ``pcl``).
    ``dtype`` (fp16/bf16/float32) replaces the default: bf16 on GPU for a delta (float32 on CPU), the
    recorded dtype for a folder."""
    from pathlib import Path

    from lamm.model.checkpoint import load_checkpoint
    from lamm.model.official_delta import load_official

    if not Path(checkpoint).exists():  # a typo, not "base options apply to .pt only" or "no manifest"
        raise ValueError(f"{checkpoint}: no such checkpoint folder or official .pt file")
    if Path(checkpoint).is_file():
        if not (official.get("base_llm") and official.get("encoder")):
            raise ValueError(f"{checkpoint}: an official .pt delta needs --base-llm and --encoder")
        dtype = dtype or ("bf16" if device.startswith("cuda") else "float32")
        try:
            return load_official(checkpoint, dtype=dtype, device=device, **official)
        except OSError as exc:  # a base transformers cannot load (hub id not reachable, no weights)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{checkpoint}: cannot load its bases ({first})") from None
    given = sorted(k for k in OFFICIAL_ONLY if k in official)
    if given:
        raise ValueError(f"{checkpoint}: {', '.join(given)} apply to official .pt deltas only")
    return load_checkpoint(
        checkpoint, base_llm=official.get("base_llm"), device=device, force=force, dtype=dtype
    )


def vision_tags(protocol: str) -> str | None:
    """The modality whose tags wrap the media under ``protocol`` (None: the model's own)."""
    return "image" if protocol == "lamm-v1" else None


class LammAdapter(Adapter):
    kind = "lamm"

    def __init__(
        self,
        checkpoint: str,
        *,
        max_new_tokens: int = 256,
        device: str | None = None,
        do_sample: bool = False,
        top_p: float = 0.9,
        top_k: int = 50,
        temperature: float = 1.0,
        template: str | None = None,
        force: bool = False,
        model: Any = None,
        tokenizer: Any = None,
        **official: Any,
    ) -> None:
        super().__init__(f"lamm:{checkpoint}")
        from lamm.model.template import get_template

        self.checkpoint = checkpoint
        self.max_new_tokens = max_new_tokens
        self.sampling = {"do_sample": do_sample, "top_p": top_p, "top_k": top_k, "temperature": temperature}
        self.device = default_device(device)
        if model is None:
            model, tokenizer = load_model(checkpoint, self.device, force=force, **official)
        if template is not None:  # e.g. llama2-chat for an official delta trained with conv_llama2
            try:
                get_template(template)
            except KeyError as exc:
                raise ValueError(f"--template: {exc.args[0]}") from None
            model.config.template = template
        self.model, self.tokenizer = model, tokenizer
        self.preprocess = model.encoder.preprocessor()

    @property
    def tags(self) -> str:
        return vision_tags(self.protocol) or self.model.modality

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        from lamm.model.generate import GenItem, generate

        items = []
        for r in requests:
            if r.media is not None and r.modality != self.model.modality:
                hint = f"; {PCL_VIEW_HINT}" if r.modality == "pcl" else ""
                raise ValueError(
                    f"{self.spec} is a model of {self.model.modality} media and cannot answer {r.modality} "
                    f"records{hint}"
                )
            media = self.preprocess(str(r.media)) if r.media is not None else None
            items.append(GenItem(media, r.system, r.query))
        return list(
            generate(
                self.model,
                self.tokenizer,
                items,
                max_new_tokens=self.max_new_tokens,
                **self.sampling,
                batch_size=len(items),
                vision_tags=self.tags,
            )
        )

    def context_length(self) -> int | None:
        return getattr(self.model.base_llm.config, "max_position_embeddings", None)

    def prompt_tokens(self, request: GenRequest) -> int | None:
        from lamm.model.template import build_generation_prompt

        media = self.model.num_media_tokens if request.media is not None else 0
        cfg = self.model.config
        ids = build_generation_prompt(
            request.system, request.query, self.tokenizer, media, self.tags, cfg.template,
            media_token_id=self.model.media_token_id,
        )  # fmt: skip
        return len(ids)

    def render(self, request: GenRequest) -> str:
        from lamm.model.template import get_template

        tpl = get_template(self.model.config.template)
        media = "<media>" if request.media is not None else ""
        return tpl.gen_prefix(self.tags) + media + tpl.gen_suffix(request.system, request.query, self.tags)

    def decoding(self) -> dict[str, Any]:
        sampling = self.sampling if self.sampling["do_sample"] else {"do_sample": False}
        return {
            **sampling,
            "max_new_tokens": self.max_new_tokens,
            "vision_tags": self.tags,
            "template": self.model.config.template,
            "device": self.device,
            "dtype": str(self.model.dtype),
        }

    @property
    def delta_path(self) -> str:
        return self.checkpoint


_OPTIONS = ("max_new_tokens", "device", "do_sample", "top_p", "top_k", "temperature", "template", "dtype")


@register_adapter("lamm", options=(*_OPTIONS, "force", "base_llm", *OFFICIAL_ONLY))
def build(arg: str, **options: Any) -> LammAdapter:
    return LammAdapter(arg, **options)
