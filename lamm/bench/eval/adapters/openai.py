"""``openai:MODEL@BASE_URL``: any OpenAI-compatible chat endpoint (vLLM, SGLang, LMDeploy, hosted APIs).

Images travel as base64 data URLs. Requests run with bounded concurrency; each has a timeout and is
retried with exponential backoff (honouring ``Retry-After``) on 429, 5xx, timeouts, connection errors
and malformed replies. A request that still fails becomes a :class:`GenFailure` naming the cause, which
the runner raises or (``--on-error skip``) skips and reports. The key comes from ``OPENAI_API_KEY`` or
``LAMM_API_KEY`` and is never printed or stored.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import Adapter, GenFailure, GenRequest, register_adapter

KEY_ENV = ("OPENAI_API_KEY", "LAMM_API_KEY")


def api_key() -> str:
    """The key from the environment; local servers accept any placeholder."""
    for name in KEY_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return "EMPTY"


def parse_target(arg: str) -> tuple[str, str | None]:
    """``MODEL@BASE_URL`` -> (model, base_url); without ``@`` the client's default URL is used."""
    model, sep, url = arg.partition("@")
    if not model:
        raise ValueError(f"openai spec {arg!r}: expected MODEL@BASE_URL")
    return model, (url or None) if sep else None


class ChatError(RuntimeError):
    """A chat request failed for good (after retries, or with a non-retryable status)."""


class ChatClient:
    """Thread-safe chat completions with timeouts, retries, backoff and failure accounting."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        concurrency: int = 8,
        temperature: float = 0.0,
        max_tokens: int | None = None,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.concurrency = max(1, concurrency)
        self.temperature = temperature
        self.max_tokens = max_tokens
        # The client's own retries are off: ours count every retry and its cause for the final report.
        self._client = OpenAI(base_url=base_url, api_key=api_key(), timeout=timeout, max_retries=0)
        self._lock = threading.Lock()
        self.retries: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def __repr__(self) -> str:  # never shows the key
        return f"ChatClient(model={self.model!r}, base_url={self.base_url!r})"

    def _count(self, table: Counter[str], cause: str) -> None:
        with self._lock:
            table[cause] += 1

    def _classify(self, exc: Exception) -> tuple[str, bool, float | None]:
        """(cause, retryable, server-requested delay) of an exception raised by one attempt."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return "timeout", True, None
        if isinstance(exc, openai.APIConnectionError):
            return "connection", True, None
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            delay = None
            try:
                delay = float(exc.response.headers.get("retry-after", ""))
            except (TypeError, ValueError):
                pass
            if status == 429:
                return "429", True, delay
            if status >= 500:
                return f"{status}", True, delay
            return f"{status}", False, None
        if isinstance(exc, (openai.APIResponseValidationError, ValueError, KeyError, TypeError, IndexError)):
            return "malformed reply", True, None
        return type(exc).__name__, False, None

    def chat(self, messages: list[dict[str, Any]]) -> str:
        """The reply text of one chat request; :class:`ChatError` when it fails for good."""
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
                kwargs["temperature"] = self.temperature
                if self.max_tokens:
                    kwargs["max_tokens"] = self.max_tokens
                reply = self._client.chat.completions.create(**kwargs)
                text = reply.choices[0].message.content
                if not isinstance(text, str):
                    raise ValueError("reply has no message content")
                return text
            except Exception as exc:  # classified below; unknown errors are not retried
                cause, retryable, delay = self._classify(exc)
                last = f"{cause}: {str(exc)[:200]}"
                if not retryable or attempt == self.max_retries:
                    self._count(self.failures, cause)
                    raise ChatError(f"{last} (after {attempt + 1} attempt(s))") from None
                self._count(self.retries, cause)
                wait = delay if delay is not None else self.backoff * 2**attempt
                time.sleep(min(self.max_backoff, max(0.0, wait)))
        raise ChatError(last)  # unreachable

    def chat_many(self, conversations: list[list[dict[str, Any]]]) -> list[str | GenFailure]:
        """Many requests, at most ``concurrency`` in flight; results in input order."""

        def one(messages: list[dict[str, Any]]) -> str | GenFailure:
            try:
                return self.chat(messages)
            except ChatError as exc:
                return GenFailure(str(exc))

        if len(conversations) <= 1 or self.concurrency == 1:
            return [one(m) for m in conversations]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(one, conversations))

    def report(self) -> dict[str, Any]:
        return {"retries": dict(self.retries), "failures": dict(self.failures)}


def data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def messages_for(request: GenRequest, *, image: bool = True) -> list[dict[str, Any]]:
    """System message + one user turn with the image (as a data URL) before the question."""
    content: list[dict[str, Any]] = []
    if request.media is not None and image:
        if request.modality != "image":
            raise ValueError("OpenAI chat endpoints take images only; point clouds cannot be sent")
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
                raise ValueError(f"{self.spec}: point clouds cannot be sent to an OpenAI chat endpoint")
        return self.client.chat_many([messages_for(r) for r in requests])

    def render(self, request: GenRequest) -> str:
        image = "<image> " if request.media is not None else ""
        return f"[system] {request.system}\n[user] {image}{request.query}"

    def decoding(self) -> dict[str, Any]:
        c = self.client
        return {
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "timeout_s": c.timeout,
            "max_retries": c.max_retries,
            "concurrency": c.concurrency,
            "retry_report": c.report(),
        }

    @property
    def delta_path(self) -> str:
        return self.client.model


@register_adapter("openai")
def build(arg: str, **options: Any) -> OpenAIAdapter:
    model, url = parse_target(arg)
    options.pop("device", None)
    return OpenAIAdapter(model, url, **options)
