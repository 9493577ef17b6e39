"""Chat completions through the ``openai`` client against any OpenAI-compatible server (vLLM, hosted APIs).

Why each piece: a semaphore bounds concurrent calls; a token-bucket limiter keeps requests/tokens per
minute under the provider's limits; retries with exponential backoff (honouring ``Retry-After``) absorb
429 / 5xx / timeouts / malformed bodies; a content-addressed disk cache keyed by (model, messages, params)
makes reruns and resumed builds free; usage and cost are counted. The API key is read from the
environment (``LAMM_API_KEY`` or ``OPENAI_API_KEY``) and never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openai


class LLMError(RuntimeError):
    """A call that failed for good (retries exhausted or a non-retryable error)."""


@dataclass
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class Usage:
    requests: int = 0  # HTTP calls made (retries included)
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0  # calls given up on
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    errors: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = dict(sorted((self.errors or {}).items()))
        d["cost"] = round(self.cost, 6)
        return d


def cache_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DiskCache:
    """One JSON file per key under ``<dir>/<key[:2]>/<key>.json``, written atomically."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # a torn entry is just a miss

    def put(self, key: str, value: dict[str, Any]) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f"{p.name}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(value, ensure_ascii=False), "utf-8")
        os.replace(tmp, p)


class RateLimiter:
    """Token buckets for requests and tokens per minute (0 = no limit); bursts of about one second."""

    def __init__(self, rpm: float = 0.0, tpm: float = 0.0) -> None:
        self._cond = threading.Condition()
        self._buckets = []  # [rate per s, capacity, level]
        for per_min in (rpm, tpm):
            rate = per_min / 60.0
            self._buckets.append([rate, max(rate, 1.0), max(rate, 1.0)] if per_min > 0 else None)
        self._t = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        dt, self._t = now - self._t, now
        for b in self._buckets:
            if b is not None:
                b[2] = min(b[1], b[2] + dt * b[0])

    def acquire(self, tokens: int = 0) -> None:
        need = (1, tokens)
        with self._cond:
            while True:
                self._refill()
                waits = [
                    (min(n, b[1]) - b[2]) / b[0]
                    for b, n in zip(self._buckets, need)
                    if b is not None and b[2] < min(n, b[1])
                ]
                if not waits:
                    for b, n in zip(self._buckets, need):
                        if b is not None:
                            b[2] -= n  # may go negative for a request larger than the burst
                    return
                self._cond.wait(max(waits))


def _retry_after(exc: Exception) -> float | None:
    resp = getattr(exc, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        concurrency: int = 8,
        requests_per_minute: float = 0.0,
        tokens_per_minute: float = 0.0,
        max_retries: int = 6,
        timeout_s: float = 120.0,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        cache_dir: str | Path | None = None,
        api_key_env: str = "LAMM_API_KEY",
        price_input_per_1m: float = 0.0,
        price_output_per_1m: float = 0.0,
    ) -> None:
        if not model:
            raise ValueError("an LLM generator needs a model name (recipe generator.model or --model)")
        key = os.environ.get(api_key_env) or os.environ.get("OPENAI_API_KEY") or "EMPTY"  # vLLM accepts any
        self.model = model
        self._client = openai.OpenAI(base_url=base_url or None, api_key=key, max_retries=0, timeout=timeout_s)
        self._sem = threading.BoundedSemaphore(concurrency)
        self._limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self._cache = DiskCache(cache_dir) if cache_dir else None
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self._prices = (price_input_per_1m, price_output_per_1m)
        self._lock = threading.Lock()
        self.usage = Usage(errors={})

    def _count(self, **inc: Any) -> None:
        with self._lock:
            for k, v in inc.items():
                if k == "error":
                    self.usage.errors[v] = self.usage.errors.get(v, 0) + 1
                else:
                    setattr(self.usage, k, getattr(self.usage, k) + v)

    def _backoff(self, attempt: int, hinted: float | None) -> float:
        base = self.backoff_s * (2**attempt) * (0.5 + random.random())
        return min(self.max_backoff_s, hinted if hinted is not None else base)

    def chat(self, messages: list[dict[str, str]], **params: Any) -> Reply:
        """One completion, from the cache when this exact request was answered before."""
        key = cache_key(self.model, messages, params)
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            self._count(cache_hits=1)
            return Reply(
                hit["text"], hit.get("prompt_tokens", 0), hit.get("completion_tokens", 0), cached=True
            )
        est = sum(len(m["content"]) for m in messages) // 4 + int(params.get("max_tokens") or 0)
        last, hint = "no attempt", None
        for attempt in range(self.max_retries + 1):
            self._limiter.acquire(est)
            try:
                with self._sem:
                    self._count(requests=1)
                    resp = self._client.chat.completions.create(model=self.model, messages=messages, **params)
                text = resp.choices[0].message.content if resp.choices else None
                if not isinstance(text, str):
                    raise ValueError("reply has no message content")
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code != 429 and code < 500 and code not in (408, 409):
                    self._count(failures=1, error=f"http_{code}")
                    raise LLMError(f"HTTP {code}: {exc.message}") from None
                err, last, hint = f"http_{code}", f"HTTP {code}", _retry_after(exc)
            except openai.APITimeoutError:
                err, last, hint = "timeout", "timeout", None
            except openai.APIConnectionError as exc:
                err, last, hint = "connection", f"connection error: {exc}", None
            except (
                ValueError,
                AttributeError,
                IndexError,
                TypeError,
                openai.APIResponseValidationError,
            ) as exc:
                err, last, hint = "malformed", f"malformed reply: {exc}", None
            else:
                u = getattr(resp, "usage", None)
                pt, ct = (
                    int(getattr(u, "prompt_tokens", 0) or 0),
                    int(getattr(u, "completion_tokens", 0) or 0),
                )
                cost = (pt * self._prices[0] + ct * self._prices[1]) / 1e6
                self._count(prompt_tokens=pt, completion_tokens=ct, cost=cost)
                if self._cache is not None:
                    self._cache.put(
                        key, {"model": self.model, "text": text, "prompt_tokens": pt, "completion_tokens": ct}
                    )
                return Reply(text, pt, ct)
            self._count(error=err)
            if attempt < self.max_retries:
                self._count(retries=1)
                time.sleep(self._backoff(attempt, hint))
        self._count(failures=1)
        raise LLMError(f"gave up after {self.max_retries + 1} attempts; last error: {last}")
