"""``hf:NAME_OR_PATH``: a transformers image-text-to-text model (LLaVA-1.5 first) via its processor.

The prompt is the model's own chat template: a system turn with the dataset system message (folded
into the user turn when the template has no system role), then a user turn with the image and the
query. Batches are left-padded and decoded greedily; only new tokens are returned.
"""

from __future__ import annotations

from typing import Any

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, register_adapter
from lamm.bench.eval.adapters.lamm import default_device


class HFAdapter(Adapter):
    kind = "hf"
    sampling: dict[str, Any] = {"do_sample": False, "num_beams": 1}  # generate() kwargs; build() sets them

    def __init__(
        self,
        name: str,
        *,
        max_new_tokens: int = 256,
        device: str | None = None,
        dtype: str = "auto",
        system_role: bool | None = None,
    ) -> None:
        super().__init__(f"hf:{name}")
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.name = name
        self.max_new_tokens = max_new_tokens
        self.device = default_device(device)
        self.processor = AutoProcessor.from_pretrained(name)
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # generation continues at the right end of every row
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForImageTextToText.from_pretrained(name, dtype=torch_dtype).to(self.device)
        self.model.eval()
        self.system_role = self._template_has_system() if system_role is None else system_role

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
        return self.processor.apply_chat_template(
            self.messages(request), add_generation_prompt=True, tokenize=False
        )

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        import torch
        from PIL import Image

        for r in requests:
            if r.media is not None and r.modality != "image":
                raise ValueError(f"{self.spec}: image-text-to-text models cannot read point clouds")
        texts = [self.render(r) for r in requests]
        images = []
        for r in requests:
            if r.media is not None:
                with Image.open(r.media) as im:
                    images.append(im.convert("RGB"))
        inputs = self.processor(images=images or None, text=texts, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, **self.sampling)
        new = out[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def decoding(self) -> dict[str, Any]:
        return {
            **self.sampling,
            "max_new_tokens": self.max_new_tokens,
            "chat_template": "processor",
            "system_role": self.system_role,
            "device": self.device,
            "dtype": str(self.model.dtype),
        }

    @property
    def delta_path(self) -> str:
        return self.name


@register_adapter("hf")
def build(arg: str, *, max_new_tokens: int = 256, device: str | None = None, **options: Any) -> HFAdapter:
    adapter = HFAdapter(arg, max_new_tokens=max_new_tokens, device=device)
    if options.get("do_sample"):  # lamm eval's sampling options become generate() kwargs
        adapter.sampling = {"do_sample": True, "num_beams": 1, "top_p": options.get("top_p", 0.9),
                            "top_k": options.get("top_k", 50), "temperature": options.get("temperature", 1.0)}  # fmt: skip
    return adapter
