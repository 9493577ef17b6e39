"""The one OpenAI-compatible chat client (vLLM, SGLang, hosted APIs), shared by ``lamm data build``,
the ``openai:`` eval adapter and ``lamm judge``; lives at the top level so ``data`` and ``bench`` may both
import it without importing each other.

Why each piece: a semaphore bounds concurrent calls; a token-bucket limiter keeps requests/tokens per
minute under the provider's limits; retries with exponential backoff (honouring ``Retry-After``) absorb
429 / 408 / 409 / 5xx / timeouts / connection errors / malformed bodies; a content-addressed disk cache
keyed by (model, messages, params) makes reruns and resumed jobs free; usage and cost are counted, and
every retry and failure is counted by cause. The API key is read from the environment (``LAMM_API_KEY``
or ``OPENAI_API_KEY``) and never logged, printed or written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openai

from lamm.formats.jsonio import temp_path
from lamm.redact import KEY_ENV, redact, register_secret


def api_key(first: str | None = None) -> str:
    """The key from ``first`` (if given), then ``LAMM_API_KEY``, ``OPENAI_API_KEY``; local servers
    accept the placeholder ``EMPTY``."""
    for name in (first, *KEY_ENV) if first else KEY_ENV:
        if os.environ.get(name):
            register_secret(os.environ[name])  # so that no error text ever shows it
            return os.environ[name]
    return "EMPTY"


class LLMError(RuntimeError):
    """A call that failed for good (retries exhausted or a non-retryable error).

    ``cause`` is the short failure class ("429", "500", "timeout", "connection", "malformed reply", ...),
    ``attempts`` how many tries were made and ``detail`` the last error's text."""

    def __init__(self, message: str, *, cause: str, attempts: int, detail: str) -> None:
        super().__init__(message)
        self.cause, self.attempts, self.detail = cause, attempts, detail


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
    errors: dict[str, int] | None = None  # every failed attempt, by cause ("http_429", "timeout", ...)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = dict(sorted((self.errors or {}).items()))
        d["cost"] = round(self.cost, 6)
        return d


def cache_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None = None) -> str:
    """sha256 of (model, messages, params); ``params=None`` leaves them out of the key entirely."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if params is not None:
        body["params"] = params
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False)
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
        tmp = temp_path(p)  # unique per process and call: forked or concurrent writers never share it
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


def retry_after(exc: Exception) -> float | None:
    """The server's ``Retry-After`` seconds on an HTTP error, if it sent a number."""
    resp = getattr(exc, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


MALFORMED = (
    ValueError,
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    openai.APIResponseValidationError,
)


def classify(exc: Exception) -> tuple[str, bool, float | None]:
    """(cause, retryable, server-requested delay) of an exception raised by one attempt."""
    if isinstance(exc, openai.APITimeoutError):  # a subclass of APIConnectionError: test it first
        return "timeout", True, None
    if isinstance(exc, openai.APIConnectionError):
        return "connection", True, None
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        retryable = code == 429 or code >= 500 or code in (408, 409)
        return str(code), retryable, retry_after(exc) if retryable else None
    if isinstance(exc, MALFORMED):
        return "malformed reply", True, None
    return type(exc).__name__, False, None


def usage_error_name(cause: str) -> str:
    """The cause as named in :class:`Usage` errors (``http_429``, ``malformed``; others unchanged)."""
    if cause.isdigit():
        return f"http_{cause}"
    return "malformed" if cause == "malformed reply" else cause


def _prompt_chars(messages: list[dict[str, Any]]) -> int:
    n = 0
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            n += len(c)
        elif isinstance(c, list):
            n += sum(len(p.get("text", "")) for p in c if isinstance(p, dict))
    return n


def _last(cause: str, detail: str) -> str:
    if cause.isdigit():
        return f"HTTP {cause}"
    if cause == "timeout":
        return cause
    return f"connection error: {detail}" if cause == "connection" else f"{cause}: {detail}"


class LLMClient:
    """Thread-safe chat completions: cache, rate limits, bounded concurrency, retries, accounting.

    ``params`` are sent with every request (a call's own params override them) and are part of the
    cache key. ``retries`` / ``failures`` count retried and given-up attempts by cause; ``usage``
    holds requests, tokens, cost and every failed attempt by cause."""

    def __init__(
        self,
        *,
        base_url: str | None,
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
        params: dict[str, Any] | None = None,
    ) -> None:
        if not model:
            raise ValueError("an LLM client needs a model name (recipe generator.model or --model)")
        self.model, self.base_url = model, base_url or None
        self.concurrency = max(1, concurrency)
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.params = dict(params or {})
        # The openai client's own retries are off: ours count every retry and its cause.
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key(api_key_env), max_retries=0, timeout=timeout_s
        )
        self._sem = threading.BoundedSemaphore(self.concurrency)
        self._limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self._cache = DiskCache(cache_dir) if cache_dir else None
        self._prices = (price_input_per_1m, price_output_per_1m)
        self._lock = threading.Lock()
        self._flights: dict[str, threading.Lock] = {}  # cache key -> held while its request is in flight
        self.usage = Usage(errors={})
        self.retries: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._said: set[str] = set()  # causes already announced on stderr

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def _count(self, *, cause: str | None = None, table: Counter[str] | None = None, **inc: Any) -> None:
        with self._lock:
            if cause is not None:
                name = usage_error_name(cause)
                self.usage.errors[name] = self.usage.errors.get(name, 0) + 1
                if table is not None:
                    table[cause] += 1
            for k, v in inc.items():
                setattr(self.usage, k, getattr(self.usage, k) + v)

    def _backoff(self, attempt: int, hinted: float | None) -> float:
        base = self.backoff_s * (2**attempt) * (0.5 + random.random())
        return min(self.max_backoff_s, max(0.0, hinted if hinted is not None else base))

    def _once(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Reply:
        with self._sem:
            self._count(requests=1)
            resp = self._client.chat.completions.create(model=self.model, messages=messages, **params)
        text = resp.choices[0].message.content if resp.choices else None
        if not isinstance(text, str):
            raise ValueError("reply has no message content")
        u = getattr(resp, "usage", None)
        pt, ct = int(getattr(u, "prompt_tokens", 0) or 0), int(getattr(u, "completion_tokens", 0) or 0)
        return Reply(text, pt, ct)

    def _announce(self, cause: str, detail: str) -> None:
        """Say once per cause that calls are being retried: a dead server is not minutes of silence."""
        with self._lock:
            if cause in self._said:
                return
            self._said.add(cause)
        where = self.base_url or "the OpenAI API"
        print(
            f"[lamm] {where}: {_last(cause, detail)}; retrying with backoff (up to {self.max_retries} "
            "retries per request)",
            file=sys.stderr,
            flush=True,
        )

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> Reply:
        """One completion, from the cache when this exact request was answered before. Identical
        requests in flight at once make one call (single flight per cache key): the others wait and
        read the cache."""
        params = {**self.params, **params}
        key = cache_key(self.model, messages, params)
        if self._cache is None:
            return self._chat(key, messages, params)
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            return self._chat(key, messages, params)

    def _chat(self, key: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Reply:
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            self._count(cache_hits=1)
            return Reply(
                hit["text"], hit.get("prompt_tokens", 0), hit.get("completion_tokens", 0), cached=True
            )
        est = _prompt_chars(messages) // 4 + int(params.get("max_tokens") or 0)
        for attempt in range(self.max_retries + 1):
            self._limiter.acquire(est)
            try:
                reply = self._once(messages, params)
            except Exception as exc:  # classified; unknown errors are not retried
                cause, retryable, hint = classify(exc)
                detail = redact(exc)[:200]  # servers echo the key in 401 messages
                if not retryable or attempt == self.max_retries:
                    self._count(cause=cause, table=self.failures, failures=1)
                    if not retryable:
                        msg = f"HTTP {cause}: {detail}" if cause.isdigit() else f"{cause}: {detail}"
                    else:
                        msg = f"gave up after {attempt + 1} attempts; last error: {_last(cause, detail)}"
                    raise LLMError(msg, cause=cause, attempts=attempt + 1, detail=detail) from None
                self._count(cause=cause, table=self.retries, retries=1)
                self._announce(cause, detail)
                time.sleep(self._backoff(attempt, hint))
                continue
            cost = (reply.prompt_tokens * self._prices[0] + reply.completion_tokens * self._prices[1]) / 1e6
            self._count(
                prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens, cost=cost
            )
            if self._cache is not None:
                self._cache.put(key, {"model": self.model, "text": reply.text,
                                      "prompt_tokens": reply.prompt_tokens,
                                      "completion_tokens": reply.completion_tokens})  # fmt: skip
            return reply
        raise AssertionError("unreachable")

    def chat_many(self, conversations: list[list[dict[str, Any]]], **params: Any) -> list[Reply | LLMError]:
        """Many requests, at most ``concurrency`` in flight; replies (or the errors) in input order."""

        def one(messages: list[dict[str, Any]]) -> Reply | LLMError:
            try:
                return self.chat(messages, **params)
            except LLMError as exc:
                return exc

        if len(conversations) <= 1 or self.concurrency == 1:
            return [one(m) for m in conversations]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(one, conversations))

    def report(self) -> dict[str, Any]:
        """Retries and failures by cause (what eval results record as ``retry_report``)."""
        with self._lock:
            return {"retries": dict(self.retries), "failures": dict(self.failures)}
