"""``openai:MODEL@BASE_URL``: any OpenAI-compatible chat endpoint (vLLM, SGLang, LMDeploy, hosted APIs).

Images travel as base64 data URLs. Requests go through the shared client :mod:`lamm.llm_client`
(bounded concurrency, a timeout per request, retries with exponential backoff honouring ``Retry-After``
on 429, 408/409, 5xx, timeouts, connection errors and malformed replies). A request that still fails
becomes a :class:`GenFailure` naming the cause, which the runner raises or (``--on-error skip``) skips
and reports. The key comes from ``OPENAI_API_KEY`` or ``LAMM_API_KEY`` and is never printed or stored.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, register_adapter
from lamm.bench.eval.views import PCL_VIEW_HINT
from lamm.llm_client import LLMClient, LLMError, api_key

__all__ = ["ChatClient", "OpenAIAdapter", "api_key", "parse_target"]


def parse_target(arg: str) -> tuple[str, str | None]:
    """``MODEL@BASE_URL`` -> (model, base_url); without ``@`` the client's default URL is used."""
    model, sep, url = arg.partition("@")
    if not model:
        raise ValueError(f"openai spec {arg!r}: expected MODEL@BASE_URL")
    return model, (url or None) if sep else None


# The eval's option names for the shared client's arguments (``lamm eval --timeout`` and so on).
RENAMED = {"timeout": "timeout_s", "backoff": "backoff_s", "max_backoff": "max_backoff_s"}


class ChatClient(LLMClient):
    """The shared client with the eval's option names and greedy decoding by default; ``chat_many``
    yields reply texts or :class:`GenFailure`. Options: timeout, max_retries (5), backoff,
    max_backoff, concurrency, temperature (0.0), top_p (server default), max_tokens (server default)."""

    def __init__(self, model: str, base_url: str | None = None, **options: Any) -> None:
        self.temperature = options.pop("temperature", 0.0)
        self.top_p = options.pop("top_p", None)
        self.max_tokens = options.pop("max_tokens", None)
        params = {
            "temperature": self.temperature,
            **({"top_p": self.top_p} if self.top_p is not None else {}),
            **({"max_tokens": self.max_tokens} if self.max_tokens else {}),
        }
        options = {RENAMED.get(k, k): v for k, v in options.items()}
        options.setdefault("max_retries", 5)
        super().__init__(
            base_url=base_url, model=model, api_key_env="OPENAI_API_KEY", params=params, **options
        )
        self.timeout = self.timeout_s

    def chat_many(self, conversations: list[list[dict[str, Any]]], **params: Any) -> list[str | GenFailure]:  # type: ignore[override]
        """Many requests, at most ``concurrency`` in flight; reply texts or failures in input order."""
        return [
            GenFailure(f"{r.cause}: {r.detail} (after {r.attempts} attempt(s))")
            if isinstance(r, LLMError)
            else r.text
            for r in super().chat_many(conversations, **params)
        ]


def data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def messages_for(request: GenRequest, *, image: bool = True) -> list[dict[str, Any]]:
    """System message + one user turn with the image (as a data URL) before the question."""
    content: list[dict[str, Any]] = []
    if request.media is not None and image:
        if request.modality != "image":
            raise ValueError(
                f"OpenAI chat endpoints take images only; point clouds cannot be sent; {PCL_VIEW_HINT}"
            )
        content.append({"type": "image_url", "image_url": {"url": data_url(request.media)}})
    content.append({"type": "text", "text": request.query})
    return [{"role": "system", "content": request.system}, {"role": "user", "content": content}]


class OpenAIAdapter(Adapter):
    kind = "openai"

    def __init__(self, model: str, base_url: str | None, *, max_new_tokens: int = 512, **options: Any):
        super().__init__(f"openai:{model}@{base_url or ''}")
        self.client = ChatClient(model, base_url, max_tokens=max_new_tokens, **options)

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        for r in requests:
            if r.media is not None and r.modality != "image":
                raise ValueError(
                    f"{self.spec}: point clouds cannot be sent to an OpenAI chat endpoint; {PCL_VIEW_HINT}"
                )
        return self.client.chat_many([messages_for(r) for r in requests])

    def render(self, request: GenRequest) -> str:
        image = "<image> " if request.media is not None else ""
        return f"[system] {request.system}\n[user] {image}{request.query}"

    def decoding(self) -> dict[str, Any]:
        c = self.client
        return {
            "temperature": c.temperature,
            "top_p": c.top_p,
            "max_tokens": c.max_tokens,
            "timeout_s": c.timeout,
            "max_retries": c.max_retries,
            "concurrency": c.concurrency,
            "retry_report": c.report(),
        }

    @property
    def delta_path(self) -> str:
        return self.client.model


def sampling_params(options: dict[str, Any]) -> dict[str, Any]:
    """``lamm eval``'s decoding options as chat-API parameters: greedy is temperature 0; sampling sends
    temperature (default 1.0) and top_p. top_k is not part of the OpenAI API and is not sent."""
    do_sample = options.pop("do_sample", False)
    options.pop("top_k", None)
    top_p, temperature = options.pop("top_p", None), options.pop("temperature", None)
    if not do_sample:
        return {}
    return {"temperature": 1.0 if temperature is None else temperature, "top_p": top_p}


# top_k is taken (``--decoding official`` sets it) but not sent: not part of the OpenAI API.
OPTIONS = (
    "max_new_tokens",
    "do_sample",
    "top_p",
    "top_k",
    "temperature",
    "concurrency",
    "max_retries",
    *RENAMED,
)


@register_adapter("openai", options=OPTIONS)
def build(arg: str, **options: Any) -> OpenAIAdapter:
    model, url = parse_target(arg)
    options.update(sampling_params(options))
    return OpenAIAdapter(model, url, **options)
