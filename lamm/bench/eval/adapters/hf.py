"""``hf:NAME_OR_PATH``: a transformers image-text-to-text model via its own processor.

Prompt: the processor's chat template, with a system turn holding the dataset system message (folded
into the user turn, ``system\\nquery``, when the template drops a system role), then a user turn with one
image and the query. Processors without a chat template (PaliGemma, Florence-2) get the plain prompt
(``system\\nquery``) and place the image tokens themselves. Rendered text that already starts with BOS is
tokenised without special tokens (as ``apply_chat_template(tokenize=True)`` does), so BOS is never doubled.
Images are passed nested per sample; batches are left-padded and decoded greedily; only new tokens are
returned (encoder-decoder models return only decoder tokens, so nothing is sliced off). Loading and
``--model-args``: :mod:`lamm.bench.eval.adapters.hf_load`.
"""

from __future__ import annotations

import inspect
from typing import Any

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, register_adapter
from lamm.bench.eval.adapters import hf_load as L
from lamm.bench.eval.adapters.lamm import default_device
from lamm.bench.eval.views import PCL_VIEW_HINT


class HFAdapter(Adapter):
    kind = "hf"
    sampling: dict[str, Any] = {"do_sample": False, "num_beams": 1}  # generate() kwargs; build() sets them

    def __init__(
        self,
        name: str,
        *,
        max_new_tokens: int = 256,
        device: str | None = None,
        model_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"hf:{name}")
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.model_args = dict(model_args or {})
        model_kw, proc_kw, adapter_kw = L.split_model_args(self.model_args)
        self.device = default_device(device)
        self.processor = L.load_processor(name, self.spec, proc_kw)
        L.check_processor_kwargs(self.processor, proc_kw, self.spec)
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # generation continues at the right end of every row
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self.model = L.load_model(name, self.spec, model_kw, self.device)
        self.chat_template = self.processor.chat_template is not None
        probe = self._template_has_system() if self.chat_template else False
        self.system_role = adapter_kw.get("system_role", probe)
        self.encoder_decoder = self._is_encoder_decoder()
        params = inspect.signature(self.model.forward).parameters
        self.accepted = set(params) | set(
            inspect.signature(self.model.prepare_inputs_for_generation).parameters
        )

    def _is_encoder_decoder(self) -> bool:
        cfg = self.model.config
        text = getattr(cfg, "text_config", None)
        return bool(getattr(cfg, "is_encoder_decoder", False) or getattr(text, "is_encoder_decoder", False))

    def _template_has_system(self) -> bool:
        probe = [
            {"role": "system", "content": [{"type": "text", "text": "SYSPROBE"}]},
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
        ]
        try:
            text = self.processor.apply_chat_template(probe, add_generation_prompt=True, tokenize=False)
        except Exception:  # templates that reject a system role raise
            return False
        return "SYSPROBE" in text

    def messages(self, r: GenRequest) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = [{"type": "image"}] if r.media is not None else []
        system = r.system.strip()
        query = r.query if self.system_role or not system else f"{system}\n{r.query}"
        content.append({"type": "text", "text": query})
        msgs = [{"role": "user", "content": content}]
        if self.system_role and system:
            msgs.insert(0, {"role": "system", "content": [{"type": "text", "text": system}]})
        return msgs

    def render(self, request: GenRequest) -> str:
        if not self.chat_template:  # plain prompt: the processor inserts the image tokens (and BOS)
            system = request.system.strip()
            return f"{system}\n{request.query}" if system else request.query
        return self.processor.apply_chat_template(
            self.messages(request), add_generation_prompt=True, tokenize=False
        )

    def encode(self, requests: list[GenRequest]) -> dict[str, Any]:
        """The processor's tensors for one batch, restricted to what ``generate`` takes."""
        from PIL import Image

        for r in requests:
            if r.media is not None and r.modality != "image":
                raise ValueError(
                    f"{self.spec}: image-text-to-text models cannot read point clouds; {PCL_VIEW_HINT}"
                )
        texts = [self.render(r) for r in requests]
        images: list[list[Any]] = []
        for r in requests:
            images.append([])
            if r.media is not None:
                with Image.open(r.media) as im:
                    images[-1].append(im.convert("RGB"))
        kwargs: dict[str, Any] = {"padding": True, "return_tensors": "pt"}
        bos = self.processor.tokenizer.bos_token
        if self.chat_template and bos and all(t.startswith(bos) for t in texts):
            kwargs["add_special_tokens"] = False  # the template wrote BOS already
        inputs = self.processor(images=images if any(images) else None, text=texts, **kwargs)
        return {k: v for k, v in inputs.items() if k in self.accepted and k != "labels"}

    def context_length(self) -> int | None:
        """The language model's positions (None for encoder-decoder models: their prompt goes to the
        encoder, whose limit is another one)."""
        if self.encoder_decoder:
            return None
        cfg = self.model.config
        for c in (getattr(cfg, "text_config", None), cfg):
            n = getattr(c, "max_position_embeddings", None) if c is not None else None
            if isinstance(n, int) and n > 0:
                return n
        return None

    def prompt_tokens(self, request: GenRequest) -> int | None:
        """Exact: the processor's own expansion of the image placeholders for this request."""
        return int(self.encode([request])["input_ids"].shape[1])

    def generate_kwargs(self) -> dict[str, Any]:
        """Decoding arguments of ``model.generate`` (the one place they are set)."""
        return {"max_new_tokens": self.max_new_tokens, **self.sampling}

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        import torch

        inputs = self.encode(requests)
        device = self.model.device
        inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.no_grad():
            out = self.model.generate(**inputs, **self.generate_kwargs())
        new = out if self.encoder_decoder else out[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def decoding(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.generate_kwargs().items() if k != "num_beams"},
            "chat_template": "processor" if self.chat_template else "plain",
            "system_role": self.system_role,
            "device": str(self.model.device),
            "dtype": str(self.model.dtype),
            "model_args": self.model_args,
        }

    @property
    def delta_path(self) -> str:
        return self.name


@register_adapter("hf")
def build(
    arg: str,
    *,
    max_new_tokens: int = 256,
    device: str | None = None,
    model_args: dict[str, Any] | None = None,
    do_sample: bool = False,
    top_p: float = 0.9,
    top_k: int = 50,
    temperature: float = 1.0,
) -> HFAdapter:
    adapter = HFAdapter(arg, max_new_tokens=max_new_tokens, device=device, model_args=model_args)
    if do_sample:  # lamm eval's sampling options become generate() kwargs
        adapter.sampling = {"do_sample": True, "num_beams": 1, "top_p": top_p, "top_k": top_k,
                            "temperature": temperature}  # fmt: skip
    return adapter
